/** The broker's counters, as `broker.stats()` gives them (a leaf module: the metrics read it too). */
/** Counters for monitoring: `broker.stats()`. */
export interface BrokerStats extends BudgetStats {
  sessions: number;
  framesIn: number;
  badFrames: number;
  published: number;
  pushed: number;
  pushRejected: number;
  pushExpired: number;
  redelivered: number;
  /** Jobs taken back from a puller that did not acknowledge them within its ack deadline (`ackTimeoutMs`). */
  ackExpired: number;
  /** Payload bytes of the jobs waiting for a puller, all topics (engines that know it cheaply: memory). */
  queuedBytes?: number;
  /** Messages dropped from the queues of connections that could not keep up (policy `drop`). */
  outboundDropped: number;
  /** Connections dropped because they could not keep up. */
  slowDisconnects: number;
  /** Bytes queued for connections and not yet written to their transports, all connections together. */
  outboundQueued: number;
  /** Publishes and pushes resent with a key already seen, answered without being carried out again. */
  deduplicated: number;
  /** Messages left out of replays (recoveries) because the connection could not take them within its outbound bound. */
  replayDropped: number;
  /** Idempotency keys remembered now (at most `limits.dedupeSize`; expired ones are pruned on a timer). */
  idempotencyKeys: number;
  engine: string;
}

/** The memory budgets' figures (history and retained values), as an engine reports them and `broker.stats()` passes them on. */
export interface BudgetStats {
  /** Topics with a recovery history, ancestors included (at most `limits.maxHistoryTopics`; engines that know it: memory). */
  historyTopics?: number;
  /** Messages held in recovery histories, each once (engines that know it: memory). */
  historyMessages?: number;
  /** Bytes those messages take (at most `limits.maxHistoryBytes`; memory; Redis: the cluster's, as of this node's last publish). */
  historyBytes?: number;
  /** Messages evicted from history early because of `limits.maxHistoryBytes`. */
  historyEvicted?: number;
  /** Topic histories evicted because of `limits.maxHistoryTopics`. */
  historyTopicsEvicted?: number;
  /** Topics holding a retained value (at most `limits.maxRetainedTopics`; engines that know it: memory). */
  retainedTopics?: number;
  /** Retained values dropped because of `limits.maxRetainedTopics`, least recently retained first. */
  retainedEvicted?: number;
}
