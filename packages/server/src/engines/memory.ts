import type { Payload } from '@rt/protocol';
import type {
  BusMessage,
  Engine,
  EngineHost,
  EngineLimits,
  EngineStats,
  PublishOptions,
  PullerHandle,
  QueueDepth,
  Recovery,
  StoredMessage,
} from './engine.js';
import { DEFAULT_LIMITS } from '../options.js';
import { HistoryStore } from './history.js';
import { MemoryPresence } from './memory-presence.js';
import { MemoryQueues } from './memory-queues.js';
import { RetainedValues } from './retained.js';

/**
 * The embedded engine: one process, nothing to install. History, work queues and fan-out
 * live in this process's memory; a restart starts a new epoch, so recovering clients are
 * told of the gap.
 */
export class MemoryEngine implements Engine {
  readonly name = 'memory';
  private host!: EngineHost;
  private readonly ep = Math.random().toString(36).slice(2, 10) + Date.now().toString(36);
  private off = 0;
  private history!: HistoryStore;
  private retainedValues!: RetainedValues;
  private queues!: MemoryQueues;
  private sweeper: ReturnType<typeof setInterval> | undefined;
  private readonly counters: EngineStats = { published: 0, pushed: 0, pushRejected: 0, pushExpired: 0, redelivered: 0 };
  /** Presence members, in this process. */
  readonly presence = new MemoryPresence((event) => this.host.deliverPresence?.(event));

  async start(host: EngineHost, limits: EngineLimits): Promise<void> {
    this.host = host;
    this.history = new HistoryStore(limits);
    this.retainedValues = new RetainedValues(limits.maxRetainedTopics ?? DEFAULT_LIMITS.maxRetainedTopics);
    this.queues = new MemoryQueues(this.ep, limits, this.counters);
    const every = Math.max(250, Math.min(limits.historyTtlMs, limits.pushTtlMs || Infinity, 10_000) / 4);
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.queues?.close();
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
    if (options.retain) this.retainedValues.keep(message);
    this.history.add(message, Date.now());
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

  async retained(topic: string): Promise<StoredMessage[]> {
    return this.retainedValues.of(topic);
  }

  async recover(topic: string, ep: string, off: number): Promise<Recovery> {
    return { ...this.history.recover(topic, this.ep, ep, off, Date.now()), ep: this.ep, off: this.off };
  }

  async sendBus(message: BusMessage): Promise<void> {
    this.host.deliverBus(message);
  }

  async push(topic: string, data: Payload, dataText?: string): Promise<void> {
    this.queues.push(topic, data, dataText);
  }

  addPuller(puller: PullerHandle): void {
    this.queues.addPuller(puller);
  }

  removePuller(puller: PullerHandle): void {
    this.queues.removePuller(puller);
  }

  async ack(puller: PullerHandle, id: string): Promise<boolean> {
    return this.queues.ack(puller, id);
  }

  async nack(puller: PullerHandle, id: string): Promise<boolean> {
    return this.queues.nack(puller, id);
  }

  stats(): EngineStats {
    const { jobs: queued, bytes: queuedBytes } = this.queues.queued();
    const retained = { retainedTopics: this.retainedValues.size, retainedEvicted: this.retainedValues.evicted };
    return { ...this.counters, queued, queuedBytes, ...this.history.stats(), ...retained };
  }

  queueDepths(): QueueDepth[] {
    return this.queues.depths();
  }

  private sweep(): void {
    const now = Date.now();
    this.history.expire(now);
    this.queues.sweep(now);
  }
}

/** The embedded in-memory engine (the default). */
export function memory(): Engine {
  return new MemoryEngine();
}
