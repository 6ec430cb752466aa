import type { PresenceMember } from '@rt/protocol';
import type { RouteHandler } from '../http.js';
import type { Logger } from '../options.js';
import type { Session } from '../session.js';
import type { BrokerStats } from '../stats.js';
import type { OpsCounters } from './counters.js';
import type { ResolvedAdminOptions, ResolvedMetricsOptions } from './options.js';

/** The broker's counters as `broker.stats()` gives them, plus what engines report cheaply. */
export interface MonitorStats extends BrokerStats {
  /** Jobs waiting for a puller (engines that report it). */
  queued?: number;
}

/**
 * What an engine reads from its backend when asked (Redis: queue depth and history sizes of
 * all nodes), on top of {@link MonitorStats}.
 */
export interface MonitorGauges
  extends Pick<MonitorStats, 'queued' | 'queuedBytes' | 'historyTopics' | 'historyMessages' | 'historyBytes'> {
  queues: MonitorQueue[];
}

/** Whether the engine can serve, and why not. */
interface MonitorHealth {
  ok: boolean;
  detail?: string;
}

/** One work queue with its depth. */
interface MonitorQueue {
  topic: string;
  waiting: number;
  pullers: number;
  inflight: number;
}

/** Connections a door holds outside sessions (the Mercure hub's subscribers). */
export interface SessionlessConnections {
  door: string;
  transport: string;
  count: number;
}

/**
 * What the operations endpoints (probes, metrics, admin page) read from the broker: a narrow
 * view the broker builds, so this module depends on neither the broker nor the engine.
 */
export interface MonitorSource {
  readonly prefix: string;
  readonly mode: 'development' | 'production';
  readonly metrics: ResolvedMetricsOptions;
  readonly admin: ResolvedAdminOptions;
  readonly logger: Logger;
  readonly counters: OpsCounters;
  /** True while the broker closes or after. */
  readonly isClosing: boolean;
  /** Resolves once the engine started. */
  whenReady(): Promise<void>;
  addRoute(method: string, path: string, handler: RouteHandler): void;
  stats(): MonitorStats;
  /** This node's open sessions. */
  sessions(): Iterable<Session>;
  sessionless(): SessionlessConnections[];
  /** The engine's quick health (no I/O). */
  health(): MonitorHealth;
  /** The engine's readiness (may ask the backend). */
  ready(): Promise<MonitorHealth>;
  /** The engine's work queues, when it reports them. */
  queues(): MonitorQueue[] | undefined;
  /**
   * Figures the engine reads from its backend (Redis), or undefined when its {@link stats} and
   * {@link queues} already hold them (memory); the last ones read while the backend does not answer.
   */
  gauges(): Promise<MonitorGauges | undefined>;
  /** The presence members of `topic` (every node's). */
  presence(topic: string): Promise<PresenceMember[]>;
}
