import { type Payload, RtError, isBinary, utf8Length } from '@rt/protocol';
import type { EngineLimits, Job, PullerHandle } from './engine.js';

/**
 * The pullers of one topic on this node, taking strict turns: a job goes to the puller with
 * room that was served longest ago (a new puller goes last). The order is kept as a list of
 * pullers, not an index into one, so a puller that leaves changes nobody else's turn.
 */
export class Turns {
  /** Least recently served first. */
  private readonly order = new Set<PullerHandle>();

  constructor(private readonly leases: Leases) {}

  get size(): number {
    return this.order.size;
  }

  add(puller: PullerHandle): void {
    this.order.add(puller);
  }

  delete(puller: PullerHandle): void {
    this.order.delete(puller);
  }

  [Symbol.iterator](): IterableIterator<PullerHandle> {
    return this.order.values();
  }

  /** Whether any puller can take a job now. */
  hasRoom(): boolean {
    for (const p of this.order) if (this.leases.room(p) > 0) return true;
    return false;
  }

  /** Jobs all the pullers can take now, together. */
  room(): number {
    let room = 0;
    for (const p of this.order) room += this.leases.room(p);
    return room;
  }

  /** The puller whose turn it is among those with room, never `avoid`; it goes to the back of the line. */
  next(avoid?: PullerHandle): PullerHandle | undefined {
    for (const p of this.order) {
      if (p === avoid || this.leases.room(p) === 0) continue;
      this.order.delete(p);
      this.order.add(p);
      return p;
    }
    return undefined;
  }
}

interface Lease {
  /** Jobs the puller may hold now: its prefetch, cut to 1 when a job outlived its ack deadline, doubled back by each ack. */
  window: number;
  timers: Map<string, ReturnType<typeof setTimeout>>;
}

/**
 * What the pullers of an engine hold: each job handed out has an ack deadline (the puller's
 * `ackTimeoutMs`); a job not settled by then is taken back (`expired` puts it back first in
 * line for another puller), and the puller's window shrinks to one job, so a puller that
 * takes jobs and never finishes them holds one at a time, however large its prefetch, while
 * others get the rest. Each ack doubles the window back, up to the prefetch.
 */
export class Leases {
  private readonly leases = new Map<PullerHandle, Lease>();

  constructor(private readonly expired: (puller: PullerHandle, job: Job) => void) {}

  private lease(puller: PullerHandle): Lease {
    let lease = this.leases.get(puller);
    if (!lease) this.leases.set(puller, (lease = { window: puller.prefetch, timers: new Map() }));
    return lease;
  }

  /** Jobs `puller` may take now. */
  room(puller: PullerHandle): number {
    const window = this.leases.get(puller)?.window ?? puller.prefetch;
    return Math.max(0, window - puller.inflight.size);
  }

  /** Hands `job` to `puller` as delivery number `attempt`; its ack deadline starts. */
  hand(puller: PullerHandle, job: Job, attempt: number): void {
    job.attempt = attempt;
    puller.inflight.set(job.id, job);
    const lease = this.lease(puller);
    const timer = setTimeout(() => {
      lease.timers.delete(job.id);
      if (puller.inflight.get(job.id) !== job) return;
      puller.inflight.delete(job.id);
      lease.window = 1;
      this.expired(puller, job);
    }, puller.ackTimeoutMs);
    timer.unref();
    lease.timers.set(job.id, timer);
    puller.deliver(job);
  }

  /**
   * `puller` settled job `id` (acked, or nacked: `acked` false), or let it go otherwise: its
   * deadline stops, and an ack widens the window again. Returns the job, or undefined when
   * the puller does not hold it (e.g. its deadline passed).
   */
  settle(puller: PullerHandle, id: string, acked: boolean): Job | undefined {
    const job = puller.inflight.get(id);
    if (!job) return undefined;
    puller.inflight.delete(id);
    const lease = this.leases.get(puller);
    if (lease) {
      clearTimeout(lease.timers.get(id));
      lease.timers.delete(id);
      if (acked) lease.window = Math.min(puller.prefetch, lease.window * 2);
    }
    return job;
  }

  /** `puller` left: every deadline of its jobs stops; returns the jobs it held. */
  drop(puller: PullerHandle): Job[] {
    const held = [...puller.inflight.values()];
    puller.inflight.clear();
    const lease = this.leases.get(puller);
    if (lease) for (const timer of lease.timers.values()) clearTimeout(timer);
    this.leases.delete(puller);
    return held;
  }

  /** Stops every deadline (the engine closes). */
  clear(): void {
    for (const lease of this.leases.values()) for (const timer of lease.timers.values()) clearTimeout(timer);
    this.leases.clear();
  }
}

/** Waiting jobs and the payload bytes they hold. */
export interface Held {
  jobs: number;
  bytes: number;
}

/**
 * The budgets of waiting jobs: per topic and in total, by count and by payload bytes. A push
 * past one is refused with `queue_full`, naming the budget; jobs already accepted are not touched.
 */
export class PushBudget {
  constructor(private readonly limits: EngineLimits) {}

  /** A job's payload bytes, as counted against the budgets (UTF-8 JSON text or raw bytes). */
  static bytes(data: Payload, dataText?: string): number {
    if (isBinary(data)) return data.byteLength;
    return utf8Length(dataText ?? JSON.stringify(data) ?? '');
  }

  /** The refusal of a push of `bytes` onto a topic holding `queue`, the engine holding `total`; undefined when it fits. */
  check(topic: string, queue: Held, total: Held, bytes: number): RtError | undefined {
    const { pushQueueSize, pushQueueBytes, pushTotalSize, pushTotalBytes } = this.limits;
    if (queue.jobs + 1 > pushQueueSize)
      return full(`the queue of "${topic}" holds ${queue.jobs} waiting jobs (pushQueueSize ${pushQueueSize})`);
    if (pushQueueBytes !== undefined && queue.bytes + bytes > pushQueueBytes)
      return full(
        `the queue of "${topic}" holds ${queue.bytes} bytes of waiting jobs; ${bytes} more is past pushQueueBytes ${pushQueueBytes}`,
      );
    if (pushTotalSize !== undefined && total.jobs + 1 > pushTotalSize)
      return full(`the broker holds ${total.jobs} waiting jobs (pushTotalSize ${pushTotalSize})`);
    if (pushTotalBytes !== undefined && total.bytes + bytes > pushTotalBytes)
      return full(
        `the broker holds ${total.bytes} bytes of waiting jobs; ${bytes} more is past pushTotalBytes ${pushTotalBytes}`,
      );
    return undefined;
  }
}

function full(message: string): RtError {
  return new RtError('queue_full', message);
}
