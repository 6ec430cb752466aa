import { RtError, ancestry, type Payload } from '@rt/protocol';
import type {
  BusMessage,
  Engine,
  EngineHost,
  EngineLimits,
  EngineStats,
  Job,
  PublishOptions,
  PullerHandle,
  QueueDepth,
  Recovery,
  StoredMessage,
} from './engine.js';
import { MemoryPresence } from './memory-presence.js';
import { Alarm, redeliveryDelay } from './redelivery.js';

interface Entry {
  message: StoredMessage;
  at: number;
}

/** One topic's bounded history: the newest messages of the topic and its subtree. */
class History {
  entries: Entry[] = [];
  /** Offset of the newest message this history dropped (0: none). */
  floor = 0;

  add(entry: Entry, limits: EngineLimits): void {
    this.entries.push(entry);
    if (this.entries.length > limits.historySize) this.drop(this.entries.length - limits.historySize);
  }

  expire(now: number, limits: EngineLimits): void {
    let n = 0;
    while (n < this.entries.length && now - this.entries[n]!.at > limits.historyTtlMs) n++;
    if (n > 0) this.drop(n);
  }

  private drop(n: number): void {
    this.floor = this.entries[n - 1]!.message.off;
    this.entries.splice(0, n);
  }
}

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
 * The embedded engine: one process, nothing to install. History, work queues and fan-out
 * live in this process's memory; a restart starts a new epoch, so recovering clients are
 * told of the gap.
 */
export class MemoryEngine implements Engine {
  readonly name = 'memory';
  private host!: EngineHost;
  private limits!: EngineLimits;
  private readonly ep = Math.random().toString(36).slice(2, 10) + Date.now().toString(36);
  private off = 0;
  private readonly histories = new Map<string, History>();
  /** Highest floor of a history that was removed whole: recovery from before it may have lost messages. */
  private forgotten = 0;
  private readonly queues = new Map<string, WorkQueue>();
  private nextJob = 0;
  private sweeper: ReturnType<typeof setInterval> | undefined;
  private readonly counters: EngineStats = { published: 0, pushed: 0, pushRejected: 0, pushExpired: 0, redelivered: 0 };
  /** Presence members, in this process. */
  readonly presence = new MemoryPresence((event) => this.host.deliverPresence?.(event));

  async start(host: EngineHost, limits: EngineLimits): Promise<void> {
    this.host = host;
    this.limits = limits;
    const every = Math.max(250, Math.min(limits.historyTtlMs, limits.pushTtlMs || Infinity, 10_000) / 4);
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    for (const queue of this.queues.values()) queue.alarm.clear();
  }

  epoch(): string {
    return this.ep;
  }

  async publish(topic: string, data: Payload, options: PublishOptions = {}): Promise<StoredMessage> {
    const { dataText, meta } = options;
    const message: StoredMessage = { topic, data, off: ++this.off };
    if (dataText !== undefined) message.dataText = dataText;
    if (meta !== undefined) message.meta = meta;
    this.counters.published++;
    if (this.limits.historySize > 0) {
      const entry = { message, at: Date.now() };
      // '' is the root: every topic's messages, for recover('') (the Mercure hub's replay).
      for (const t of ['', ...ancestry(topic)]) {
        let history = this.histories.get(t);
        if (!history) this.histories.set(t, (history = new History()));
        history.add(entry, this.limits);
      }
    }
    this.host.deliverMessage(message);
    return message;
  }

  async listen(): Promise<void> {}
  unlisten(): void {}
  async listenBus(): Promise<void> {}
  unlistenBus(): void {}

  async position(): Promise<{ ep: string; off: number }> {
    return { ep: this.ep, off: this.off };
  }

  async recover(topic: string, ep: string, off: number): Promise<Recovery> {
    const now = { ep: this.ep, off: this.off };
    const history = this.histories.get(topic);
    if (ep !== this.ep) {
      // The client's position is from a history that is gone (this process restarted): what
      // is lost is lost, but what this epoch published before the resubscribe is replayed.
      history?.expire(Date.now(), this.limits);
      return { messages: history ? history.entries.map((e) => e.message) : [], gap: 'epoch', ...now };
    }
    if (!history) return { messages: [], ...(off < this.forgotten ? { gap: 'history' as const } : {}), ...now };
    history.expire(Date.now(), this.limits);
    const messages = history.entries.filter((e) => e.message.off > off).map((e) => e.message);
    const lost = off < history.floor || (history.entries.length === 0 && off < this.forgotten);
    return lost ? { messages, gap: 'history', ...now } : { messages, ...now };
  }

  async sendBus(message: BusMessage): Promise<void> {
    this.host.deliverBus(message);
  }

  async push(topic: string, data: Payload, dataText?: string): Promise<void> {
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

  async ack(puller: PullerHandle, id: string): Promise<boolean> {
    if (!puller.inflight.delete(id)) return false;
    const queue = this.queues.get(puller.topic);
    if (queue) this.dispatch(queue);
    return true;
  }

  async nack(puller: PullerHandle, id: string): Promise<boolean> {
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

  stats(): EngineStats {
    let queued = 0;
    for (const queue of this.queues.values()) queued += queue.waiting.length;
    let historyMessages = 0;
    for (const history of this.histories.values()) historyMessages += history.entries.length;
    return { ...this.counters, queued, historyTopics: this.histories.size, historyMessages };
  }

  queueDepths(): QueueDepth[] {
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

  private sweep(): void {
    const now = Date.now();
    for (const [topic, history] of this.histories) {
      history.expire(now, this.limits);
      if (history.entries.length === 0) {
        this.forgotten = Math.max(this.forgotten, history.floor);
        this.histories.delete(topic);
      }
    }
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

/** The embedded in-memory engine (the default). */
export function memory(): Engine {
  return new MemoryEngine();
}
