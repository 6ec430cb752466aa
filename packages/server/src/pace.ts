import type { Pace } from '@rt/protocol';
import type { Outgoing } from './outgoing.js';

/** What a {@link SubscriptionPace} tells its session: it holds `count` more messages (may be 0) and `bytes` more bytes (may be negative). */
export type PaceWaiting = (count: number, bytes: number) => void;

/** The key `pointer` (a JSON pointer) picks in a message's payload, or its topic when the pointer finds no string or number. */
function keyOf(out: Outgoing, pointer: string | undefined): string {
  const topic = out.topic ?? '';
  if (pointer === undefined) return topic;
  let value: unknown = out.data;
  for (const raw of pointer.slice(1).split('/')) {
    if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return topic;
    const name = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    value = (value as Record<string, unknown>)[name];
  }
  return typeof value === 'string' || typeof value === 'number' ? `${topic}\u0000${value}` : topic;
}

/** A message waiting in a pace, with how many messages it stands for that were skipped before it. */
interface Waiting {
  out: Outgoing;
  skipped: number;
}

/** `w`'s message, carrying its count of skipped messages when there is one. */
const counted = (w: Waiting): Outgoing => (w.skipped > 0 ? w.out.withSkipped(w.skipped) : w.out);

/**
 * One subscription's pace (see {@link Pace}): the messages of the subscription waiting to be
 * written, held here instead of in the session's queue, so that a newer one replaces a waiting
 * one (`latest`, `conflate`) or the oldest is dropped (`maxQueue`); `maxRate` holds the newest
 * of each interval. Messages are never encoded again: a waiting `Outgoing` is swapped for
 * another. Every message replaced or dropped is counted on the message written after it in
 * publish order (`skipped`, see {@link take}): a replacing message takes over the count of the
 * one it replaces (so with `conflate`, a message counts the skipped messages of its key), and
 * the oldest waiting message takes over the count of those dropped before it (`maxQueue`).
 */
export class SubscriptionPace {
  /** Waiting messages by key (`latest`, `conflate`), in the order their newest arrived. */
  private readonly slots = new Map<string, Waiting>();
  /** Waiting messages in order (`all`). */
  private fifo: Waiting[] = [];
  /** `maxRate`: the newest (per key with `conflate`) of the current interval, waiting for its end. */
  private held: Map<string, Waiting> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private nextAt = 0;
  private readonly intervalMs: number;
  /** `maxRate` alone (no mode, no `maxQueue`) keeps only the newest waiting, as `latest`. */
  private readonly mode: 'all' | 'latest' | 'conflate';

  constructor(
    readonly pace: Pace,
    private readonly waiting: PaceWaiting,
  ) {
    this.intervalMs = pace.maxRate === undefined ? 0 : 1000 / pace.maxRate;
    this.mode = pace.mode ?? (pace.maxRate !== undefined && pace.maxQueue === undefined ? 'latest' : 'all');
  }

  /** A message for this subscription. */
  offer(out: Outgoing): void {
    const w: Waiting = { out, skipped: 0 };
    if (this.intervalMs === 0) {
      this.put(w);
      return;
    }
    const now = performance.now();
    if (this.timer === undefined && now >= this.nextAt) {
      this.nextAt = now + this.intervalMs;
      this.put(w);
      return;
    }
    // Within the interval: the newest (per key with `conflate`) waits for its end.
    const held = (this.held ??= new Map());
    const key = this.mode === 'conflate' ? keyOf(out, this.pace.key) : '';
    const old = held.get(key);
    if (old !== undefined) w.skipped = old.skipped + 1;
    held.set(key, w);
    this.timer ??= setTimeout(this.tick, Math.max(0, this.nextAt - now));
    this.timer.unref?.();
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    const held = this.held;
    if (held === undefined || held.size === 0) return;
    this.held = undefined;
    this.nextAt = performance.now() + this.intervalMs;
    for (const w of held.values()) this.put(w);
  };

  /** Makes `w` wait under this pace's mode. */
  private put(w: Waiting): void {
    if (this.mode !== 'all') {
      const key = this.mode === 'latest' ? '' : keyOf(w.out, this.pace.key);
      const old = this.slots.get(key);
      if (old !== undefined) {
        // The newest goes to the end: waiting messages stay in publish order.
        this.slots.delete(key);
        w.skipped += old.skipped + 1;
      }
      this.slots.set(key, w);
      this.waiting(old === undefined ? 1 : 0, w.out.size - (old?.out.size ?? 0));
      return;
    }
    this.fifo.push(w);
    const max = this.pace.maxQueue;
    if (max !== undefined && this.fifo.length > max) {
      const dropped = this.fifo.shift()!;
      // The oldest left counts what was dropped before it.
      this.fifo[0]!.skipped += dropped.skipped + 1;
      this.waiting(0, w.out.size - dropped.out.size);
    } else this.waiting(1, w.out.size);
  }

  /** Messages waiting. */
  get size(): number {
    return this.slots.size + this.fifo.length;
  }

  /** Takes the waiting messages, in publish order, each carrying its count of skipped messages. */
  take(): Outgoing[] {
    const taken = this.mode === 'all' ? this.fifo.map(counted) : Array.from(this.slots.values(), counted);
    this.fifo = [];
    this.slots.clear();
    return taken;
  }

  /** Ends this pace: stops its timer and takes everything it holds, the interval's newest included (see {@link take}). */
  end(): Outgoing[] {
    const held = this.held === undefined ? [] : [...this.held.values()];
    this.stop();
    const taken = this.take();
    for (const w of held) taken.push(counted(w));
    return taken;
  }

  /** Drops the waiting messages (the session's queue overflowed); returns them. */
  drop(): Outgoing[] {
    const dropped = this.mode === 'all' ? this.fifo : [...this.slots.values()];
    this.fifo = [];
    this.slots.clear();
    return dropped.map((w) => w.out);
  }

  /** Stops the interval timer (the subscription or the session ended). */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.held = undefined;
  }
}
