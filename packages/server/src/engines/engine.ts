import type { GapReason, Payload } from '@rt/protocol';
import type { Logger } from '../options.js';
import type { BudgetStats } from '../stats.js';
import type { PresenceEvent, PresenceStore } from './presence.js';

/**
 * A published message as the engine stores and delivers it. `off` is its position: a number
 * that grows with every publish within an epoch.
 */
export interface StoredMessage {
  topic: string;
  data: Payload;
  /** The payload's JSON text, when not binary and already known (saves encoding it again). */
  dataText?: string;
  off: number;
  /** What a protocol bridge attached when it published (see {@link MessageMeta}); engines store and deliver it unchanged. */
  meta?: MessageMeta;
}

/**
 * Attributes a protocol bridge (the Mercure hub) attaches to a message it publishes. Engines
 * store them with the message, deliver them to every node and return them on recovery; rt's
 * own frames ignore them.
 */
export interface MessageMeta {
  /** The message's id in the bridge's protocol (Mercure: the publisher's `id`, or the hub's `urn:uuid:`). */
  id?: string;
  /** Every topic the message is addressed to in the bridge's naming (Mercure IRIs), the canonical one first. */
  topics?: string[];
  /** Event type (Mercure `type`, the SSE `event` field). */
  type?: string;
  /** Reconnection delay the publisher asks for, in ms (the SSE `retry` field). */
  retry?: number;
  /**
   * Restricted to the bridge's authorized subscribers: rt sessions never receive it, live or
   * on recovery (rt's authorization is per topic and has no per-message privacy).
   */
  private?: boolean;
}

/** Options of {@link Engine.publish}. */
export interface PublishOptions {
  /** The payload's JSON text, when not binary and already known (saves encoding it again). */
  dataText?: string;
  /**
   * An idempotency key (engines that {@link Engine.dedupes}): a publish with a key seen within
   * `dedupeTtlMs` is not carried out again and resolves with the first one's offset.
   */
  key?: string;
  /** Kept with the message and delivered with it (see {@link MessageMeta}). */
  meta?: MessageMeta;
  /**
   * Keep the message as the topic's retained value (see {@link Engine.retained}), replacing
   * the one before, in the same step as the publish; `null` data clears it instead.
   */
  retain?: boolean;
}

/** A bus message between nodes. `from` is the sending session's id, so it is not echoed back. */
export interface BusMessage {
  topic: string;
  data: Payload;
  dataText?: string;
  from: string;
}

/** A work item handed to a puller. */
export interface Job {
  id: string;
  topic: string;
  data: Payload;
  dataText?: string;
  /**
   * Deliveries so far, this one included (1 on the first; more after a nack or a lost
   * puller or node).
   */
  attempt?: number;
}

/**
 * A puller as the engine sees it: a topic, how many unacknowledged jobs it may hold, and a
 * way to hand it one.
 */
export interface PullerHandle {
  readonly topic: string;
  readonly prefetch: number;
  /**
   * How long a job may stay unacknowledged, in ms: past it, the job is taken back and goes
   * first in line to another puller (and this puller holds one job at a time until it acks).
   */
  readonly ackTimeoutMs: number;
  /** Jobs delivered and not yet acknowledged, by id. */
  readonly inflight: Map<string, Job>;
  deliver(job: Job): void;
}

/** What a resubscribe recovers: the missed messages in order, or a gap saying why not all. */
export interface Recovery {
  messages: StoredMessage[];
  gap?: GapReason;
  /** The epoch and latest offset now: where the subscription continues from. */
  ep: string;
  off: number;
}

/** Counters an engine keeps for `broker.stats()`. */
export interface EngineStats extends BudgetStats {
  published: number;
  pushed: number;
  pushRejected: number;
  pushExpired: number;
  redelivered: number;
  /** Publishes and pushes an engine that remembers idempotency keys ({@link Engine.dedupes}) did not carry out again. */
  deduplicated?: number;
  /** Jobs waiting for a puller, all topics together (engines that know it cheaply). */
  queued?: number;
  /** Bytes of payload those waiting jobs hold (engines that know it cheaply). */
  queuedBytes?: number;
  /** Jobs taken back from a puller that did not settle them within its ack deadline. */
  ackExpired?: number;
}

/** One work queue as the admin page shows it. */
export interface QueueDepth {
  topic: string;
  /** Jobs waiting for a puller. */
  waiting: number;
  /** Pullers of the topic on this node. */
  pullers: number;
  /** Jobs handed to this node's pullers and not yet acknowledged. */
  inflight: number;
}

/**
 * Figures an engine reads from its backend when asked (a metrics scrape, the admin page), for
 * engines whose {@link Engine.stats} cannot know them without I/O (Redis): the work queues'
 * depth and the recovery histories' size, all nodes together.
 */
export interface EngineGauges
  extends Required<Pick<EngineStats, 'queued' | 'queuedBytes' | 'historyTopics' | 'historyMessages' | 'historyBytes'>> {
  /** The work queues with jobs waiting (at most 100), with this node's pullers and jobs in flight. */
  queues: QueueDepth[];
}

/** What the broker gives its engine: where to deliver what arrives for this node. */
export interface EngineHost {
  /** A publish on a topic this node listens to (called once per message per node). */
  deliverMessage(message: StoredMessage): void;
  /** A bus message on a topic this node has joined. */
  deliverBus(message: BusMessage): void;
  /** A presence join or leave on a topic this node watches (see {@link Engine.presence}). */
  deliverPresence?(event: PresenceEvent): void;
  /**
   * History was lost (e.g. Redis restarted empty): the epoch is now `ep`. Subscribers are told
   * with a `gap` (reason `epoch`) so they know messages may be missing.
   */
  epochChanged?(ep: string): void;
  /**
   * Messages of `topic` may not have reached this node and cannot be replayed (e.g. its
   * pub/sub connection was down longer than history reaches back): the subscribers of exactly
   * `topic` on this node are told with a `gap` (`ep`/`off`: the position now).
   */
  missed?(topic: string, reason: GapReason, ep: string, off: number): void;
  /** Where the engine logs (connection trouble, recoveries). */
  logger?: Logger;
  /** How long one command to the engine's backend took, in seconds (for the latency histogram). */
  commandTime?(seconds: number): void;
}

/** Whether an engine can serve operations now (`GET /rt/health` reports it). */
export interface EngineHealth {
  /** False while the engine cannot serve operations that need it (they fail with `unavailable`). */
  ok: boolean;
  /** What is wrong, when not ok; or a short state such as `connected`. */
  detail?: string;
}

/** An HTTP request as one node forwards it to another. */
export interface ForwardedRequest {
  method: string;
  /** Path and query. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** The owner node's answer to a {@link ForwardedRequest}. */
export interface ForwardedResponse {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: Buffer;
}

/**
 * Node-to-node request forwarding, so that no transport needs sticky sessions: the node that
 * owns a connection (a socket.io session, an SSE stream) claims its id; a request for it that
 * lands on another node is forwarded to the owner through the engine and answered from there.
 */
export interface Forwarding {
  /** This node owns `id` (a connection id) from now on. */
  claim(id: string): void;
  /** This node no longer owns `id`. */
  release(id: string): void;
  /** Sends `request` to the owner of `id`; resolves with its answer, or `undefined` when no node owns it. */
  forward(id: string, request: ForwardedRequest): Promise<ForwardedResponse | undefined>;
  /** How this node answers requests forwarded to it (set by the transport that owns the ids). */
  serve(handler: (request: ForwardedRequest) => Promise<ForwardedResponse>): void;
}

/** Settings every engine honours. */
export interface EngineLimits {
  /** Messages kept per topic for recovery. */
  historySize: number;
  /** How long a message stays in history, in ms. */
  historyTtlMs: number;
  /** Bytes all histories together may hold; past it the oldest messages go first. Default 64 MiB. */
  maxHistoryBytes?: number;
  /** Topics that may have a history; past it the least recently published topic's goes. Default 10,000. */
  maxHistoryTopics?: number;
  /** Topics that may keep a retained value; past it the least recently retained is dropped. Default 10,000. */
  maxRetainedTopics?: number;
  /** Pushes that may wait per topic while no puller takes them. */
  pushQueueSize: number;
  /** Bytes of payload that may wait per topic (absent: no bound). */
  pushQueueBytes?: number;
  /** Pushes that may wait on all topics together (absent: no bound). */
  pushTotalSize?: number;
  /** Bytes of payload that may wait on all topics together (absent: no bound). */
  pushTotalBytes?: number;
  /** How long a waiting push may wait before it expires, in ms (0: forever). */
  pushTtlMs: number;
  /**
   * After a nack, how long before the same puller may get the job back when no other puller
   * has room, in ms; it doubles with every attempt (at most 10 s). Another puller with room
   * gets it at once.
   */
  redeliveryDelayMs: number;
  /**
   * How long an idempotency key is remembered, in ms, by engines that remember them
   * themselves ({@link Engine.dedupes}). Default 5 minutes.
   */
  dedupeTtlMs?: number;
}

/**
 * Everything that must be shared between broker processes: fan-out between nodes, history
 * for recovery, and the push/pull work queues. `memory` is the embedded default; a
 * distributed engine (Redis) implements the same interface.
 */
export interface Engine {
  readonly name: string;
  start(host: EngineHost, limits: EngineLimits): Promise<void>;
  close(): Promise<void>;
  /** The current epoch: it changes when history is lost (e.g. the in-memory engine restarted). */
  epoch(): string;
  /**
   * Whether the engine remembers idempotency keys itself, shared by every node (the `key` of
   * {@link Engine.publish} and {@link Engine.push}): a resend that lands on another node is
   * then carried out once. Engines without it (memory: one node) leave it to the broker.
   */
  readonly dedupes?: boolean;
  /**
   * Stores `data` in the history of `topic`, of its ancestors and of the root `''`, and fans it
   * out; resolves when accepted (see {@link PublishOptions} for `dataText`, `key`, `meta`).
   */
  publish(topic: string, data: Payload, options?: PublishOptions): Promise<StoredMessage>;
  /**
   * This node has subscribers of `topic` (called for each new subscription; idempotent while
   * listened). Resolves once messages published from then on will be delivered; rejects (e.g.
   * `unavailable`) when they cannot. `''` is the root: the node wants every message (the
   * Mercure hub asks for it while it has subscribers, since its selectors and alternate topics
   * do not follow rt's hierarchy).
   */
  listen(topic: string): Promise<void>;
  /**
   * This node has no subscriber of `topic` left (`''`: the root, see {@link listen}). Resolves
   * once the engine stopped sending it here (never rejects).
   */
  unlisten(topic: string): void | Promise<void>;
  /**
   * What `topic`'s subtree published after position (`ep`, `off`). `''` is the root: every
   * topic's messages in publish order (its history is bounded like any topic's).
   */
  recover(topic: string, ep: string, off: number): Promise<Recovery>;
  /** The current position, for a fresh subscription. */
  position(): Promise<{ ep: string; off: number }>;
  /**
   * Resolves once every message published before the call, on the topics this node listens
   * to, has been delivered to the host (a fresh subscription's answer must not overtake one).
   * Engines that deliver before `publish` and `position` resolve need not have it.
   */
  caughtUp?(): Promise<void>;
  /**
   * The retained values (see {@link PublishOptions.retain}) of `topic` and its descendants, of
   * the current epoch, in offset order.
   */
  retained(topic: string): Promise<StoredMessage[]>;
  sendBus(message: BusMessage): Promise<void>;
  /** This node has peers joined to `topic` (called for each join, idempotent); resolves once bus messages will be delivered. */
  listenBus(topic: string): Promise<void>;
  /** This node has no peer of `topic` left (see {@link Engine.unlisten}). */
  unlistenBus(topic: string): void | Promise<void>;
  /**
   * Queues a job; rejects with `queue_full` past a push budget (`pushQueueSize`,
   * `pushQueueBytes`, `pushTotalSize`, `pushTotalBytes`), naming it. With `key`
   * (an engine that {@link Engine.dedupes}), a push with a key seen within `dedupeTtlMs` is not queued again.
   */
  push(topic: string, data: Payload, dataText?: string, key?: string): Promise<void>;
  addPuller(puller: PullerHandle): void;
  /** Removes a puller; the jobs it held go back to the queue, first in line. */
  removePuller(puller: PullerHandle): void;
  /** Marks a job done. False when the puller holds no job with that id. */
  ack(puller: PullerHandle, id: string): Promise<boolean>;
  /**
   * Puts a job back in the queue (first in line where the engine can), for another puller;
   * the same puller gets it back only after `redeliveryDelayMs` (growing with each attempt),
   * so a puller that keeps failing does not spin. False when the puller holds no job with that id.
   */
  nack(puller: PullerHandle, id: string): Promise<boolean>;
  stats(): EngineStats;
  /** Request forwarding between nodes, for engines that span several (memory has none: one node owns everything). */
  readonly forwarding?: Forwarding;
  /** Whether the engine can serve operations now. Engines that cannot fail (memory) may leave it out. */
  health?(): EngineHealth;
  /**
   * Readiness, deeper than {@link health}: the backend answers now and this node's
   * subscriptions to it are re-established after a reconnect (`GET /rt/readyz`). Without it,
   * {@link health} decides.
   */
  ready?(): Promise<EngineHealth>;
  /** The work queues this engine knows of, with their depth (for the admin page; optional). */
  queueDepths?(): QueueDepth[];
  /**
   * Reads queue depths and history sizes from the backend (see {@link EngineGauges}); called
   * only when metrics are scraped or the admin page polls. Engines whose {@link stats} and
   * {@link queueDepths} already hold them (memory) leave it out.
   */
  gauges?(): Promise<EngineGauges>;
  /** Who is on which topic (see `engines/presence.ts`); without it, presence operations fail with `unavailable`. */
  readonly presence?: PresenceStore;
}
