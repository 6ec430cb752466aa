import { pino } from 'pino';
import { redacting } from './policy/redact.js';
import type { Engine } from './engines/engine.js';
import type { MercureOptions } from './mercure/options.js';
import type { TlsOptions } from './http2.js';
import {
  type AdminOptions,
  type MetricsOptions,
  type ResolvedAdminOptions,
  type ResolvedMetricsOptions,
  resolveAdmin,
  resolveMetrics,
} from './metrics/options.js';
import { retainPatternProblem } from './ops/retain.js';
import { DEFAULT_LIMITS, type Limits, type Logger } from './options.js';
import type { Grants } from './policy/grants.js';
import type { JwtOptions } from './policy/jwt.js';
import type { Authenticate, Authorize } from './policy/policy.js';
import type { Identity, SlowConsumerPolicy } from './session.js';

export type { Authenticate, Authorize } from './policy/policy.js';

/** What an action handler gets besides the payload. */
export interface ActionContext {
  /** The caller's identity, as authentication established it (`null` when anonymous). */
  identity: Identity;
  /** The caller's session id. */
  sessionId: string;
}

/** An action: request/response between a client and the broker (`client.call(name, payload)`). */
export type ActionHandler = (session: ActionContext, payload: unknown) => unknown;

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
  /**
   * Origins allowed to connect (`Origin` header), e.g. `['example.com', 'http://localhost:*']`:
   * `example.com` (it and its subdomains, any scheme and port), `*.example.com`,
   * `*://www.example.com`, `https://www.example.com:*`, or `*`. When set, a connection with
   * no or another Origin is refused with 401, and CORS answers follow the same list.
   * Default: any origin.
   */
  allowOrigin?: string | readonly string[];
  /** Verify JWTs (HS256, RS256, ES256, ...) presented by clients; their `rt` claim grants topics. */
  jwt?: JwtOptions;
  /**
   * Authenticates each connection and HTTP request (after the JWT, which it sees as
   * `request.jwt`): return an identity, `null` for anonymous, or throw to refuse with 401.
   */
  authenticate?: Authenticate;
  /**
   * Whether connections without credentials are admitted. Default: true when neither `jwt` nor
   * `authenticate` is set, else false. Give grants (`{ subscribe: ['news'] }`) to let
   * anonymous connections in with those rights; `true` admits them with none (actions only,
   * unless `authorize` says otherwise).
   */
  allowAnonymous?: boolean | Grants;
  /** Name of the cookie a token may come in. Default `rt_token`. */
  tokenCookie?: string;
  /**
   * Per-operation authorization hook (sync or async). Default: with `jwt` or `authenticate`,
   * the identity's `rt` grants decide; without, everything is allowed.
   */
  authorize?: Authorize;
  /**
   * `POST {prefix}/publish`: `true` (default) authenticates and authorizes each request like
   * a connection (a token with `rt.publish` covering the topic, when connections
   * authenticate); `'open'` lets anyone who can reach it publish; `false` turns it off.
   */
  httpPublish?: boolean | 'open';
  /**
   * Interval of keep-alive traffic, in ms: comment lines on SSE streams (so proxies keep them
   * open), `ping` events SDK clients watch to detect a stalled stream, and pings on raw
   * WebSocket and socket.io connections: a socket.io connection that answers none for about
   * `pingTimeoutMs` after a ping is closed (its pulled jobs go to other pullers). Default 15,000.
   */
  heartbeatMs?: number;
  /**
   * How long a socket.io peer (WebSocket or long-polling) may take to answer a ping, in ms: a
   * peer gone silent is found within `heartbeatMs + pingTimeoutMs`, and its session closed
   * (20 s with the defaults). A long-polling peer whose last poll's TCP connection closes with
   * no new poll is found within 3 s. Default `min(5000, heartbeatMs)`.
   */
  pingTimeoutMs?: number;
  /** The SSE `retry:` a plain `EventSource` waits before it reconnects, in ms. Default 2,000. */
  sseRetryMs?: number;
  /**
   * Where the Mercury-compatible raw endpoints (`/bus/<topic>`, `/sub/<topic>`, `/pub/<topic>`,
   * `/push/<topic>`, `/pull/<topic>`) are mounted: `''` (default) at the root, as Mercury
   * does; a path such as `/mercury` to keep the root for an application that embeds the
   * broker; `false` to turn them off.
   */
  rawPrefix?: string | false;
  /**
   * What happens to a connection that cannot keep up (its outbound queue passed
   * `limits.maxOutboundBytes`): `drop` (default) discards its oldest queued messages and sends
   * it a `gap` (reason `overflow`) per affected subscription or bus; `disconnect` drops the
   * connection (the client reconnects and recovers what history still holds). Either way
   * `broker.stats()` counts it.
   */
  slowConsumer?: SlowConsumerPolicy;
  /**
   * Latest-value topics: a topic matching one of these patterns keeps its last message, and a
   * new subscriber gets it at once (`retained: true`), as with a publish's `retain: true`. A
   * pattern is a topic (that topic only), `topic/#` (the topic and its descendants), or `#`
   * (every topic); `+` stands for one segment (`sensors/+/temp`). Default none.
   */
  retain?: readonly string[];
  /**
   * The Mercure hub at `/.well-known/mercure` (subscribe, publish, subscriptions API) on rt's
   * topics, engine and history. Off by default (`/.well-known/mercure` may belong to the host
   * application or to another hub); `true` turns it on with anonymous subscribers and no
   * Mercure publishing (there is no key to check publishers against).
   */
  mercure?: MercureOptions | boolean;
  /**
   * Serve HTTPS from `listen()`: HTTP/2 over TLS, and HTTP/1.1 for clients without HTTP/2
   * (`allowHTTP1`, default true; WebSocket needs it). To embed, pass your own
   * `http2.createSecureServer({ allowHTTP1: true, ... })` to `attach()` instead.
   */
  tls?: TlsOptions;
  /**
   * Prometheus metrics at `{prefix}/metrics` (see `README.md`, Operations). Off by default;
   * `{ token }` or `{ listen }` turns them on protected; `true` (development mode only) open.
   */
  metrics?: MetricsOptions | boolean;
  /**
   * The admin page at `{prefix}/admin`: on in development mode, off in production unless
   * `{ token }` is given; `false` turns it off.
   */
  admin?: AdminOptions | boolean;
}

/** Options with every default filled in. */
export interface ResolvedOptions {
  engine: Engine;
  limits: Limits;
  mode: 'development' | 'production';
  playground: string | false;
  logger: Logger;
  prefix: string;
  allowOrigin: string | readonly string[] | undefined;
  jwt: JwtOptions | undefined;
  authenticate: Authenticate | undefined;
  allowAnonymous: boolean | Grants | undefined;
  tokenCookie: string;
  authorize: Authorize | undefined;
  httpPublish: boolean | 'open';
  heartbeatMs: number;
  pingTimeoutMs: number;
  sseRetryMs: number;
  rawPrefix: string | false;
  slowConsumer: SlowConsumerPolicy;
  /** Latest-value topic patterns (checked). */
  retain: readonly string[];
  /** The Mercure options as given (checked by the Mercure transport); `false` when off. */
  mercure: MercureOptions | false;
  tls: TlsOptions | undefined;
  /** Metrics options, `false` when off. */
  metrics: ResolvedMetricsOptions;
  /** Admin page options, `false` when off. */
  admin: ResolvedAdminOptions;
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
  if (mode !== 'development' && mode !== 'production')
    throw new TypeError(`mode must be "development" or "production"`);
  const prefix = (options.prefix ?? '/rt').replace(/\/+$/, '');
  if (!prefix.startsWith('/')) throw new TypeError('prefix must start with "/"');
  const httpPublish = options.httpPublish ?? true;
  if (httpPublish !== true && httpPublish !== false && httpPublish !== 'open')
    throw new TypeError('httpPublish must be true, false or "open"');
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  if (!Number.isFinite(heartbeatMs) || heartbeatMs < 100)
    throw new TypeError('heartbeatMs must be a number of ms, at least 100');
  const pingTimeoutMs = options.pingTimeoutMs ?? Math.min(5000, heartbeatMs);
  if (!Number.isFinite(pingTimeoutMs) || pingTimeoutMs < 100)
    throw new TypeError('pingTimeoutMs must be a number of ms, at least 100');
  const sseRetryMs = options.sseRetryMs ?? 2000;
  if (!Number.isSafeInteger(sseRetryMs) || sseRetryMs < 0)
    throw new TypeError('sseRetryMs must be a non-negative integer');
  const rawPrefix = options.rawPrefix === false ? false : (options.rawPrefix ?? '').replace(/\/+$/, '');
  if (rawPrefix !== false && rawPrefix !== '' && !rawPrefix.startsWith('/'))
    throw new TypeError('rawPrefix must start with "/"');
  const slowConsumer = options.slowConsumer ?? 'drop';
  if (slowConsumer !== 'drop' && slowConsumer !== 'disconnect')
    throw new TypeError('slowConsumer must be "drop" or "disconnect"');
  const retain = options.retain ?? [];
  if (!Array.isArray(retain)) throw new TypeError('retain must be an array of topic patterns');
  for (const pattern of retain) {
    const problem = retainPatternProblem(pattern);
    if (problem !== null) throw new TypeError(problem);
  }
  // Every line goes through the redactor: tokens, cookies and session URLs never reach a log.
  const logger = redacting(
    isLogger(options.logger)
      ? options.logger
      : pino({ name: 'rt', level: options.logger?.level ?? process.env.RT_LOG_LEVEL ?? 'warn' }),
  );
  return {
    engine: options.engine ?? defaultEngine(),
    limits,
    mode,
    playground: options.playground ?? false,
    logger,
    prefix,
    allowOrigin: options.allowOrigin,
    jwt: options.jwt,
    authenticate: options.authenticate,
    allowAnonymous: options.allowAnonymous,
    tokenCookie: options.tokenCookie ?? 'rt_token',
    authorize: options.authorize,
    httpPublish,
    heartbeatMs,
    pingTimeoutMs,
    sseRetryMs,
    rawPrefix,
    slowConsumer,
    retain,
    mercure: options.mercure === true ? {} : options.mercure || false,
    tls: options.tls,
    metrics: resolveMetrics(options.metrics, mode),
    admin: resolveAdmin(options.admin, mode),
  };
}
