import type { JsonObject, Pace, Payload } from '@rt/protocol';
import { Emitter } from './emitter.js';
import type { Presence, PresenceHost, PresenceOptions } from './presence.js';
import type { BusSink, PullerSink, SubscriptionSink } from './interests.js';
import type { GapEvent, JobMeta, MessageMeta } from './meta.js';
import { readyLatch } from './latch.js';

export type { GapEvent, JobMeta, MessageMeta } from './meta.js';

/** A subscription handler. */
export type MessageHandler<T> = (data: T, meta: MessageMeta) => void;

/** Events of a {@link Subscription}. */
export interface SubscriptionEvents {
  /** Messages were lost (history did not reach back, the broker restarted, or the connection could not keep up). */
  gap: GapEvent;
  /** The broker refused the subscription (e.g. `forbidden`); it is over. */
  error: { error: Error };
}

/** What the client does for a subscription (implemented by the client). */
export interface SubscriptionHost {
  unsubscribe(sub: SubscriptionSink & { readonly topic: string }): Promise<void>;
}

/**
 * A subscription to a topic and its descendants. Receives each matching message once, in
 * order; survives reconnects (it is re-established, and missed messages recovered, by the
 * client). Also an async iterator of payloads.
 */
export class Subscription<T = unknown>
  extends Emitter<SubscriptionEvents>
  implements AsyncIterable<T>, SubscriptionSink
{
  /**
   * Settles when the broker has confirmed the subscription; rejects when it refused it, or when
   * the client closed or was refused its credentials first.
   */
  readonly ready: Promise<void>;
  /** @internal */ readonly settle: (error?: Error) => void;
  private active = true;
  private buffered: T[] = [];
  private waiting: ((result: IteratorResult<T>) => void) | undefined;

  /** @internal */
  constructor(
    /** The subscribed topic. */
    readonly topic: string,
    private readonly handler: MessageHandler<T> | undefined,
    private readonly host: SubscriptionHost,
  ) {
    super();
    ({ ready: this.ready, settle: this.settle } = readyLatch());
  }

  /** True until `unsubscribe()` (or a refusal). */
  get isActive(): boolean {
    return this.active;
  }

  /** Stops receiving. Resolves when the broker has confirmed (immediately when offline). */
  unsubscribe(): Promise<void> {
    if (!this.active) return Promise.resolve();
    this.end();
    return this.host.unsubscribe(this);
  }

  /** @internal Delivers a message to this subscription. */
  deliver(data: Payload, meta: MessageMeta): void {
    if (!this.active) return;
    if (this.handler) this.handler(data as T, meta);
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: data as T, done: false });
    } else if (!this.handler) this.buffered.push(data as T);
  }

  /** @internal */
  gap(event: GapEvent): void {
    this.emit('gap', event);
  }

  /** @internal The broker refused the subscription. */
  refuse(error: Error): void {
    this.end();
    this.settle(error);
    this.emit('error', { error });
  }

  private end(): void {
    this.active = false;
    const resolve = this.waiting;
    this.waiting = undefined;
    resolve?.({ value: undefined, done: true });
  }

  /** Iterates over payloads as they arrive; breaking out of the loop unsubscribes. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const value = this.buffered.shift();
        if (value !== undefined) return Promise.resolve({ value, done: false });
        if (!this.active) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          this.waiting = resolve;
        });
      },
      return: async () => {
        await this.unsubscribe();
        return { value: undefined, done: true };
      },
    };
  }
}

/** Events of a {@link Bus}. */
export interface BusEvents<T> {
  /** A message from another peer on the bus. */
  message: { data: T; topic: string };
  /** Bus messages were lost: this connection could not keep up (reason `overflow`). */
  gap: GapEvent;
  /** The broker refused the join (e.g. `forbidden`); the bus is left. */
  error: { error: Error };
}

/** What the client does for a bus (implemented by the client). */
export interface BusHost {
  busSend(topic: string, data: Payload): Promise<void>;
  busLeave(bus: BusSink & { readonly topic: string }): Promise<void>;
}

/**
 * A bus joined on one topic: `send` reaches every OTHER peer joined to exactly this topic;
 * `message` events bring theirs. The join survives reconnects.
 */
export class Bus<T = unknown> extends Emitter<BusEvents<T>> implements BusSink {
  /** Settles when the broker has confirmed the join; rejects like `Subscription.ready`. */
  readonly ready: Promise<void>;
  /** @internal */ readonly settle: (error?: Error) => void;
  private joined = true;

  /** @internal */
  constructor(
    readonly topic: string,
    private readonly host: BusHost,
  ) {
    super();
    ({ ready: this.ready, settle: this.settle } = readyLatch());
  }

  /** Sends to every other peer on this topic's bus; resolves when the broker accepted it. */
  send(data: T & Payload): Promise<void> {
    return this.host.busSend(this.topic, data);
  }

  /** Leaves the bus. */
  leave(): Promise<void> {
    if (!this.joined) return Promise.resolve();
    this.joined = false;
    return this.host.busLeave(this);
  }

  /** @internal The broker refused the join. */
  refuse(error: Error): void {
    this.joined = false;
    this.settle(error);
    this.emit('error', { error });
  }

  /** @internal */
  deliver(data: Payload): void {
    if (this.joined) this.emit('message', { data: data as T, topic: this.topic });
  }

  /** @internal */
  gap(event: GapEvent): void {
    if (this.joined) this.emit('gap', event);
  }
}

/**
 * A pull handler. The job is acknowledged when it returns (or its promise resolves); if it
 * throws (or rejects), the job goes back to the queue for another puller.
 */
export type JobHandler<T> = (data: T, job: JobMeta) => unknown;

/** Options of `topic.pull()`. */
export interface PullOptions {
  /** Jobs this puller may hold unacknowledged at a time. Default 1; the broker caps it (`maxPrefetch`, default 100). */
  prefetch?: number;
  /**
   * How long the broker waits for each job's outcome, in ms: a job whose handler has not
   * returned by then goes to another puller (first in line, as a further attempt). Default:
   * the broker's `ackTimeoutMs` (30 s), at most its `maxAckTimeoutMs` (15 minutes).
   */
  ackTimeoutMs?: number;
}

/** Options of {@link Topic.publish}. */
export interface PublishOptions {
  /**
   * Keep the message as the topic's latest value: every new subscriber gets it at once, with
   * `meta.retained` true. Publishing `null` with `retain` clears it.
   */
  retain?: boolean;
}

/** What the client does for a puller (implemented by the client). */
export interface PullerHost {
  stopPulling(puller: PullerSink & { readonly topic: string }): Promise<void>;
}

/** A puller of a topic's work queue. Survives reconnects. */
export class Puller<T = unknown> implements PullerSink {
  /** Settles when the broker has confirmed the puller; rejects like `Subscription.ready`. */
  readonly ready: Promise<void>;
  /** @internal */ readonly settle: (error?: Error) => void;
  private active = true;

  /** @internal */
  constructor(
    readonly topic: string,
    private readonly handler: JobHandler<T>,
    readonly prefetch: number,
    private readonly host: PullerHost,
    readonly ackTimeoutMs?: number,
  ) {
    ({ ready: this.ready, settle: this.settle } = readyLatch());
  }

  /** True until `stop()`. */
  get isActive(): boolean {
    return this.active;
  }

  /** Stops pulling; jobs not yet acknowledged go back to the queue. */
  stop(): Promise<void> {
    if (!this.active) return Promise.resolve();
    this.active = false;
    return this.host.stopPulling(this);
  }

  /** @internal Runs the handler on a job; what it returns (or throws) decides ack or nack. */
  run(data: Payload, meta: JobMeta): unknown {
    return this.handler(data as T, meta);
  }

  /** @internal The broker refused the puller. */
  refuse(error: Error): void {
    this.active = false;
    this.settle(error);
  }
}

/** What a topic handle needs from the client. */
export interface TopicHost extends SubscriptionHost, BusHost, PullerHost, PresenceHost {
  presence<I extends JsonObject>(topic: string, options: PresenceOptions<I>): Presence<I>;
  subscribe<T>(topic: string, handler: MessageHandler<T> | undefined, pace?: Pace): Subscription<T>;
  publish(topic: string, data: Payload, options?: PublishOptions): Promise<void>;
  push(topic: string, data: Payload): Promise<void>;
  pull<T>(topic: string, handler: JobHandler<T>, options: PullOptions): Puller<T>;
  bus<T>(topic: string): Bus<T>;
}

/**
 * A typed handle on one topic: every pattern rt has, on that topic. `T` is the payload type
 * (any JSON value, or `Uint8Array`).
 */
export class Topic<T = unknown> {
  /** @internal */
  constructor(
    /** The topic. */
    readonly name: string,
    private readonly host: TopicHost,
  ) {}

  /**
   * Subscribes to this topic and its descendants (`a` receives `a/b/c`). Without a handler,
   * iterate the subscription: `for await (const data of sub)`. `pace` chooses how messages
   * arrive (`{ mode: 'latest' }`, `{ mode: 'conflate', key: '/id' }`, `{ maxRate: 10 }`,
   * `{ maxQueue: 100 }`; default: every one); skipped messages are counted in `meta.skipped`.
   * `{ delta: true }` (alone or with a mode) has the broker send deltas against the previous
   * message of the topic; the handler still gets whole payloads.
   * A client holds one pace per topic: the first subscription's.
   */
  subscribe(handler?: MessageHandler<T>, pace?: Pace): Subscription<T> {
    return this.host.subscribe<T>(this.name, handler, pace);
  }

  /**
   * Publishes to the subscribers of this topic and of its ancestors; resolves when the broker
   * accepted it. Survives reconnects: a publish whose answer the connection lost is sent again
   * (with its idempotency key, so the broker carries it out once), and a client's publishes
   * reach subscribers in the order they were made. `{ retain: true }` keeps it as the
   * topic's latest value for new subscribers (`null` clears it).
   */
  publish(data: T & Payload, options?: PublishOptions): Promise<void> {
    return this.host.publish(this.name, data, options);
  }

  /**
   * Pushes a work item: one puller receives it (again, if a puller fails). Rejects with
   * `queue_full` when the queue is full. Survives reconnects like {@link publish}.
   */
  push(data: T & Payload): Promise<void> {
    return this.host.push(this.name, data);
  }

  /** Pulls work items of this topic, taking turns with the other pullers. One puller per topic per client. */
  pull(handler: JobHandler<T>, options: PullOptions = {}): Puller<T> {
    return this.host.pull<T>(this.name, handler, options);
  }

  /** Joins this topic's bus. */
  bus(): Bus<T> {
    return this.host.bus<T>(this.name);
  }

  /**
   * Joins this topic's presence (exactly this topic: no hierarchy) with `info` for the other
   * members to see, and watches it: `members` lists who is on the topic now, on every broker,
   * and `join`/`leave` events say who comes and goes. `{ join: false }` only watches. `I` is the
   * type of the members' `info`. Re-established after every reconnect. Authorized as the
   * operation `presence`; refused with `too_many_members` past the broker's `maxPresenceMembers`.
   * A client is one member per topic: handles on the same topic share it (with the info of the
   * first one that joins) until the last one leaves.
   */
  presence<I extends JsonObject = JsonObject>(options: PresenceOptions<I> = {}): Presence<I> {
    return this.host.presence<I>(this.name, options);
  }
}
