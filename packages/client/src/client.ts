import {
  type ClientFrame,
  type ErrorCode,
  type GapFrame,
  type JobFrame,
  type MsgFrame,
  type Pace,
  type Payload,
  type ServerFrame,
  type SubFrame,
  RtError,
  ancestry,
  topicProblem,
} from '@rt/protocol';
import { type BackoffOptions, backoffDelay } from './backoff.js';
import { Emitter } from './emitter.js';
import {
  Bus,
  type JobHandler,
  type MessageHandler,
  type MessageMeta,
  Puller,
  type PullOptions,
  Subscription,
  Topic,
  type TopicHost,
} from './topic.js';
import type { ClientTransport, TransportContext, TransportFactory, TransportName } from './transports/transport.js';

/** The state of a client's connection. */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Events of a {@link Client}. */
export interface ClientEvents {
  /** The connection state changed. */
  state: { from: ConnectionState; to: ConnectionState; reason?: string };
  /** A transport opened (also after a reconnect or a fallback). */
  transport: { name: TransportName };
  /** Something failed that no promise reports: a transport that would not open, a resubscribe the broker refused. */
  error: { error: Error };
  /**
   * After each open (the first and every reconnect), once the broker has confirmed every
   * subscription, bus join and puller the client re-established: from here on, nothing the app
   * wanted is missing on the broker. `refused` counts those the broker refused (each also
   * reported on `error` and on its own handle).
   */
  restored: { subscriptions: number; buses: number; pullers: number; refused: number };
}

/** A token, or a function that returns one (called on every connect, so tokens can refresh). */
export type AuthOption = string | (() => string | undefined | Promise<string | undefined>);

/** Options of {@link connect}. */
export interface ConnectOptions {
  /**
   * Transports to try, in order. Default `['websocket', 'sse', 'polling']`, minus what the
   * runtime lacks. The first that opens is used, and tried first on later reconnects.
   */
  transports?: readonly (TransportName | TransportFactory)[];
  /** Reconnect settings, or `false` to stay closed after the first disconnect. */
  reconnect?: BackoffOptions | false;
  /** How long a transport may take to open before the next one is tried, in ms. Default 5,000. */
  openTimeoutMs?: number;
  /** How long a request may wait for its answer once sent, in ms. Default 10,000. */
  requestTimeoutMs?: number;
  /** Calls that may wait while disconnected; past it they reject with `queue_overflow`. Default 1,000. */
  queueLimit?: number;
  /** Credentials presented on every (re)connect. */
  auth?: AuthOption;
  /** Path prefix of the broker's endpoints. Default `/rt`. */
  prefix?: string;
  /** `WebSocket` constructor to use instead of the global one. */
  WebSocket?: unknown;
  /** `EventSource` constructor to use instead of the global one (React Native has none). */
  EventSource?: unknown;
  /** `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
}

interface Pending {
  frame: ClientFrame;
  resolve: (frame: ServerFrame) => void;
  reject: (error: RtError) => void;
  timer?: ReturnType<typeof setTimeout>;
  /** Internal requests (resubscribes) are not queued while offline: they are replayed on open. */
  internal: boolean;
}

/** The client's record of one subscribed topic: its local subscriptions and its position. */
interface Wanted {
  topic: string;
  subs: Set<Subscription<never>>;
  ep?: string;
  off?: number;
  /** Confirmed by the broker on the current connection. */
  confirmed: boolean;
  /** The pace asked for (see `Topic.subscribe`). */
  pace?: Pace;
}

const DEFAULT_ORDER: readonly TransportName[] = ['websocket', 'sse', 'polling'];

/**
 * An rt client: one connection (over the best transport available), typed topic handles,
 * and everything needed to survive the network: reconnect with backoff and jitter,
 * resubscribe, recovery of missed messages, and a bounded queue of calls made while
 * disconnected.
 */
export class Client extends Emitter<ClientEvents> implements TopicHost {
  private stateValue: ConnectionState = 'connecting';
  private transportValue: ClientTransport | undefined;
  private readonly factories: TransportFactory[];
  private preferred = 0;
  private nextRef = 1;
  private readonly pending = new Map<number, Pending>();
  private queue: Pending[] = [];
  private readonly wanted = new Map<string, Wanted>();
  private readonly buses = new Map<string, Set<Bus<never>>>();
  private readonly pullers = new Map<string, Puller<never>>();
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private generation = 0;
  /** Why the broker said it would close the connection (`bye` with `reconnect`), until it does. */
  private farewell: string | undefined;
  /** This client's random id: with a counter, the idempotency key of each publish and push. */
  private readonly keyPrefix = randomId();
  private keys = 0;
  private readonly options: Required<
    Pick<ConnectOptions, 'openTimeoutMs' | 'requestTimeoutMs' | 'queueLimit' | 'prefix'>
  > &
    ConnectOptions;

  /** @internal Use {@link connect}. */
  constructor(
    /** The broker's URL. */
    readonly url: string,
    options: ConnectOptions,
    available: Record<TransportName, TransportFactory | undefined>,
  ) {
    super();
    this.options = { openTimeoutMs: 5000, requestTimeoutMs: 10_000, queueLimit: 1000, prefix: '/rt', ...options };
    const wanted = options.transports ?? DEFAULT_ORDER;
    const context = this.context(undefined);
    this.factories = wanted
      .map((t) => (typeof t === 'string' ? available[t] : t))
      .filter((f): f is TransportFactory => f?.available(context) === true);
    if (this.factories.length === 0) {
      throw new RtError(
        'unavailable',
        `none of the transports ${wanted.map((t) => (typeof t === 'string' ? t : t.name)).join(', ')} can run here`,
      );
    }
    void this.open();
  }

  /** The connection state. */
  get state(): ConnectionState {
    return this.stateValue;
  }

  /** The transport in use, or `undefined` while not connected. */
  get transport(): TransportName | undefined {
    return this.stateValue === 'open' ? this.transportValue?.name : undefined;
  }

  /** A typed handle on `name`. Throws `invalid_topic` for a topic that breaks the topic rules. */
  topic<T = unknown>(name: string): Topic<T> {
    const problem = topicProblem(name);
    if (problem !== null) throw new RtError('invalid_topic', problem);
    return new Topic<T>(name, this);
  }

  /** Calls an action on the broker and resolves with its result. */
  async call<R = unknown>(name: string, payload: Payload = null): Promise<R> {
    const answer = await this.request({ t: 'call', ref: 0, name, data: payload });
    return (answer.t === 'ok' ? answer.data : undefined) as R;
  }

  /** Resolves when the client is open (at once if it is). Rejects if it closes first. */
  ready(): Promise<void> {
    if (this.stateValue === 'open') return Promise.resolve();
    if (this.stateValue === 'closed') return Promise.reject(new RtError('closed', 'the client is closed'));
    return new Promise((resolve, reject) => {
      const off = this.on('state', ({ to }) => {
        if (to === 'open') resolve();
        else if (to === 'closed') reject(new RtError('closed', 'the client closed before it connected'));
        else return;
        off();
      });
    });
  }

  /** Closes the connection for good. Calls still waiting reject with `closed`. */
  close(): void {
    if (this.stateValue === 'closed') return;
    this.shutdown('closed', 'the client was closed');
  }

  // ---- connection lifecycle -------------------------------------------------------------

  private setState(to: ConnectionState, reason?: string): void {
    const from = this.stateValue;
    if (from === to) return;
    this.stateValue = to;
    this.emit('state', reason === undefined ? { from, to } : { from, to, reason });
  }

  private context(token: string | undefined): TransportContext {
    const g = globalThis as Record<string, unknown>;
    return {
      url: this.url.replace(/^ws(s?):/, 'http$1:').replace(/\/+$/, ''),
      prefix: this.options.prefix,
      token,
      openTimeoutMs: this.options.openTimeoutMs,
      WebSocket: this.options.WebSocket ?? g.WebSocket,
      EventSource: this.options.EventSource ?? g.EventSource,
      fetch:
        this.options.fetch ?? (typeof g.fetch === 'function' ? (g.fetch as typeof fetch).bind(globalThis) : undefined),
    };
  }

  private async token(): Promise<string | undefined> {
    const auth = this.options.auth;
    return typeof auth === 'function' ? await auth() : auth;
  }

  /** One connection attempt: each transport in turn, the last one that worked first. */
  private async open(): Promise<void> {
    const generation = ++this.generation;
    let token: string | undefined;
    try {
      token = await this.token();
    } catch (error) {
      this.emit('error', { error: new RtError('unauthorized', 'the auth function failed', { cause: error }) });
      return this.retry(generation);
    }
    const n = this.factories.length;
    for (let i = 0; i < n; i++) {
      if (generation !== this.generation) return;
      const index = (this.preferred + i) % n;
      const factory = this.factories[index]!;
      const transport = factory.create(this.context(token), {
        frame: (frame) => {
          if (this.transportValue === transport) this.onFrame(frame);
        },
        close: (reason) => {
          if (this.transportValue === transport) this.onDisconnect(reason);
        },
      });
      try {
        // A backstop a little past the transport's own timeout (which says more), so that no
        // transport can leave a connection attempt hanging.
        await withDeadline(
          transport.open(),
          this.options.openTimeoutMs + OPEN_GRACE_MS,
          `${factory.name} did not open within ${this.options.openTimeoutMs} ms`,
        );
      } catch (error) {
        transport.close();
        // A refusal (origin, credentials) keeps its code, so the app can tell it from a network failure.
        const code =
          error instanceof RtError && (error.code === 'unauthorized' || error.code === 'forbidden')
            ? error.code
            : 'unavailable';
        this.emit('error', {
          error: new RtError(code, `${factory.name} did not open: ${describe(error)}`, { cause: error }),
        });
        continue;
      }
      if (generation !== this.generation) {
        transport.close();
        return;
      }
      this.preferred = index;
      this.transportValue = transport;
      this.farewell = undefined;
      this.attempt = 0;
      this.setState('open');
      this.emit('transport', { name: factory.name });
      this.replay();
      return;
    }
    this.retry(generation);
  }

  private retry(generation: number): void {
    if (generation !== this.generation || this.stateValue === 'closed') return;
    const reconnect = this.options.reconnect;
    if (reconnect === false || this.attempt >= (reconnect?.maxAttempts ?? Infinity)) {
      this.shutdown('closed', 'could not connect');
      return;
    }
    const delay = backoffDelay(this.attempt++, reconnect?.initialDelayMs ?? 250, reconnect?.maxDelayMs ?? 10_000);
    this.timer = setTimeout(() => void this.open(), delay);
  }

  private onDisconnect(transportReason: string): void {
    const reason = this.farewell ?? transportReason;
    this.farewell = undefined;
    this.transportValue = undefined;
    for (const w of this.wanted.values()) w.confirmed = false;
    // Publishes and pushes carry an idempotency key: they are sent again, first and in their
    // order, once reconnected, and the broker carries out each only once. Any other request
    // sent and unanswered has an unknown outcome, so say so rather than guess.
    const resend: Pending[] = [];
    for (const [ref, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      this.pending.delete(ref);
      if ((p.frame.t === 'pub' || p.frame.t === 'push') && p.frame.key !== undefined) resend.push(p);
      else p.reject(new RtError('connection_lost', `the connection dropped before "${p.frame.t}" was answered`));
    }
    this.queue = [...resend, ...this.queue];
    if (this.options.reconnect === false) {
      this.shutdown('closed', reason);
      return;
    }
    this.setState('reconnecting', reason);
    this.retry(this.generation);
  }

  private shutdown(to: 'closed', reason: string): void {
    this.generation++;
    if (this.timer) clearTimeout(this.timer);
    const transport = this.transportValue;
    this.transportValue = undefined;
    transport?.close();
    const error = new RtError('closed', `the client is closed: ${reason}`);
    for (const p of [...this.pending.values(), ...this.queue]) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(error);
    }
    this.pending.clear();
    this.queue = [];
    this.setState(to, reason);
  }

  /** After every (re)connect: re-establish what the app wants, then send what waited. */
  private replay(): void {
    const transport = this.transportValue;
    const subs = [...this.wanted.values()].map((w) => this.sendSub(w));
    const buses = [...this.buses].map(([topic, set]) => this.sendJoin(topic, set));
    const pullers = [...this.pullers.values()].map((puller) => this.sendPull(puller));
    const queued = this.queue;
    this.queue = [];
    for (const p of queued) this.transmit(p);
    void Promise.all([...subs, ...buses, ...pullers]).then((outcomes) => {
      // Only when this connection is still the one that is open: a drop midway replays again.
      if (this.transportValue !== transport || this.stateValue !== 'open' || outcomes.includes('lost')) return;
      const refused = outcomes.filter((o) => o === 'refused').length;
      this.emit('restored', { subscriptions: subs.length, buses: buses.length, pullers: pullers.length, refused });
    });
  }

  // ---- requests -------------------------------------------------------------------------

  private request(frame: ClientFrame, internal = false): Promise<ServerFrame> {
    return new Promise((resolve, reject) => {
      const p: Pending = { frame, resolve, reject, internal };
      if (this.stateValue === 'closed') reject(new RtError('closed', 'the client is closed'));
      else if (this.transportValue && this.stateValue === 'open') this.transmit(p);
      else if (internal) {
        // Replayed on open from the wanted state; nothing to queue.
        reject(new RtError('connection_lost', 'not connected'));
      } else if (this.queue.length >= this.options.queueLimit) {
        reject(
          new RtError('queue_overflow', `${this.options.queueLimit} calls are already waiting for the connection`),
        );
      } else this.queue.push(p);
    });
  }

  private transmit(p: Pending): void {
    const ref = this.nextRef++;
    p.frame = { ...p.frame, ref };
    this.pending.set(ref, p);
    p.timer = setTimeout(() => {
      if (this.pending.delete(ref))
        p.reject(new RtError('timeout', `no answer to "${p.frame.t}" within ${this.options.requestTimeoutMs} ms`));
    }, this.options.requestTimeoutMs);
    this.transportValue!.send(p.frame);
  }

  private onFrame(frame: ServerFrame): void {
    switch (frame.t) {
      case 'ok':
      case 'err': {
        if (frame.ref === undefined) {
          this.emit('error', {
            error: new RtError(
              frame.t === 'err' ? frame.code : 'internal',
              frame.t === 'err' ? frame.message : 'unexpected answer',
            ),
          });
          return;
        }
        const p = this.pending.get(frame.ref);
        if (!p) return;
        this.pending.delete(frame.ref);
        if (p.timer) clearTimeout(p.timer);
        if (frame.t === 'ok') p.resolve(frame);
        else p.reject(new RtError(frame.code, frame.message));
        return;
      }
      case 'msg':
        this.onMessage(frame);
        return;
      case 'bus':
        for (const bus of this.buses.get(frame.topic) ?? []) bus.deliver(frame.data);
        return;
      case 'job':
        this.onJob(frame);
        return;
      case 'gap':
        this.onGap(frame);
        return;
      case 'bye':
        // With `reconnect`, the broker closes the connection next; the reconnect that follows
        // asks `auth` again, so an expired token (`token_expired`) is replaced by a fresh one.
        if (!frame.reconnect) this.shutdown('closed', frame.message);
        else this.farewell = `${frame.code}: ${frame.message}`;
        return;
    }
  }

  private onMessage(frame: MsgFrame): void {
    for (const topic of ancestry(frame.topic)) {
      const w = this.wanted.get(topic);
      if (!w) continue;
      if (frame.off !== undefined) {
        // Already seen (a recovery replay that overlaps live delivery): drop the duplicate.
        if (w.off !== undefined && frame.off <= w.off) continue;
        w.off = frame.off;
      }
      const meta: MessageMeta =
        frame.off === undefined ? { topic: frame.topic } : { topic: frame.topic, off: frame.off };
      if (frame.skipped !== undefined) meta.skipped = frame.skipped;
      for (const sub of w.subs) sub.deliver(frame.data, meta);
    }
  }

  private onGap(frame: GapFrame): void {
    if (frame.bus) {
      for (const bus of this.buses.get(frame.topic) ?? []) bus.gap({ topic: frame.topic, reason: frame.reason });
      return;
    }
    const w = this.wanted.get(frame.topic);
    if (!w) return;
    if (frame.ep !== undefined && frame.ep !== w.ep) {
      w.ep = frame.ep;
      delete w.off;
    }
    // An overflow gap's `off` is the last message dropped: continue after it, so that a later
    // recovery does not bring back what the app was told is gone.
    if (frame.reason === 'overflow' && frame.off !== undefined && frame.ep === w.ep)
      w.off = Math.max(w.off ?? 0, frame.off);
    for (const sub of w.subs) sub.gap({ topic: frame.topic, reason: frame.reason });
  }

  private onJob(frame: JobFrame): void {
    const puller = this.pullers.get(frame.topic);
    const answer = (t: 'ack' | 'nack'): void => {
      // The job may have been requeued meanwhile (the connection dropped): nothing to do then.
      this.request({ t, ref: 0, id: frame.id }, true).catch(() => undefined);
    };
    if (!puller?.isActive) {
      answer('nack');
      return;
    }
    let result: unknown;
    try {
      result = puller.handler(
        frame.data as never,
        frame.attempt === undefined
          ? { id: frame.id, topic: frame.topic }
          : { id: frame.id, topic: frame.topic, attempt: frame.attempt },
      );
    } catch {
      answer('nack');
      return;
    }
    Promise.resolve(result).then(
      () => answer('ack'),
      () => answer('nack'),
    );
  }

  // ---- TopicHost: what topic handles call -------------------------------------------------

  /** @internal */
  subscribe<T>(topic: string, handler: MessageHandler<T> | undefined, pace?: Pace): Subscription<T> {
    const sub = new Subscription<T>(topic, handler, this);
    let w = this.wanted.get(topic);
    if (w) {
      w.subs.add(sub as unknown as Subscription<never>);
      if (w.confirmed) sub.settle();
      return sub;
    }
    w = { topic, subs: new Set([sub as unknown as Subscription<never>]), confirmed: false };
    if (pace !== undefined) w.pace = pace;
    this.wanted.set(topic, w);
    if (this.stateValue === 'open') void this.sendSub(w);
    return sub;
  }

  private sendSub(w: Wanted): Promise<Outcome> {
    const frame: SubFrame =
      w.ep !== undefined && w.off !== undefined
        ? { t: 'sub', ref: 0, topic: w.topic, ep: w.ep, off: w.off }
        : { t: 'sub', ref: 0, topic: w.topic };
    if (w.pace !== undefined) frame.pace = w.pace;
    return this.request(frame, true).then(
      (answer) => {
        if (this.wanted.get(w.topic) !== w || answer.t !== 'ok') return 'done';
        if (answer.ep !== undefined && answer.off !== undefined) {
          // Messages may have arrived before the answer: keep the furthest position seen.
          if (w.ep === undefined || answer.ep === w.ep) w.off = Math.max(w.off ?? answer.off, answer.off);
          else w.off = answer.off;
          w.ep = answer.ep;
        }
        w.confirmed = true;
        for (const sub of w.subs) sub.settle();
        return 'done';
      },
      (error: RtError) => {
        if (isOffline(error)) return 'lost';
        if (this.wanted.get(w.topic) !== w) return 'done';
        this.wanted.delete(w.topic);
        for (const sub of w.subs) sub.fail(error);
        this.emit('error', { error });
        return 'refused';
      },
    );
  }

  /** @internal */
  async unsubscribe(sub: Subscription<never>): Promise<void> {
    const w = this.wanted.get(sub.topic);
    if (!w?.subs.delete(sub) || w.subs.size > 0) return;
    this.wanted.delete(sub.topic);
    if (this.stateValue === 'open')
      await this.request({ t: 'unsub', ref: 0, topic: sub.topic }, true).catch(ignoreOffline);
  }

  /** @internal */
  async publish(topic: string, data: Payload): Promise<void> {
    await this.request({ t: 'pub', ref: 0, topic, data, key: this.nextKey() });
  }

  /** @internal */
  async push(topic: string, data: Payload): Promise<void> {
    await this.request({ t: 'push', ref: 0, topic, data, key: this.nextKey() });
  }

  private nextKey(): string {
    return `${this.keyPrefix}.${(this.keys++).toString(36)}`;
  }

  /** @internal */
  pull<T>(topic: string, handler: JobHandler<T>, options: PullOptions): Puller<T> {
    if (this.pullers.has(topic))
      throw new RtError('bad_frame', `this client already pulls "${topic}": stop() that puller first`);
    const prefetch = options.prefetch ?? 1;
    if (!Number.isInteger(prefetch) || prefetch < 1)
      throw new RtError('bad_frame', 'prefetch must be a positive integer');
    const puller = new Puller<T>(topic, handler, prefetch, this);
    this.pullers.set(topic, puller as unknown as Puller<never>);
    if (this.stateValue === 'open') void this.sendPull(puller as unknown as Puller<never>);
    return puller;
  }

  private sendPull(puller: Puller<never>): Promise<Outcome> {
    return this.request({ t: 'pull', ref: 0, topic: puller.topic, prefetch: puller.prefetch }, true).then(
      () => {
        puller.settle();
        return 'done';
      },
      (error: RtError) => {
        if (isOffline(error)) return 'lost';
        if (this.pullers.get(puller.topic) === puller) this.pullers.delete(puller.topic);
        puller.settle(error);
        this.emit('error', { error });
        return 'refused';
      },
    );
  }

  /** @internal */
  async stopPulling(puller: Puller<never>): Promise<void> {
    if (this.pullers.get(puller.topic) !== puller) return;
    this.pullers.delete(puller.topic);
    if (this.stateValue === 'open')
      await this.request({ t: 'unpull', ref: 0, topic: puller.topic }, true).catch(ignoreOffline);
  }

  /** @internal */
  bus<T>(topic: string): Bus<T> {
    const bus = new Bus<T>(topic, this);
    let set = this.buses.get(topic);
    if (set) {
      set.add(bus as unknown as Bus<never>);
      if (this.stateValue === 'open') void this.sendJoin(topic, new Set([bus as unknown as Bus<never>]));
      return bus;
    }
    set = new Set([bus as unknown as Bus<never>]);
    this.buses.set(topic, set);
    if (this.stateValue === 'open') void this.sendJoin(topic, set);
    return bus;
  }

  private sendJoin(topic: string, buses: ReadonlySet<Bus<never>>): Promise<Outcome> {
    return this.request({ t: 'join', ref: 0, topic }, true).then(
      () => {
        for (const bus of buses) bus.settle();
        return 'done';
      },
      (error: RtError) => {
        if (isOffline(error)) return 'lost';
        this.buses.delete(topic);
        for (const bus of buses) bus.settle(error);
        this.emit('error', { error });
        return 'refused';
      },
    );
  }

  /** @internal */
  async busSend(topic: string, data: Payload): Promise<void> {
    await this.request({ t: 'bus', ref: 0, topic, data });
  }

  /** @internal */
  async busLeave(bus: Bus<never>): Promise<void> {
    const set = this.buses.get(bus.topic);
    if (!set?.delete(bus) || set.size > 0) return;
    this.buses.delete(bus.topic);
    if (this.stateValue === 'open')
      await this.request({ t: 'leave', ref: 0, topic: bus.topic }, true).catch(ignoreOffline);
  }
}

/** How re-establishing one subscription, join or puller ended. */
type Outcome = 'done' | 'refused' | 'lost';

/** True for the errors that mean "the connection went", not "the broker refused". */
function isOffline(error: RtError): boolean {
  return error.code === 'connection_lost' || error.code === 'closed';
}

function ignoreOffline(error: RtError): void {
  const benign: ErrorCode[] = ['connection_lost', 'closed'];
  if (!benign.includes(error.code)) throw error;
}

/** How long past `openTimeoutMs` the client waits for a transport that did not time out by itself, in ms. */
const OPEN_GRACE_MS = 1000;

/** `promise`, or a rejection with `message` after `ms`: no transport may hang a connection attempt. */
function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RtError('timeout', message)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** 16 random base-36 characters (crypto where the runtime has it: browsers, Node, Deno). */
function randomId(): string {
  const crypto = (globalThis as { crypto?: { getRandomValues?(a: Uint32Array): Uint32Array } }).crypto;
  const words = new Uint32Array(4);
  if (crypto?.getRandomValues) crypto.getRandomValues(words);
  else for (let i = 0; i < words.length; i++) words[i] = Math.floor(Math.random() * 2 ** 32);
  return Array.from(words, (w) => w.toString(36).padStart(7, '0').slice(-4)).join('');
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
