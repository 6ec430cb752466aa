import { setImmediate as turnEnd } from 'node:timers/promises';
import { ancestry, type Payload } from '@rt/protocol';
import type {
  BusMessage,
  Engine,
  EngineHealth,
  Forwarding,
  EngineHost,
  EngineLimits,
  EngineGauges,
  EngineStats,
  PublishOptions,
  QueueDepth,
  PullerHandle,
  Recovery,
  StoredMessage,
} from '../engine.js';
import { DEFAULT_LIMITS, type Logger } from '../../options.js';
import type { PresenceStore } from '../presence.js';
import { decodeMessage, encodeMessage, splitHeader } from './codec.js';
import { Connections, Script, randomId, unavailable } from './connection.js';
import { RedisForwarding } from './forward.js';
import { RedisPresence } from './presence.js';
import { RedisQueues } from './queues.js';
import { GAUGES, POSITION, PUBLISH, RECOVER } from './scripts.js';
import { readRetained, retainKeys, retainMode } from './retain.js';

const publishScript = new Script(PUBLISH);
const recoverScript = new Script(RECOVER);
const positionScript = new Script(POSITION);
const gaugesScript = new Script(GAUGES);
/** Most work queues {@link RedisEngine.gauges} lists (the admin page's table). */
const MAX_LISTED_QUEUES = 100;

/** Options of {@link redis}. */
export interface RedisEngineOptions {
  /** Redis URL, e.g. `redis://127.0.0.1:6379` (`rediss://` for TLS, `redis://:password@host:port/db`). Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** Prefix of every key and channel rt uses, so several rt clusters (or tests) can share one Redis. Default `rt:`. */
  prefix?: string;
  /** How long `start()` waits for Redis before the broker starts degraded (and keeps trying), in ms. Default 5,000. */
  connectTimeoutMs?: number;
  /**
   * How often a node renews its heartbeats and checks for jobs and presence members of dead
   * nodes, in ms. Default 1,000: a dead node's presence members leave within 4 × this (4 s);
   * jobs this node read from Redis but never got (the reply was lost) go back after 5 × this.
   */
  sweepMs?: number;
}

/** How long idempotency keys are remembered when the limits do not say. */
const DEFAULT_DEDUPE_TTL_MS = 5 * 60_000;

const quietLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The distributed engine: any number of broker processes share one Redis.
 *
 * - Pub/sub: a publish runs one Lua script that takes the next offset of the epoch, appends
 *   the message to the history stream of the topic and of each ancestor, and publishes it to
 *   the channel of the topic and of each ancestor. A node subscribes only to the channels of
 *   topics its clients listen to, so it receives only that traffic; a message that reaches it
 *   on several channels (a client on `a`, another on `a/b`) is delivered once, by offset.
 * - Recovery reads the topic's history stream (`XRANGE`), so a client that reconnects to
 *   another node recovers what it missed, or is told of the gap.
 * - Bus: one channel per topic; only nodes with peers on the topic subscribe.
 * - Push/pull: Redis streams with consumer groups (see {@link RedisQueues}).
 * - Redis unreachable: operations that need it fail with `unavailable`, `health()` says so,
 *   both connections reconnect with backoff, and work resumes without a restart. When Redis
 *   comes back empty, the epoch changes and subscribers are told of the gap.
 */
export class RedisEngine implements Engine {
  readonly name = 'redis';
  /** Idempotency keys live in Redis (`SET NX PX` inside the publish and push scripts), so they hold across nodes. */
  readonly dedupes = true;
  /** This process's id among the nodes (its consumer name in work queues). */
  readonly nodeId = randomId();
  private readonly prefix: string;
  private readonly url: string;
  private host!: EngineHost;
  private logger: Logger = quietLogger;
  private conns: Connections | undefined;
  private forwarder: RedisForwarding | undefined;
  private queues: RedisQueues | undefined;
  private presenceStore: RedisPresence | undefined;
  private ep = '';
  /** The epoch this node proposes should Redis have none (it lost its data); replaced once used. */
  private nextEpoch = randomId();
  /**
   * The newest message delivered on this node: the same message on several channels is
   * delivered once, and after the pub/sub connection was down the node catches up from here.
   */
  private lastOff = 0;
  private lastEp = '';
  /**
   * True while the pub/sub connection is up and subscribed to every channel this node
   * listens to. A publish is accepted only then: this node's own subscribers hear it.
   */
  private subscribed = false;
  /**
   * Topic messages held back while {@link holds} > 0 (a channel being subscribed, a catch-up
   * running); delivered in order once the last hold is released.
   */
  private held: [string, Buffer][] | undefined;
  private holds = 0;
  /** {@link caughtUp} calls waiting for the held messages to be delivered. */
  private releaseWaiters: (() => void)[] | undefined;
  /** The resume in progress (resumes run one after the other). */
  private resuming: Promise<void> = Promise.resolve();
  /** Channels this node subscribes to, with the subscription in progress or done. */
  private readonly channels = new Map<string, Promise<void>>();
  private readonly counters: EngineStats = {
    published: 0,
    pushed: 0,
    pushRejected: 0,
    pushExpired: 0,
    redelivered: 0,
    deduplicated: 0,
    historyTopicsEvicted: 0,
    retainedEvicted: 0,
    historyEvicted: 0,
  };

  constructor(private readonly options: RedisEngineOptions = {}) {
    this.url = options.url ?? 'redis://127.0.0.1:6379';
    this.prefix = options.prefix ?? 'rt:';
  }

  async start(host: EngineHost, limits: EngineLimits): Promise<void> {
    this.host = host;
    this.logger = host.logger ?? quietLogger;
    const conns = new Connections(this.url, this.logger, () => void this.resume(), host.commandTime?.bind(host));
    this.conns = conns;
    const p = this.prefix;
    this.queues = new RedisQueues(
      conns,
      {
        queue: (t) => `${p}q:${t}`,
        delayed: (t) => `${p}qd:${t}`,
        notify: (t) => `${p}qn:${t}`,
        node: (id) => `${p}node:${id}`,
        pushKey: (k) => `${p}d:push:${k}`,
        bytes: (t) => `${p}qb:${t}`,
        totals: `${p}qt`,
        topics: `${p}qs`,
      },
      this.nodeId,
      limits,
      this.counters,
      this.logger,
      (topic, on) => {
        const channel = `${p}qn:${topic}`;
        if (on) this.subscribe(channel).catch(() => undefined);
        else void this.unsubscribe(channel);
      },
    );
    this.limits = limits;
    this.forwarder = new RedisForwarding(conns, p, this.nodeId, this.logger);
    this.presenceStore = new RedisPresence(
      conns,
      p,
      this.nodeId,
      this.options.sweepMs ?? 1000,
      this.logger,
      (channel, on) => (on ? this.subscribe(channel) : this.unsubscribe(channel)),
      (event) => host.deliverPresence?.(event),
    );
    conns.sub.on('messageBuffer', (channel: Buffer, message: Buffer) =>
      this.onChannel(channel.toString('utf8'), message),
    );
    conns.sub.on('close', () => {
      this.subscribed = false;
    });
    await conns.connect(this.options.connectTimeoutMs ?? 5000);
    await this.resuming;
    this.queues.start(this.options.sweepMs ?? 1000);
    this.presenceStore.start();
  }

  private limits!: EngineLimits;

  async close(): Promise<void> {
    await this.presenceStore?.close();
    await this.queues?.close();
    this.forwarder?.close();
    await this.conns?.close();
  }

  /** Presence shared by every node (see {@link RedisPresence}: a dead node's members leave within 4 × `sweepMs`). */
  get presence(): PresenceStore | undefined {
    return this.presenceStore;
  }

  /** Forwarding of requests for connections owned by other nodes (sticky-free polling). */
  get forwarding(): Forwarding | undefined {
    return this.forwarder;
  }

  epoch(): string {
    return this.ep;
  }

  health(): EngineHealth {
    const down = this.conns?.down;
    return down === undefined
      ? { ok: true, detail: 'connected' }
      : { ok: false, detail: `Redis is unreachable: ${down}` };
  }

  /**
   * Ready when both connections are up, the pub/sub connection is subscribed again to every
   * channel this node listens to (a publish is accepted only then), and Redis answers a
   * `PING` on each connection within 2 s.
   */
  async ready(): Promise<EngineHealth> {
    const health = this.health();
    if (!health.ok || !this.conns) return health;
    if (!this.subscribed) return { ok: false, detail: 'Redis is back; subscribing again' };
    const conns = this.conns;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        Promise.all([conns.cmd.ping(), conns.sub.ping()]),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('no answer to PING within 2 s')), 2000);
        }),
      ]);
    } catch (error) {
      return { ok: false, detail: `Redis is unreachable: ${error instanceof Error ? error.message : String(error)}` };
    } finally {
      clearTimeout(timer);
    }
    return this.subscribed ? this.health() : { ok: false, detail: 'Redis is back; subscribing again' };
  }

  stats(): EngineStats {
    return { ...this.counters };
  }

  /**
   * Queue depths and history sizes as Redis holds them, for every node (one script, run when
   * metrics are scraped or the admin page polls). History figures are the byte log's (`hl`,
   * `hb`): messages leave it as they age out (at the next publish) or for `maxHistoryBytes`;
   * `queuedBytes` counts the jobs Redis holds, waiting or handed out (what the push budgets count).
   */
  async gauges(): Promise<EngineGauges> {
    const conns = this.conns;
    if (!conns) throw unavailable(new Error('the engine has not started'));
    const reply = (await conns.run(
      gaugesScript,
      [this.key('ht'), this.key('hl'), this.key('hb'), this.key('qs'), this.key('qt')],
      [this.prefix, MAX_LISTED_QUEUES],
    )) as [number, number, number, number, number, (string | number)[]];
    const local = this.queues?.local() ?? new Map<string, Pick<QueueDepth, 'pullers' | 'inflight'>>();
    const queues = new Map<string, QueueDepth>();
    const list = reply[5];
    for (let i = 0; i + 1 < list.length; i += 2) {
      const topic = String(list[i]);
      queues.set(topic, { topic, waiting: Number(list[i + 1]), pullers: 0, inflight: 0, ...local.get(topic) });
    }
    for (const [topic, here] of local) if (!queues.has(topic)) queues.set(topic, { topic, waiting: 0, ...here });
    return {
      historyTopics: reply[0],
      historyMessages: reply[1],
      historyBytes: reply[2],
      queued: reply[3],
      queuedBytes: reply[4],
      queues: [...queues.values()],
    };
  }

  async publish(topic: string, data: Payload, options: PublishOptions = {}): Promise<StoredMessage> {
    const { dataText, key, meta } = options;
    if (!this.subscribed) throw unavailable(new Error('the pub/sub connection is not subscribed (yet)'));
    // '' is the root: its history holds every topic's messages and its channel carries them all
    // (for listen('') and recover(''), used by the Mercure hub).
    const topics = ['', ...ancestry(topic)];
    const window = key === undefined ? 0 : (this.limits.dedupeTtlMs ?? DEFAULT_DEDUPE_TTL_MS);
    const retain = retainMode(options.retain, data);
    const reply = (await this.conns!.run(
      publishScript,
      [
        this.key('epoch'),
        this.key('off'),
        this.key(`d:pub:${key ?? ''}`),
        this.key('ht'),
        this.key('hf'),
        this.key('hr'),
        ...topics.map((t) => this.key(`h:${t}`)),
        ...retainKeys(this.keyOf, topic, retain),
      ],
      [
        this.nextEpoch,
        encodeMessage(topic, data, dataText, meta),
        this.limits.historySize,
        this.limits.historyTtlMs,
        window,
        this.limits.maxHistoryTopics ?? DEFAULT_LIMITS.maxHistoryTopics,
        retain,
        topic,
        this.limits.maxHistoryBytes ?? DEFAULT_LIMITS.maxHistoryBytes,
        this.prefix,
        this.limits.maxRetainedTopics ?? DEFAULT_LIMITS.maxRetainedTopics,
        ...topics.map((t) => this.key(`c:${t}`)),
      ],
    )) as [string, number, number, number, number, number?, number?];
    if (reply[2] === 1) this.counters.deduplicated!++;
    else this.counters.published++;
    this.counters.historyTopicsEvicted! += reply[3];
    this.counters.historyEvicted! += reply[4];
    this.counters.retainedEvicted! += reply[6] ?? 0;
    // The whole cluster's history bytes, as of this node's last publish.
    if (reply[5] !== undefined) this.counters.historyBytes = reply[5];
    this.learnEpoch(reply[0]);
    const message: StoredMessage = { topic, data, off: reply[1] };
    if (dataText !== undefined) message.dataText = dataText;
    if (meta !== undefined) message.meta = meta;
    // This node's own subscribers hear it before the publisher hears it was accepted.
    if (reply[2] !== 1 && topics.some((t) => this.channels.has(this.key(`c:${t}`)))) {
      if (this.subscribed && !this.held && reply[0] === this.lastEp && reply[1] === this.lastOff + 1) {
        // It follows the last message this node delivered: nothing was published in between, on
        // any topic, so nothing can be on its way ahead of it. Delivered now, without waiting
        // for Redis to send it back (that copy is then skipped as already delivered).
        this.lastOff = reply[1];
        this.host.deliverMessage(message);
      } else {
        // Redis sends the channel message with the reply, and it is most often read in the same
        // turn: waiting for the turn's end delivers it first (the answer's write is then not on
        // the message's path).
        await turnEnd();
      }
    }
    return message;
  }

  listen(topic: string): Promise<void> {
    return this.subscribe(this.key(`c:${topic}`));
  }

  unlisten(topic: string): Promise<void> {
    return this.unsubscribe(this.key(`c:${topic}`));
  }

  listenBus(topic: string): Promise<void> {
    return this.subscribe(this.key(`b:${topic}`));
  }

  unlistenBus(topic: string): Promise<void> {
    return this.unsubscribe(this.key(`b:${topic}`));
  }

  async position(): Promise<{ ep: string; off: number }> {
    const [ep, off] = (await this.conns!.run(
      positionScript,
      [this.key('epoch'), this.key('off')],
      [this.nextEpoch],
    )) as [string, number];
    this.learnEpoch(ep);
    return { ep, off };
  }

  /**
   * Channel messages come on the pub/sub connection, other replies on the command connection:
   * a message published just before a command ran may be read after its reply. A PING on the
   * pub/sub connection is answered after every message Redis sent there before it; what is
   * held meanwhile (a channel being subscribed) is delivered when the hold ends.
   */
  async caughtUp(): Promise<void> {
    try {
      await this.conns!.sub.ping();
    } catch (error) {
      throw unavailable(error);
    }
    if (this.held !== undefined) await new Promise<void>((resolve) => (this.releaseWaiters ??= []).push(resolve));
  }

  retained(topic: string): Promise<StoredMessage[]> {
    return readRetained(this.conns!, this.keyOf, topic);
  }

  async recover(topic: string, ep: string, off: number): Promise<Recovery> {
    const reply = (await this.conns!.run(
      recoverScript,
      [this.key('epoch'), this.key('off'), this.key(`h:${topic}`), this.key('ht'), this.key('hf'), this.key('hr')],
      [this.nextEpoch, ep, off, this.limits.historyTtlMs, Math.max(1, this.limits.historySize)],
      true,
    )) as (Buffer | number)[];
    const now = { ep: reply[0]!.toString(), off: Number(reply[1]) };
    this.learnEpoch(now.ep);
    const gap = reply[2]!.toString();
    const messages: StoredMessage[] = [];
    for (let i = 3; i + 1 < reply.length; i += 2) {
      const decoded = decodeMessage(reply[i + 1] as Buffer);
      const message: StoredMessage = { topic: decoded.topic, data: decoded.data, off: Number(reply[i]) };
      if (decoded.dataText !== undefined) message.dataText = decoded.dataText;
      if (decoded.meta !== undefined) message.meta = decoded.meta;
      messages.push(message);
    }
    if (messages.length > 0) now.off = Math.max(now.off, messages[messages.length - 1]!.off);
    return gap === 'epoch' || gap === 'history' ? { messages, gap, ...now } : { messages, ...now };
  }

  async sendBus(message: BusMessage): Promise<void> {
    const body = Buffer.concat([
      Buffer.from(`${this.nodeId} ${message.from} `, 'utf8'),
      encodeMessage(message.topic, message.data, message.dataText),
    ]);
    try {
      await this.conns!.cmd.publish(this.key(`b:${message.topic}`), body);
    } catch (error) {
      throw unavailable(error);
    }
  }

  async push(topic: string, data: Payload, dataText?: string, key?: string): Promise<void> {
    if (await this.queues!.push(topic, data, dataText, key)) this.counters.deduplicated!++;
  }

  addPuller(puller: PullerHandle): void {
    this.queues!.add(puller);
  }

  removePuller(puller: PullerHandle): void {
    this.queues!.remove(puller);
  }

  ack(puller: PullerHandle, id: string): Promise<boolean> {
    return this.queues!.ack(puller, id);
  }

  nack(puller: PullerHandle, id: string): Promise<boolean> {
    return this.queues!.nack(puller, id);
  }

  private key(name: string): string {
    return this.prefix + name;
  }

  private readonly keyOf = (name: string): string => this.key(name);

  /**
   * Subscribes to a channel once. Topic messages are held back from before the SUBSCRIBE until
   * the turn after it is answered: messages that arrive with its answer would otherwise reach
   * the broker before the code awaiting {@link listen} ran (e.g. a subscription about to hold
   * its session for a replay would get them first, and the client would then drop the replay).
   */
  private subscribe(channel: string): Promise<void> {
    let done = this.channels.get(channel);
    if (!done) {
      this.hold();
      done = this.conns!.sub.subscribe(channel).then(
        () => undefined,
        (error: unknown) => {
          if (this.channels.get(channel) === done) this.channels.delete(channel);
          throw unavailable(error);
        },
      );
      void done.catch(() => undefined).finally(() => setImmediate(() => this.release()));
      this.channels.set(channel, done);
    }
    return done;
  }

  /** Holds topic messages back (see {@link held}). */
  private hold(): void {
    this.holds++;
    this.held ??= [];
  }

  /** Releases a hold; the last one delivers what was held, in order. */
  private release(): void {
    if (--this.holds > 0) return;
    const held = this.held ?? [];
    this.held = undefined;
    for (const [channel, message] of held) this.onChannel(channel, message);
    const waiters = this.releaseWaiters;
    this.releaseWaiters = undefined;
    for (const resolve of waiters ?? []) resolve();
  }

  private async unsubscribe(channel: string): Promise<void> {
    if (!this.channels.delete(channel)) return;
    // While Redis is down this fails; on reconnect the channel is subscribed again and its messages find no listener.
    await this.conns!.sub.unsubscribe(channel).catch(() => undefined);
  }

  private onChannel(channel: string, message: Buffer): void {
    try {
      const rest = channel.slice(this.prefix.length);
      if (rest.startsWith('c:') && this.held) this.held.push([channel, message]);
      else if (rest.startsWith('c:')) {
        const [offText, ep, start] = splitHeader(message);
        const off = Number(offText);
        if (ep === this.lastEp && off <= this.lastOff) return; // already delivered through another ancestor's channel
        this.lastEp = ep;
        this.lastOff = off;
        this.learnEpoch(ep);
        const decoded = decodeMessage(message, start);
        const stored: StoredMessage = { topic: decoded.topic, data: decoded.data, off };
        if (decoded.dataText !== undefined) stored.dataText = decoded.dataText;
        if (decoded.meta !== undefined) stored.meta = decoded.meta;
        this.host.deliverMessage(stored);
      } else if (rest.startsWith('b:')) {
        const [node, from, start] = splitHeader(message);
        const decoded = decodeMessage(message, start);
        // Session ids are unique per process: the sender is skipped on its own node only.
        const bus: BusMessage = { topic: decoded.topic, data: decoded.data, from: node === this.nodeId ? from : '' };
        if (decoded.dataText !== undefined) bus.dataText = decoded.dataText;
        this.host.deliverBus(bus);
      } else if (rest.startsWith('node:')) {
        this.forwarder?.onMessage(message.toString('utf8'));
      } else if (rest.startsWith('qn:')) {
        this.queues!.notified(rest.slice(3));
      } else if (rest.startsWith('pc:')) {
        this.presenceStore?.onMessage(rest.slice(3), message);
      }
    } catch (error) {
      this.logger.error({ err: error, channel }, 'malformed message from Redis');
    }
  }

  /** Notes the epoch Redis reports; a change means Redis lost its data, and subscribers must hear of it. */
  private learnEpoch(ep: string): void {
    if (ep === this.ep) return;
    if (ep === this.nextEpoch) this.nextEpoch = randomId();
    const had = this.ep;
    this.ep = ep;
    if (had !== '') this.host.epochChanged?.(ep);
  }

  /** Redis is reachable (again): resumes once the resumes before are done. */
  private resume(): void {
    this.resuming = this.resuming.then(() => this.resumeNow());
  }

  /**
   * Learns the epoch, subscribes again to every channel this node listens to and catches up on
   * what was published meanwhile, renews the heartbeat and reads waiting jobs.
   */
  private async resumeNow(): Promise<void> {
    if (!this.conns!.up) return;
    try {
      const now = await this.position();
      if (this.lastEp === '') {
        this.lastEp = now.ep;
        this.lastOff = now.off;
      }
      if (!this.subscribed) {
        await this.resubscribe();
        // Presence events of the time pub/sub was down are lost: watchers get the difference.
        await this.presenceStore?.resync();
      }
      if (this.forwarder) await this.subscribe(this.forwarder.channel);
      await this.queues!.beat();
      this.queues!.resume();
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'resuming after Redis reconnected failed');
    }
  }

  /**
   * After the pub/sub connection was down: subscribes to every channel again, then delivers
   * from history what the listened topics published since the last message this node
   * delivered (in offset order, each once), then what arrived live meanwhile. A topic whose
   * history does not reach back gets a `history` gap; an epoch change the `epoch` gap (and the
   * new epoch's messages). Should the catch-up fail, every listened topic gets a gap.
   */
  private async resubscribe(): Promise<void> {
    const channels = [...this.channels.keys()];
    const topicPrefix = this.key('c:');
    const topics = channels.filter((c) => c.startsWith(topicPrefix)).map((c) => c.slice(topicPrefix.length));
    this.hold();
    try {
      if (channels.length > 0) await this.conns!.sub.subscribe(...channels);
      this.subscribed = true;
      const from = { ep: this.lastEp, off: this.lastOff };
      try {
        const missed = new Map<number, StoredMessage>();
        let ep = from.ep;
        for (const topic of topics) {
          const recovery = await this.recover(topic, from.ep, from.off);
          ep = recovery.ep;
          if (recovery.gap === 'history') this.host.missed?.(topic, 'history', recovery.ep, recovery.off);
          for (const m of recovery.messages) missed.set(m.off, m);
        }
        if (ep !== this.lastEp) {
          this.lastEp = ep;
          this.lastOff = 0;
        }
        for (const m of [...missed.values()].sort((a, b) => a.off - b.off)) {
          if (m.off <= this.lastOff) continue;
          this.lastOff = m.off;
          this.host.deliverMessage(m);
        }
        if (missed.size > 0)
          this.logger.info({ messages: missed.size }, 'caught up on messages published while pub/sub was down');
      } catch (error) {
        this.logger.warn(
          { err: (error as Error).message },
          'could not catch up after pub/sub reconnected: subscribers are told of the gap',
        );
        for (const topic of topics) this.host.missed?.(topic, 'history', this.ep, 0);
      }
    } finally {
      this.release();
    }
  }
}

/** The Redis engine: `createBroker({ engine: redis({ url: 'redis://127.0.0.1:6379' }) })`. */
export function redis(options: RedisEngineOptions = {}): Engine {
  return new RedisEngine(options);
}
