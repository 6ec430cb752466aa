import { RtError, type Payload } from '@rt/protocol';
import type { EngineLimits, EngineStats, Job, PullerHandle, QueueDepth } from './engine.js';
import { Alarm, redeliveryDelay } from './redelivery.js';

interface Waiting {
  job: Job;
  at: number;
  /** After a nack: the puller that failed it may not have it back before `notBefore`. */
  avoid?: PullerHandle;
  notBefore?: number;
}

/** One topic's work queue: waiting jobs and the pullers taking turns on them. */
class WorkQueue {
  waiting: Waiting[] = [];
  pullers: PullerHandle[] = [];
  turn = 0;
  /** Dispatches again when a nacked job's delay ends. */
  readonly alarm = new Alarm();
}

/**
 * The memory engine's work queues: per topic, the jobs waiting for a puller and the pullers
 * taking turns on them (the push/pull half of {@link MemoryEngine}).
 */
export class MemoryQueues {
  private readonly queues = new Map<string, WorkQueue>();
  private nextJob = 0;

  constructor(
    /** Prefix of job ids (the engine's epoch). */
    private readonly ep: string,
    private readonly limits: EngineLimits,
    private readonly counters: EngineStats,
  ) {}

  close(): void {
    for (const queue of this.queues.values()) queue.alarm.clear();
  }

  push(topic: string, data: Payload, dataText?: string): void {
    let queue = this.queues.get(topic);
    if (!queue) this.queues.set(topic, (queue = new WorkQueue()));
    if (queue.waiting.length >= this.limits.pushQueueSize) {
      this.counters.pushRejected++;
      throw new RtError('queue_full', `the queue of "${topic}" holds ${this.limits.pushQueueSize} waiting items`);
    }
    const job: Job = { id: `${this.ep}-${++this.nextJob}`, topic, data, attempt: 0 };
    if (dataText !== undefined) job.dataText = dataText;
    this.counters.pushed++;
    queue.waiting.push({ job, at: Date.now() });
    this.dispatch(queue);
  }

  addPuller(puller: PullerHandle): void {
    let queue = this.queues.get(puller.topic);
    if (!queue) this.queues.set(puller.topic, (queue = new WorkQueue()));
    queue.pullers.push(puller);
    this.dispatch(queue);
  }

  removePuller(puller: PullerHandle): void {
    const queue = this.queues.get(puller.topic);
    if (!queue) return;
    queue.pullers = queue.pullers.filter((p) => p !== puller);
    const held = [...puller.inflight.values()];
    puller.inflight.clear();
    if (held.length > 0) {
      this.counters.redelivered += held.length;
      queue.waiting.unshift(...held.map((job) => ({ job, at: Date.now() })));
    }
    this.dispatch(queue);
    this.forget(puller.topic, queue);
  }

  ack(puller: PullerHandle, id: string): boolean {
    if (!puller.inflight.delete(id)) return false;
    const queue = this.queues.get(puller.topic);
    if (queue) this.dispatch(queue);
    return true;
  }

  nack(puller: PullerHandle, id: string): boolean {
    const job = puller.inflight.get(id);
    if (!job) return false;
    puller.inflight.delete(id);
    const queue = this.queues.get(puller.topic);
    if (queue) {
      this.counters.redelivered++;
      const delay = redeliveryDelay(this.limits.redeliveryDelayMs, job.attempt ?? 1);
      queue.waiting.unshift({ job, at: Date.now(), avoid: puller, notBefore: Date.now() + delay });
      this.dispatch(queue);
    }
    return true;
  }

  /** Jobs waiting for a puller, all topics together. */
  queued(): number {
    let queued = 0;
    for (const queue of this.queues.values()) queued += queue.waiting.length;
    return queued;
  }

  depths(): QueueDepth[] {
    return [...this.queues].map(([topic, queue]) => ({
      topic,
      waiting: queue.waiting.length,
      pullers: queue.pullers.length,
      inflight: queue.pullers.reduce((sum, p) => sum + p.inflight.size, 0),
    }));
  }

  /**
   * Hands waiting jobs, oldest first, to pullers with room, taking turns. A nacked job skips
   * the puller that failed it until its delay ends (then a timer dispatches again).
   */
  private dispatch(queue: WorkQueue): void {
    const n = queue.pullers.length;
    const now = Date.now();
    let wake = Infinity;
    for (let w = 0; w < queue.waiting.length && n > 0; ) {
      const waiting = queue.waiting[w]!;
      const blocked = waiting.notBefore !== undefined && waiting.notBefore > now ? waiting.avoid : undefined;
      let chosen: PullerHandle | undefined;
      let room = false;
      for (let i = 0; i < n; i++) {
        const candidate = queue.pullers[(queue.turn + i) % n]!;
        if (candidate.inflight.size >= candidate.prefetch) continue;
        room = true;
        if (candidate === blocked) continue;
        chosen = candidate;
        queue.turn = (queue.turn + i + 1) % n;
        break;
      }
      if (!room) break;
      if (!chosen) {
        wake = Math.min(wake, waiting.notBefore!);
        w++;
        continue;
      }
      queue.waiting.splice(w, 1);
      const { job } = waiting;
      job.attempt = (job.attempt ?? 0) + 1;
      chosen.inflight.set(job.id, job);
      chosen.deliver(job);
    }
    if (wake < Infinity) queue.alarm.set(wake, () => this.dispatch(queue));
  }

  private forget(topic: string, queue: WorkQueue): void {
    if (queue.pullers.length === 0 && queue.waiting.length === 0) {
      queue.alarm.clear();
      this.queues.delete(topic);
    }
  }

  /** Drops the jobs that waited longer than `pushTtlMs` (counted as `pushExpired`). */
  sweep(now: number): void {
    if (this.limits.pushTtlMs > 0) {
      for (const [topic, queue] of this.queues) {
        const before = queue.waiting.length;
        queue.waiting = queue.waiting.filter((w) => now - w.at <= this.limits.pushTtlMs);
        this.counters.pushExpired += before - queue.waiting.length;
        this.forget(topic, queue);
      }
    }
  }
}
