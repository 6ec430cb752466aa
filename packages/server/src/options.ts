import { pino } from 'pino';
import type { ClientOp } from '@rt/protocol';
import type { Engine } from './engines/engine.js';
import type { Identity, Session } from './session.js';

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
  /** How long a waiting push may wait, in ms; 0 waits forever. Default 0. */
  pushTtlMs: number;
  /** Messages kept per topic for recovery after reconnect. Default 1,000. */
  historySize: number;
  /** How long a message is kept for recovery, in ms. Default 5 minutes. */
  historyTtlMs: number;
}

/** The default {@link Limits}. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxPayloadBytes: 1024 * 1024,
  maxSubscriptions: 1000,
  maxTopicLength: 256,
  maxTopicDepth: 16,
  pushQueueSize: 10_000,
  pushTtlMs: 0,
  historySize: 1000,
  historyTtlMs: 5 * 60_000,
});

/** The logger rt writes to: pino's shape (`logger.info(obj, msg)` or `logger.info(msg)`). */
export interface Logger {
  debug(obj: unknown, msg?: string): void;
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
}

/** What an action handler gets besides the payload. */
export interface ActionContext {
  /** The caller's identity, as authentication established it (`null` when anonymous). */
  identity: Identity;
  /** The caller's session id. */
  sessionId: string;
}

/** An action: request/response between a client and the broker (`client.call(name, payload)`). */
export type ActionHandler = (session: ActionContext, payload: unknown) => unknown;

/**
 * Decides whether `identity` may do `op` on `topic`. Return `false` (or throw) to refuse
 * with a `forbidden` error for that operation only; the connection lives on.
 */
export type Authorize = (identity: Identity, op: ClientOp, topic: string, session: Session) => boolean | Promise<boolean>;

/** Options of {@link createBroker}. */
export interface BrokerOptions {
  /** The engine: `memory()` (default, one process) or a distributed one such as Redis. */
  engine?: Engine;
  /** Limits; anything left out keeps its default ({@link DEFAULT_LIMITS}). */
  limits?: Partial<Limits>;
  /** `development` (default) serves the example app at `/`; `production` serves nothing but rt's endpoints. */
  mode?: 'development' | 'production';
  /** Folder served at `/` in development mode. Default: the repository's `playground/` when present. */
  playground?: string | false;
  /** A pino-compatible logger, or pino options. Default: pino at level `warn` (`RT_LOG_LEVEL` overrides). */
  logger?: Logger | { level?: string };
  /** Path prefix of rt's own HTTP endpoints (socket.io, SSE, publish, health). Default `/rt`. */
  prefix?: string;
  /** Per-operation authorization hook. Default: everything is allowed. */
  authorize?: Authorize;
  /** Whether `POST {prefix}/publish` is open to anyone who can reach it. Default true (the security issue tightens this). */
  httpPublish?: boolean;
  /**
   * Interval of keep-alive traffic, in ms: comment lines on SSE streams (so proxies keep them
   * open), `ping` events SDK clients watch to detect a stalled stream, and pings on raw
   * WebSocket connections. Default 15,000.
   */
  heartbeatMs?: number;
  /** The SSE `retry:` a plain `EventSource` waits before it reconnects, in ms. Default 2,000. */
  sseRetryMs?: number;
  /**
   * Where the Mercury-compatible raw endpoints (`/bus/<topic>`, `/sub/<topic>`, `/pub/<topic>`,
   * `/push/<topic>`, `/pull/<topic>`) are mounted: `''` (default) at the root, as Mercury
   * does; a path such as `/mercury` to keep the root for an application that embeds the
   * broker; `false` to turn them off.
   */
  rawPrefix?: string | false;
}

/** Options with every default filled in. */
export interface ResolvedOptions {
  engine: Engine;
  limits: Limits;
  mode: 'development' | 'production';
  playground: string | false;
  logger: Logger;
  prefix: string;
  authorize: Authorize | undefined;
  httpPublish: boolean;
  heartbeatMs: number;
  sseRetryMs: number;
  rawPrefix: string | false;
}

function isLogger(value: unknown): value is Logger {
  return typeof value === 'object' && value !== null && typeof (value as Logger).warn === 'function';
}

/** Fills in defaults and checks `options`; throws a `TypeError` naming the first bad option. */
export function resolveOptions(options: BrokerOptions, defaultEngine: () => Engine): ResolvedOptions {
  const limits: Limits = { ...DEFAULT_LIMITS };
  for (const [key, value] of Object.entries(options.limits ?? {})) {
    if (!(key in DEFAULT_LIMITS)) throw new TypeError(`unknown limit "${key}"`);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new TypeError(`limit "${key}" must be a non-negative number, got ${String(value)}`);
    }
    limits[key as keyof Limits] = value;
  }
  const mode = options.mode ?? 'development';
  if (mode !== 'development' && mode !== 'production') throw new TypeError(`mode must be "development" or "production"`);
  const prefix = (options.prefix ?? '/rt').replace(/\/+$/, '');
  if (!prefix.startsWith('/')) throw new TypeError('prefix must start with "/"');
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  if (!Number.isFinite(heartbeatMs) || heartbeatMs < 100) throw new TypeError('heartbeatMs must be a number of ms, at least 100');
  const sseRetryMs = options.sseRetryMs ?? 2000;
  if (!Number.isSafeInteger(sseRetryMs) || sseRetryMs < 0) throw new TypeError('sseRetryMs must be a non-negative integer');
  const rawPrefix = options.rawPrefix === false ? false : (options.rawPrefix ?? '').replace(/\/+$/, '');
  if (rawPrefix !== false && rawPrefix !== '' && !rawPrefix.startsWith('/')) throw new TypeError('rawPrefix must start with "/"');
  const logger = isLogger(options.logger)
    ? options.logger
    : pino({ name: 'rt', level: options.logger?.level ?? process.env.RT_LOG_LEVEL ?? 'warn' });
  return {
    engine: options.engine ?? defaultEngine(),
    limits,
    mode,
    playground: options.playground ?? false,
    logger,
    prefix,
    authorize: options.authorize,
    httpPublish: options.httpPublish ?? true,
    heartbeatMs,
    sseRetryMs,
    rawPrefix,
  };
}
