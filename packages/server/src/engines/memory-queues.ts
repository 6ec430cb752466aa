import type { Payload } from '@rt/protocol';
import type { EngineLimits, EngineStats, Job, PullerHandle, QueueDepth } from './engine.js';
import { Leases, PushBudget, Turns } from './queue-rules.js';
import { Alarm, redeliveryDelay } from './redelivery.js';

interface Waiting {
  job: Job;
  at: number;
  /** Payload bytes (counted against the push budgets). */
  bytes: number;
  /** After a nack or a missed ack deadline: the puller that failed it may not have it back before `notBefore`. */
  avoid?: PullerHandle;
  notBefore?: number;
}

/** One topic's work queue: waiting jobs and the pullers taking turns on them. */
class WorkQueue {
  waiting: Waiting[] = [];
  /** Payload bytes of the waiting jobs. */
  bytes = 0;
  readonly turns: Turns;
  /** Dispatches again when a nacked job's delay ends. */
  readonly alarm = new Alarm();

  constructor(leases: Leases) {
    this.turns = new Turns(leases);
  }
}

/**
 * The memory engine's work queues: per topic, the jobs waiting for a puller and the pullers
 * taking strict turns on them (the push/pull half of `MemoryEngine`). Waiting jobs are
 * bounded per topic and in total, by count and by bytes ({@link PushBudget}), and expire
 * after `pushTtlMs`; a job handed out comes back when its ack deadline passes ({@link Leases}).
 */
export class MemoryQueues {
  private readonly queues = new Map<string, WorkQueue>();
  private nextJob = 0;
  private readonly budget: PushBudget;
  private readonly leases = new Leases((puller, job) => this.expired(puller, job));
  /** Waiting jobs and their bytes, all topics together. */
  private total = { jobs: 0, bytes: 0 };

  constructor(
    /** Prefix of job ids (the engine's epoch). */
    private readonly ep: string,
    private readonly limits: EngineLimits,
    private readonly counters: EngineStats,
  ) {
    this.budget = new PushBudget(limits);
  }

  close(): void {
    for (const queue of this.queues.values()) queue.alarm.clear();
    this.leases.clear();
  }

  private queue(topic: string): WorkQueue {
    let queue = this.queues.get(topic);
    if (!queue) this.queues.set(topic, (queue = new WorkQueue(this.leases)));
    return queue;
  }

  push(topic: string, data: Payload, dataText?: string): void {
    const queue = this.queue(topic);
    const bytes = PushBudget.bytes(data, dataText);
    const refused = this.budget.check(topic, { jobs: queue.waiting.length, bytes: queue.bytes }, this.total, bytes);
    if (refused) {
      this.counters.pushRejected++;
      this.forget(topic, queue);
      throw refused;
    }
    const job: Job = { id: `${this.ep}-${++this.nextJob}`, topic, data, attempt: 0 };
    if (dataText !== undefined) job.dataText = dataText;
    this.counters.pushed++;
    this.enqueue(queue, { job, at: Date.now(), bytes }, false);
    this.dispatch(queue);
  }

  addPuller(puller: PullerHandle): void {
    const queue = this.queue(puller.topic);
    queue.turns.add(puller);
    this.dispatch(queue);
  }

  removePuller(puller: PullerHandle): void {
    const queue = this.queues.get(puller.topic);
    if (!queue) return;
    queue.turns.delete(puller);
    const held = this.leases.drop(puller);
    if (held.length > 0) {
      this.counters.redelivered += held.length;
      const now = Date.now();
      for (let i = held.length - 1; i >= 0; i--) {
        const job = held[i]!;
        this.enqueue(queue, { job, at: now, bytes: PushBudget.bytes(job.data, job.dataText) }, true);
      }
    }
    this.dispatch(queue);
    this.forget(puller.topic, queue);
  }

  ack(puller: PullerHandle, id: string): boolean {
    if (!this.leases.settle(puller, id, true)) return false;
    const queue = this.queues.get(puller.topic);
    if (queue) this.dispatch(queue);
    return true;
  }

  nack(puller: PullerHandle, id: string): boolean {
    const job = this.leases.settle(puller, id, false);
    if (!job) return false;
    this.retry(puller, job);
    return true;
  }

  /** A job its puller did not settle within its ack deadline: as a nack. */
  private expired(puller: PullerHandle, job: Job): void {
    this.counters.ackExpired = (this.counters.ackExpired ?? 0) + 1;
    this.retry(puller, job);
  }

  /** First in line for another puller; back to `puller` only after the redelivery delay. */
  private retry(puller: PullerHandle, job: Job): void {
    const queue = this.queues.get(puller.topic);
    if (!queue) return;
    this.counters.redelivered++;
    const now = Date.now();
    const delay = redeliveryDelay(this.limits.redeliveryDelayMs, job.attempt ?? 1);
    const bytes = PushBudget.bytes(job.data, job.dataText);
    this.enqueue(queue, { job, at: now, bytes, avoid: puller, notBefore: now + delay }, true);
    this.dispatch(queue);
  }

  /** Adds a waiting job: at the back, or `first` in line (jobs that come back are not refused by the budgets). */
  private enqueue(queue: WorkQueue, waiting: Waiting, first: boolean): void {
    if (first) queue.waiting.unshift(waiting);
    else queue.waiting.push(waiting);
    queue.bytes += waiting.bytes;
    this.total.jobs++;
    this.total.bytes += waiting.bytes;
  }

  /** Removes the waiting job at `index`. */
  private take(queue: WorkQueue, index: number): Waiting {
    const [waiting] = queue.waiting.splice(index, 1);
    queue.bytes -= waiting!.bytes;
    this.total.jobs--;
    this.total.bytes -= waiting!.bytes;
    return waiting!;
  }

  /** Jobs waiting for a puller and their bytes, all topics together. */
  queued(): { jobs: number; bytes: number } {
    return { ...this.total };
  }

  depths(): QueueDepth[] {
    return [...this.queues].map(([topic, queue]) => {
      let inflight = 0;
      for (const p of queue.turns) inflight += p.inflight.size;
      return { topic, waiting: queue.waiting.length, pullers: queue.turns.size, inflight };
    });
  }

  /**
   * Hands waiting jobs, oldest first, to pullers with room, taking turns. A job that came back
   * from a puller (nack, missed ack deadline) skips that puller until its delay ends (then a
   * timer dispatches again).
   */
  private dispatch(queue: WorkQueue): void {
    const now = Date.now();
    let wake = Infinity;
    for (let w = 0; w < queue.waiting.length; ) {
      const waiting = queue.waiting[w]!;
      const blocked = waiting.notBefore !== undefined && waiting.notBefore > now ? waiting.avoid : undefined;
      const chosen = queue.turns.next(blocked);
      if (!chosen) {
        if (!blocked || !queue.turns.hasRoom()) break;
        wake = Math.min(wake, waiting.notBefore!);
        w++;
        continue;
      }
      const { job } = this.take(queue, w);
      this.leases.hand(chosen, job, (job.attempt ?? 0) + 1);
    }
    if (wake < Infinity) queue.alarm.set(wake, () => this.dispatch(queue));
  }

  private forget(topic: string, queue: WorkQueue): void {
    if (queue.turns.size === 0 && queue.waiting.length === 0) {
      queue.alarm.clear();
      this.queues.delete(topic);
    }
  }

  /** Drops the jobs that waited longer than `pushTtlMs` (counted as `pushExpired`). */
  sweep(now: number): void {
    if (this.limits.pushTtlMs <= 0) return;
    for (const [topic, queue] of this.queues) {
      const kept = queue.waiting.filter((w) => now - w.at <= this.limits.pushTtlMs);
      for (const gone of queue.waiting) {
        if (now - gone.at <= this.limits.pushTtlMs) continue;
        queue.bytes -= gone.bytes;
        this.total.jobs--;
        this.total.bytes -= gone.bytes;
        this.counters.pushExpired++;
      }
      queue.waiting = kept;
      this.forget(topic, queue);
    }
  }
}
