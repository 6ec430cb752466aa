import { ancestry, type Payload } from '@rt/protocol';
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
import { MemoryQueues } from './memory-queues.js';

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
  private queues!: MemoryQueues;
  private sweeper: ReturnType<typeof setInterval> | undefined;
  private readonly counters: EngineStats = { published: 0, pushed: 0, pushRejected: 0, pushExpired: 0, redelivered: 0 };

  async start(host: EngineHost, limits: EngineLimits): Promise<void> {
    this.host = host;
    this.limits = limits;
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
    let historyMessages = 0;
    for (const history of this.histories.values()) historyMessages += history.entries.length;
    return { ...this.counters, queued, queuedBytes, historyTopics: this.histories.size, historyMessages };
  }

  queueDepths(): QueueDepth[] {
    return this.queues.depths();
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
    this.queues.sweep(now);
  }
}

/** The embedded in-memory engine (the default). */
export function memory(): Engine {
  return new MemoryEngine();
}
