import { type ByeFrame, type GapFrame, type Pace, type TransportName, ancestry, covers } from '@rt/protocol';
import { Outgoing } from './outgoing.js';
import { SubscriptionPace } from './pace.js';
import type { PullerHandle } from './engines/engine.js';

/** The name of the transport a session came in on: an SDK {@link TransportName}, `raw` (Mercury's endpoints), or another door's. */
type WireTransport = TransportName | 'raw' | (string & {});

/**
 * What a transport gives a session: a way to write frames to one connection and to close
 * it. Sessions know nothing else of transports.
 */
export interface Wire {
  /** The transport's name, as `client.transport` reports it. */
  readonly transport: WireTransport;
  /** The door the connection came in through (`socket.io`, `sse`, `sse-plain`, `raw-ws`), for metrics and logs. */
  readonly door?: string;
  /** The peer's address (`ip` or `ip:port`), for logs. */
  readonly remote?: string;
  /** Writes frames, in order. Called with every frame that is waiting, so a wire can batch them into one write. */
  write(batch: readonly Outgoing[]): void;
  /** Closes the connection, after sending `bye` when the transport can. */
  close(bye?: ByeFrame): void;
  /**
   * Bytes the transport holds that the peer has not taken yet, if it can tell. While it is at
   * or above the session's outbound bound, the session stops writing and queues instead.
   */
  buffered?(): number;
  /**
   * Drops the connection at once, discarding what is buffered (a peer that does not read
   * would never receive a `bye`). Without it, `close()` is used.
   */
  destroy?(): void;
}

/** What a broker does with a connection that cannot keep up with its messages. */
export type SlowConsumerPolicy = 'drop' | 'disconnect';

/**
 * A session's outbound bound and what to do past it (given by the broker). Frames queue in
 * the session while the transport holds `maxBytes` or more; when the queue itself passes
 * `maxBytes` while the transport is still full, the policy applies: `drop` discards the oldest queued messages (`msg`, `bus`)
 * and queues a `gap` (reason `overflow`) per affected subscription or bus; `disconnect`
 * (and `drop`, when only answers and jobs are queued) drops the connection.
 */
export interface Outbound {
  maxBytes: number;
  policy: SlowConsumerPolicy;
  /** The engine's epoch, for the position in `gap` frames. */
  epoch(): string;
  /** The session dropped `frames` messages. */
  dropped(session: Session, frames: number): void;
  /** The session gave up on its peer: the broker drops the connection. */
  giveUp(session: Session): void;
  /** The session wrote `batch` to its wire (for metrics). */
  wrote?(session: Session, batch: readonly Outgoing[]): void;
}

const UNBOUNDED: Outbound = {
  maxBytes: Infinity,
  policy: 'drop',
  epoch: () => '',
  dropped: () => undefined,
  giveUp: () => undefined,
};

/** How long a session whose transport is full waits before it tries to write again, in ms. */
const RETRY_MS = 10;

/**
 * A session with a paced subscription writes only while its transport holds less than this
 * (or the outbound bound, when smaller): what the peer has not taken waits in the session's
 * queue, where it can be replaced, rather than in the transport's buffer, where it cannot.
 */
const PACED_BUFFER_BYTES = 16 * 1024;

/** Who is on the other end, as authentication established it (`null` when anonymous). */
export type Identity = Record<string, unknown> | null;

let nextSessionId = 1;

/**
 * One client connection, whatever its transport: its identity, what it listens to, and its
 * outbound queue. Frames are queued and written by the {@link Flusher}: at once (at the end of
 * the current task) when nothing was written this event-loop turn, so an idle connection gets
 * an answer without waiting for the turn to end; what accumulates after that in the same turn
 * goes out together at its end, so a burst of messages to one connection becomes one write.
 */
export class Session {
  /** Unique within this broker process. */
  readonly id: string;
  readonly wire: Wire;
  /** Called whenever {@link identity} is set (the broker arms the token's expiry). */
  onIdentity: ((session: Session) => void) | undefined;
  /**
   * Frames of this session waiting on an async authorization, in order: while set, later
   * frames queue behind it so that no frame overtakes an earlier one. Unset on the hot path.
   */
  backlog: Promise<void> | undefined;
  private identityValue: Identity = null;
  /** Pub/sub subscriptions (topics). */
  readonly subscriptions = new Set<string>();
  private joinsSet: Set<string> | undefined;
  private pullsMap: Map<string, PullerHandle> | undefined;
  /** Set by the hub while it fans one message out, so a session covered twice gets it once. */
  stamp = 0;
  closed = false;
  private pending: Outgoing[] = [];
  private pendingBytes = 0;
  /** The last flush found the transport full: the peer is not keeping up. */
  private blocked = false;
  private probed = false;
  private held: Outgoing[] | null = null;
  private holds = 0;
  /**
   * Per recovered subscription, the last offset its replay covered: a live message of that
   * subtree at or below it was in the replay and is not sent again. A floor goes once a live
   * message above it arrives (messages reach a node in offset order). Unset on the hot path.
   */
  private floors: Map<string, number> | undefined;
  /**
   * Per topic, the offset of the retained value a new subscription was sent: a live message of
   * exactly that topic at or below it (that value, or an older one still on its way) is not
   * sent. All go once a live message above the highest arrives. Unset on the hot path.
   */
  private retainedFloors: { upTo: Map<string, number>; max: number } | undefined;
  private flushWaiters: (() => void)[] | undefined;
  /** Paced subscriptions by topic (unset for sessions without any: `all` costs nothing). */
  private paces: Map<string, SubscriptionPace> | undefined;
  /** What a pace calls when it holds more (see {@link paceWaiting}), made with the first pace. */
  private onPaceWaiting: ((count: number, bytes: number) => void) | undefined;
  /** Messages waiting in paces (not in {@link pending}). */
  private pacedWaiting = 0;
  /** Subscriptions with deltas (see `delta.ts`): turns messages into deltas as they are written. Unset without any. */
  deltas: { rewrite(batch: Outgoing[]): void } | undefined;

  constructor(
    wire: Wire,
    private readonly flusher: Flusher,
    private readonly outbound: Outbound = UNBOUNDED,
  ) {
    this.id = `s${nextSessionId++}`;
    this.wire = wire;
  }

  /** Who is on the other end, as authentication established it (`null`: anonymous). */
  get identity(): Identity {
    return this.identityValue;
  }

  set identity(identity: Identity) {
    this.identityValue = identity;
    this.onIdentity?.(this);
  }

  /** Bus joins (topics). Made on first use: most connections never join a bus, and idle connections are many. */
  get joins(): Set<string> {
    return (this.joinsSet ??= new Set());
  }

  /** Pullers by topic (made on first use, as {@link joins}). */
  get pulls(): Map<string, PullerHandle> {
    return (this.pullsMap ??= new Map());
  }

  /** Subscriptions, bus joins and pullers held, together (without making what is not used yet). */
  get holdings(): number {
    return this.subscriptions.size + (this.joinsSet?.size ?? 0) + (this.pullsMap?.size ?? 0);
  }

  /** Queues a frame for this connection. */
  send(out: Outgoing): void {
    if (this.closed) return;
    if (out.frame.t === 'msg') {
      if (this.held !== null) {
        this.held.push(out);
        return;
      }
      // A retained value is older than the live flow by nature: floors are for live messages.
      const live = out.frame.retained !== true;
      if (live && this.floors !== undefined && this.belowFloor(out.frame.topic, out.frame.off)) return;
      if (live && this.retainedFloors !== undefined && this.belowRetained(out.frame.topic, out.frame.off)) return;
      if (this.paces !== undefined) {
        const pace = this.paceOf(out.frame.topic);
        if (pace !== undefined) {
          if (!this.closed) pace.offer(out);
          return;
        }
      }
    }
    this.sendNow(out);
  }

  /**
   * Sets the pace of the subscription to `topic` (`undefined`, or `all` with no other
   * option: every message, the default).
   */
  setPace(topic: string, pace: Pace | undefined): void {
    const old = this.paces?.get(topic);
    // The same subscription asked again with the same pace (a resubscribe) keeps what it holds.
    if (old !== undefined && pace !== undefined && samePace(old.pace, pace)) return;
    // What the old pace holds goes out as it is.
    if (old !== undefined) this.handOver(old);
    const plain =
      pace === undefined ||
      ((pace.mode ?? 'all') === 'all' && pace.maxRate === undefined && pace.maxQueue === undefined);
    if (plain) {
      if (old === undefined) return;
      this.paces!.delete(topic);
      if (this.paces!.size === 0) this.paces = undefined;
      return;
    }
    // The callback is made with the first pace: a session without one (most) does not carry it.
    this.onPaceWaiting ??= (count, bytes) => this.paceWaiting(count, bytes);
    (this.paces ??= new Map()).set(topic, new SubscriptionPace(pace, this.onPaceWaiting));
  }

  /** Moves everything `pace` holds into the queue, in order, and ends its interval. */
  private handOver(pace: SubscriptionPace): void {
    // Waiting messages count in the queue already; an interval's held newest does not.
    const counted = pace.size;
    const waiting = pace.end();
    this.pacedWaiting -= counted;
    waiting.forEach((out, i) => {
      if (i < counted && this.outbound.maxBytes !== Infinity) this.pendingBytes -= out.size;
      this.sendNow(out);
    });
  }

  /**
   * Moves what the paces hold into the queue now: a recovery's replay (paced too) must be
   * queued before the answer that gives the client its new position, or the client would take
   * the replayed messages for ones it already has.
   */
  settlePaces(): void {
    for (const pace of this.paces?.values() ?? []) this.handOver(pace);
  }

  /**
   * The pace a message on `topic` goes by: none when a subscription without one covers it
   * (that one wants every message), else the nearest paced subscription's.
   */
  private paceOf(topic: string): SubscriptionPace | undefined {
    const paces = this.paces!;
    let found: SubscriptionPace | undefined;
    for (const t of ancestry(topic)) {
      if (!this.subscriptions.has(t)) continue;
      const pace = paces.get(t);
      if (pace === undefined) return undefined;
      found ??= pace;
    }
    return found;
  }

  /** Ends every pace (the session lets go of its subscriptions). */
  clearPaces(): void {
    this.dropPaced();
    for (const pace of this.paces?.values() ?? []) pace.stop();
    this.paces = undefined;
  }

  /** Drops what the paces hold; returns it. */
  private dropPaced(): Outgoing[] {
    const dropped: Outgoing[] = [];
    for (const pace of this.paces?.values() ?? [])
      for (const out of pace.drop()) {
        dropped.push(out);
        if (this.outbound.maxBytes !== Infinity) this.pendingBytes -= out.size;
      }
    this.pacedWaiting = 0;
    return dropped;
  }

  /** A pace holds `count` more messages and `bytes` more bytes: they count in the outbound bound as queued frames do. */
  private paceWaiting(count: number, bytes: number): void {
    const idle = this.pending.length === 0 && this.pacedWaiting === 0;
    this.pacedWaiting += count;
    if (this.outbound.maxBytes !== Infinity) {
      this.pendingBytes += bytes;
      if (this.overBound()) this.overflow();
    }
    if (idle && this.pacedWaiting > 0) this.flusher.schedule(this);
  }

  /**
   * The frames to write: the queue, then what the paces hold, merged in publish order (each
   * pace's first carries its count of skipped messages).
   */
  private withPaced(batch: Outgoing[]): Outgoing[] {
    const paced: Outgoing[] = [];
    let sources = 0;
    for (const pace of this.paces?.values() ?? []) {
      if (pace.size === 0) continue;
      sources++;
      for (const out of pace.take()) paced.push(out);
    }
    this.pacedWaiting = 0;
    if (sources > 1) paced.sort((a, b) => offsetOf(a) - offsetOf(b));
    for (const out of paced) batch.push(out);
    return batch;
  }

  /** True when a replay already carried the message at `off` on `topic` (see {@link floor}). */
  private belowFloor(topic: string, off: number | undefined): boolean {
    const floors = this.floors!;
    let covered = false;
    for (const [subscription, upTo] of floors) {
      if (!covers(subscription, topic)) continue;
      if (off !== undefined && off <= upTo) covered = true;
      else floors.delete(subscription);
    }
    if (floors.size === 0) this.floors = undefined;
    return covered;
  }

  /**
   * A replay of `topic`'s subtree went out up to `upTo`: live messages of that subtree at or
   * below it (held meanwhile, or still on their way from the engine) are not sent again.
   */
  floor(topic: string, upTo: number): void {
    (this.floors ??= new Map()).set(topic, Math.max(upTo, this.floors.get(topic) ?? -1));
  }

  /**
   * Queues a new subscription's retained values (in offset order) among the live messages held
   * meanwhile, in offset order; a live message of the same topic at or below a retained
   * value's offset is not sent, now or when it arrives later. Call while {@link hold}ing.
   */
  retain(values: readonly Outgoing[]): void {
    if (values.length === 0 || this.held === null) return;
    const floors = (this.retainedFloors ??= { upTo: new Map(), max: 0 });
    for (const out of values) {
      const f = out.frame;
      if (f.t !== 'msg' || f.off === undefined) continue;
      floors.upTo.set(f.topic, Math.max(f.off, floors.upTo.get(f.topic) ?? 0));
      floors.max = Math.max(floors.max, f.off);
    }
    const live = this.held.filter(
      (out) => out.frame.t !== 'msg' || !this.belowRetained(out.frame.topic, out.frame.off),
    );
    this.held = [...values, ...live].sort((a, b) => offsetOf(a) - offsetOf(b));
  }

  /** True when a retained value sent already covers the live message at `off` on `topic` (see {@link retain}). */
  private belowRetained(topic: string, off: number | undefined): boolean {
    const floors = this.retainedFloors;
    if (floors === undefined || off === undefined) return false;
    if (off > floors.max) {
      this.retainedFloors = undefined;
      return false;
    }
    const upTo = floors.upTo.get(topic);
    return upTo !== undefined && off <= upTo;
  }

  /**
   * Queues a replayed message even while live ones are held (see {@link sendNow}), through
   * its subscription's pace when it has one (a `latest` subscriber that recovers gets the newest).
   */
  sendReplayed(out: Outgoing): void {
    if (this.paces !== undefined && out.frame.t === 'msg' && !this.closed) {
      const pace = this.paceOf(out.frame.topic);
      if (pace !== undefined) {
        pace.offer(out);
        return;
      }
    }
    this.sendNow(out);
  }

  /** Queues a frame even while messages are held (used to send a recovery replay ahead of live messages). */
  sendNow(out: Outgoing): void {
    if (this.closed) return;
    this.pending.push(out);
    if (this.outbound.maxBytes !== Infinity) {
      this.pendingBytes += out.size;
      if (this.overBound()) this.overflow();
    }
    if (this.pending.length === 1) this.flusher.schedule(this);
  }

  /**
   * Is the queue past the outbound bound? A burst larger than the bound is fine while the
   * transport takes it: only a peer that stopped taking (its transport full) and whose queue
   * passed the bound is slow. But a burst queued within one turn (an application publishing in
   * a loop that never yields to I/O) gives the transport no chance to take anything: past twice
   * the bound the policy applies whatever the transport, so a connection never holds more.
   */
  private overBound(): boolean {
    const max = this.outbound.maxBytes;
    return this.pendingBytes > max && (this.pendingBytes > 2 * max || this.blocked || this.probe());
  }

  /** Asks the transport, once per flush, whether it is full. */
  private probe(): boolean {
    if (this.probed) return false;
    this.probed = true;
    this.blocked = (this.wire.buffered?.() ?? 0) >= this.outbound.maxBytes;
    return this.blocked;
  }

  /** The queue passed its bound: apply the slow-consumer policy. */
  private overflow(): void {
    if (this.outbound.policy === 'disconnect') {
      this.giveUp();
      return;
    }
    // Drop the oldest messages down to half the bound, so a peer that is just slow gets one
    // gap per burst rather than one per message.
    const target = this.outbound.maxBytes / 2;
    const gaps = new Map<string, GapFrame>();
    const kept: Outgoing[] = [];
    let dropped = 0;
    for (const out of this.pending) {
      const frame = out.frame;
      if (this.pendingBytes > target && (frame.t === 'msg' || frame.t === 'bus')) {
        this.pendingBytes -= out.size;
        dropped++;
        if (frame.t === 'bus') this.noteGap(gaps, frame.topic, true);
        else
          for (const topic of ancestry(frame.topic))
            if (this.subscriptions.has(topic)) this.noteGap(gaps, topic, false, frame.off);
        continue;
      }
      if (frame.t === 'gap' && frame.reason === 'overflow') {
        // An earlier overflow gap not yet written: fold it into the new one.
        this.noteGap(gaps, frame.topic, frame.bus === true, frame.off);
        this.pendingBytes -= out.size;
        continue;
      }
      kept.push(out);
    }
    if (this.pendingBytes > target && this.pacedWaiting > 0) {
      // Still past the bound: what the paces hold goes too (conflate by many keys, a long maxQueue).
      for (const out of this.dropPaced()) {
        dropped++;
        for (const topic of ancestry(out.topic ?? ''))
          if (this.subscriptions.has(topic)) this.noteGap(gaps, topic, false, (out.frame as { off?: number }).off);
      }
    }
    if (dropped === 0) {
      this.giveUp();
      return;
    }
    const front: Outgoing[] = [];
    for (const gap of gaps.values()) {
      const out = new Outgoing(gap);
      this.pendingBytes += out.size;
      front.push(out);
    }
    this.pending = [...front, ...kept];
    this.outbound.dropped(this, dropped);
  }

  private noteGap(gaps: Map<string, GapFrame>, topic: string, bus: boolean, off?: number): void {
    const key = `${bus ? 'b' : 's'}:${topic}`;
    const gap = gaps.get(key) ?? { t: 'gap', topic, reason: 'overflow', ep: this.outbound.epoch() };
    if (bus) gap.bus = true;
    if (off !== undefined) gap.off = Math.max(gap.off ?? 0, off);
    gaps.set(key, gap);
  }

  /**
   * A replay could not be written within the outbound bound (the peer does not take it): the
   * slow-consumer policy applies to the rest of it. `drop` queues an `overflow` gap up to
   * `off` (the replay's last offset; `dropped` messages left out); `disconnect` drops the connection.
   */
  replayOverflow(topic: string, off: number, dropped: number): void {
    if (this.closed) return;
    if (this.outbound.policy === 'disconnect') {
      this.giveUp();
      return;
    }
    this.sendNow(new Outgoing({ t: 'gap', topic, reason: 'overflow', ep: this.outbound.epoch(), off }));
    this.outbound.dropped(this, dropped);
  }

  /** The outbound bound in bytes (`Infinity`: none). */
  get maxOutboundBytes(): number {
    return this.outbound.maxBytes;
  }

  /** True when the transport holds the outbound bound or more that the peer has not taken. */
  get transportFull(): boolean {
    return (this.wire.buffered?.() ?? 0) >= this.outbound.maxBytes;
  }

  /** Resolves at the next flush attempt (written, or found the transport full), or at once when nothing is queued. */
  flushed(): Promise<void> {
    if ((this.pending.length === 0 && this.pacedWaiting === 0) || this.closed) return Promise.resolve();
    return new Promise((resolve) => (this.flushWaiters ??= []).push(resolve));
  }

  private giveUp(): void {
    if (this.closed) return;
    this.pending = [];
    this.dropPaced();
    this.pendingBytes = 0;
    this.outbound.giveUp(this);
  }

  /**
   * Holds live messages back until {@link release}: while a subscription recovers, live
   * messages must follow the replay, never overtake it.
   */
  hold(): void {
    if (this.holds++ === 0) this.held = [];
  }

  /** Ends one {@link hold}; when the last ends, the held messages are queued in order. */
  release(): void {
    if (this.holds === 0 || --this.holds > 0) return;
    const held = this.held ?? [];
    this.held = null;
    for (const out of held) this.send(out);
  }

  /**
   * Writes what is queued, unless the transport already holds the outbound bound (then it
   * tries again shortly). `force` writes anyway (on close). Called by the flusher.
   */
  flush(force = false): void {
    const waiters = this.flushWaiters;
    if (waiters !== undefined) {
      this.flushWaiters = undefined;
      for (const resolve of waiters) resolve();
    }
    if ((this.pending.length === 0 && this.pacedWaiting === 0) || this.closed) return;
    const limit =
      this.paces === undefined ? this.outbound.maxBytes : Math.min(this.outbound.maxBytes, PACED_BUFFER_BYTES);
    if (!force && limit !== Infinity && (this.wire.buffered?.() ?? 0) >= limit) {
      this.blocked = true;
      this.flusher.retry(this);
      return;
    }
    this.blocked = false;
    this.probed = false;
    const batch = this.pacedWaiting > 0 ? this.withPaced(this.pending) : this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.deltas?.rewrite(batch);
    this.wire.write(batch);
    this.outbound.wrote?.(this, batch);
  }

  /** Frames queued and not yet written. */
  get queued(): number {
    return this.pending.length + this.pacedWaiting;
  }

  /** Bytes queued and not yet written (counted only when the session has an outbound bound). */
  get queuedBytes(): number {
    return this.pendingBytes;
  }
}

/** True when two paces ask for the same. */
function samePace(a: Pace, b: Pace): boolean {
  return (
    (a.mode ?? 'all') === (b.mode ?? 'all') && a.key === b.key && a.maxRate === b.maxRate && a.maxQueue === b.maxQueue
  );
}

/** A message's offset, for merging paces in publish order (frames without one go last). */
function offsetOf(out: Outgoing): number {
  const frame = out.frame;
  return frame.t === 'msg' && frame.off !== undefined ? frame.off : Number.MAX_SAFE_INTEGER;
}

/** Most connections the {@link Flusher} writes at once; more (a fan-out) wait for the turn's end. */
const AT_ONCE_MAX = 4;

const RESOLVED = Promise.resolve();

/** Something the {@link Flusher} writes: a session, or another kind of connection with a queue. */
export interface Flushable {
  flush(): void;
}

/**
 * Writes every session (or other {@link Flushable}) that has frames waiting. The first frames
 * queued in an event-loop turn are written at once, once the microtasks are done (after the
 * code that queued them and the promise steps it started, so frames queued together still go
 * in one write), when they are for a few connections
 * (an answer, a message to one subscriber); frames queued after that, or for many connections
 * at once (a fan-out), wait for the turn's end (`setImmediate`) and go out together. An idle
 * connection thus answers without delay, a fan-out is one write per connection per turn, and
 * no connection writes more than twice per turn. One microtask, one tick and one immediate for
 * the whole broker, not one per session or per message.
 */
export class Flusher {
  /** `failed` hears of a flushable whose write threw (the others of that turn are still written). */
  constructor(private readonly failed: (flushable: Flushable, error: unknown) => void = () => undefined) {}

  private dirty: Flushable[] = [];
  /** A write was made (or is queued as a microtask) this turn: what is queued now waits for {@link endTurn}. */
  private busy = false;
  private readonly blocked = new Set<Session>();
  private retryTimer: ReturnType<typeof setTimeout> | undefined;

  /** Tries `session` again shortly: its transport is full. */
  retry(session: Session): void {
    this.blocked.add(session);
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      const blocked = [...this.blocked];
      this.blocked.clear();
      for (const s of blocked) this.flushOne(s);
    }, RETRY_MS);
    this.retryTimer.unref();
  }

  schedule(session: Flushable): void {
    this.dirty.push(session);
    if (this.busy) return;
    this.busy = true;
    void RESOLVED.then(this.soon);
    setImmediate(this.endTurn);
  }

  /**
   * The at-once write waits until the microtasks queued meanwhile are done: an answer a few
   * promise steps behind what was queued first (a publish's `ok` behind its own message to the
   * publisher) goes in the same write, one syscall instead of two; nothing waits for I/O. A
   * `nextTick` queued from a microtask runs once the microtask queue is empty. (Not
   * `queueMicrotask`: Node makes an AsyncResource for each.)
   */
  private readonly soon = (): void => {
    process.nextTick(this.atOnce);
  };

  /**
   * The turn's first write, unless a fan-out is under way: with more than {@link AT_ONCE_MAX}
   * connections waiting, everything waits for the turn's end, so that under load each
   * connection still gets one write per turn (a second write per turn cost a third of the
   * fan-out throughput, measured in the bench).
   */
  private readonly atOnce = (): void => {
    if (this.dirty.length <= AT_ONCE_MAX) this.run();
  };

  /** The turn ends: what was queued since its first write goes out, and the next frame is written at once again. */
  private readonly endTurn = (): void => {
    this.busy = false;
    this.run();
  };

  /** Writes everything now (used on close). */
  readonly run = (): void => {
    const dirty = this.dirty;
    if (dirty.length === 0) return;
    this.dirty = [];
    for (const session of dirty) this.flushOne(session);
  };

  /** Flushes one; a write that throws is reported and does not stop the others. */
  private flushOne(flushable: Flushable): void {
    try {
      flushable.flush();
    } catch (e) {
      this.failed(flushable, e);
    }
  }
}
