/**
 * The settings the engines share with the broker: limits and the logger. A leaf of the
 * import graph (engines import it); the broker's own options are in `broker-options.ts`.
 */

/** Limits of one broker. Every one has a default; all are configurable. */
export interface Limits {
  /** Largest payload of a message, in bytes (UTF-8 JSON or raw bytes). Default 1 MiB. */
  maxPayloadBytes: number;
  /** Subscriptions, bus joins and pullers one connection may hold, together. Default 1,000. */
  maxSubscriptions: number;
  /** Longest topic in characters. Default 256. */
  maxTopicLength: number;
  /** Most segments in a topic. Default 16. */
  maxTopicDepth: number;
  /** Pushes that may wait per topic while no puller takes them; past it a push is rejected with `queue_full`. Default 10,000. */
  pushQueueSize: number;
  /** Bytes of payload that may wait per topic; past it a push is rejected with `queue_full`. Default 16 MiB. */
  pushQueueBytes: number;
  /** Pushes that may wait on all topics together; past it a push is rejected with `queue_full`. Default 100,000. */
  pushTotalSize: number;
  /** Bytes of payload that may wait on all topics together; past it a push is rejected with `queue_full`. Default 64 MiB. */
  pushTotalBytes: number;
  /** How long a waiting push may wait, in ms; 0 waits forever. Expired pushes are counted (`pushExpired`). Default 1 hour. */
  pushTtlMs: number;
  /**
   * How long a pulled job may stay unacknowledged, in ms, unless the pull asks for another
   * deadline: past it, the job goes back first in line to another puller, as a further
   * attempt, and the puller holds one job at a time until it acks one. Default 30 s.
   */
  ackTimeoutMs: number;
  /** Longest ack deadline a pull may ask for, in ms (a longer one is cut to it). Default 15 minutes. */
  maxAckTimeoutMs: number;
  /** Most jobs one puller may hold unacknowledged (a larger `prefetch` is cut to it). Default 100. */
  maxPrefetch: number;
  /**
   * After a nack (a pull handler that threw), how long before the same puller may get the job
   * again when no other puller has room, in ms; doubles with each attempt, at most 10 s.
   * Default 100.
   */
  redeliveryDelayMs: number;
  /** Messages kept per topic for recovery after reconnect. Default 1,000. */
  historySize: number;
  /** How long a message is kept for recovery, in ms. Default 5 minutes. */
  historyTtlMs: number;
  /**
   * Bytes the recovery history of all topics together may hold (each message once: its
   * payload's JSON text or bytes, its topic and 128 bytes of bookkeeping); past it the oldest
   * messages broker-wide are evicted, and a client recovering past them gets a `history` gap.
   * Default 64 MiB.
   */
  maxHistoryBytes: number;
  /**
   * Topics (ancestors included) that may have a recovery history; past it the history of the
   * least recently published topic is evicted (a `history` gap for whoever recovers past it).
   * Default 10,000.
   */
  maxHistoryTopics: number;
  /**
   * Outbound bound of one connection, in bytes: the broker stops writing to a connection
   * whose transport holds this much the peer has not taken, and queues instead; when the
   * queue passes it too, the `slowConsumer` policy applies. 0: no bound. Default 4 MiB.
   */
  maxOutboundBytes: number;
  /**
   * How long the broker remembers the idempotency key of a publish or push, in ms: a resend
   * with the same key within it is answered with the first outcome, not carried out again.
   * Default 5 minutes.
   */
  dedupeTtlMs: number;
  /** Most idempotency keys remembered (the oldest are forgotten first). Default 100,000. */
  dedupeSize: number;
  /**
   * Topics that may keep a retained (latest) value; past it the value retained least recently
   * is dropped (a later subscriber of that topic gets no retained value, live messages are
   * unaffected). Default 10,000.
   */
  maxRetainedTopics: number;
  /** Members one topic's presence may have (all nodes together); past it a join is refused with `too_many_members`. Default 1,000. */
  maxPresenceMembers: number;
}

/** The default {@link Limits}. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxPayloadBytes: 1024 * 1024,
  maxSubscriptions: 1000,
  maxTopicLength: 256,
  maxTopicDepth: 16,
  pushQueueSize: 10_000,
  pushQueueBytes: 16 * 1024 * 1024,
  pushTotalSize: 100_000,
  pushTotalBytes: 64 * 1024 * 1024,
  pushTtlMs: 60 * 60_000,
  ackTimeoutMs: 30_000,
  maxAckTimeoutMs: 15 * 60_000,
  maxPrefetch: 100,
  redeliveryDelayMs: 100,
  historySize: 1000,
  historyTtlMs: 5 * 60_000,
  maxHistoryBytes: 64 * 1024 * 1024,
  maxHistoryTopics: 10_000,
  maxOutboundBytes: 4 * 1024 * 1024,
  dedupeTtlMs: 5 * 60_000,
  dedupeSize: 100_000,
  maxPresenceMembers: 1000,
  maxRetainedTopics: 10_000,
});

/** The logger rt writes to: pino's shape (`logger.info(obj, msg)` or `logger.info(msg)`). */
export interface Logger {
  debug(obj: unknown, msg?: string): void;
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
}
