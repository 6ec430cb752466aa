/**
 * Options of the Mercure hub (`createBroker({ mercure: { ... } })`, or `mercure` in
 * `rt.config.json`, or `RT_MERCURE_*` variables).
 */

import type { JwtKey } from '../policy/jwt.js';

/**
 * A key that verifies JWTs, as rt's own `jwt` option takes it (see `JwtKey`): an HMAC secret,
 * a PEM public key or certificate, a JWK, a JWK Set, a JWKS URL, or a Node `KeyObject`.
 */
export type MercureKey = JwtKey;

/** Options of the Mercure hub. Every one is optional. */
export interface MercureOptions {
  /** Verifies both publisher and subscriber tokens (unless one of the two below is set). */
  key?: MercureKey;
  /** Verifies publisher tokens. Without any key, nobody can publish through `POST /.well-known/mercure`. */
  publisherKey?: MercureKey;
  /** Verifies subscriber tokens. */
  subscriberKey?: MercureKey;
  /**
   * Whether subscribers without a token are accepted (they receive public updates only).
   * Default: true when no subscriber key is set, else false. A token that is present but
   * invalid is refused (401) either way.
   */
  anonymous?: boolean;
  /** Algorithms accepted (default: every one that fits the key's type). */
  algorithms?: string[];
  /** `aud` every token must carry (draft-08 access tokens name the hub's resource identifier). Default: not checked. */
  audience?: string | string[];
  /** `iss` every token must carry. Default: not checked. */
  issuer?: string | string[];
  /** Name of the cookie holding the token. Default `mercureAuthorization`. */
  cookieName?: string;
  /**
   * Origins allowed to publish with a cookie (CSRF protection: a cookie-authenticated POST
   * must come with a matching `Origin` or `Referer`; `*` allows any). Default: none, so only
   * same-origin pages can publish with a cookie. POSTs with a Bearer header are not checked.
   */
  publishOrigins?: string[];
  /**
   * Origins allowed by CORS (with credentials) on the hub's endpoints; `*` allows any.
   * Default: rt's `allowOrigin` rules when set, else none (no CORS headers).
   */
  corsOrigins?: string[];
  /**
   * How messages published through rt (SDK, `broker.publish`, `POST /rt/publish`) reach Mercure
   * subscribers: `public` (to every subscriber whose selectors match), or `private` (only to
   * those whose token's `mercure.subscribe` also matches, as a private update). Default:
   * `private` when rt restricts who may subscribe to what (an `authorize` hook, or
   * authentication with `jwt` or `authenticate`: Mercure subscribers must not get around it),
   * else `public`.
   */
  rtMessages?: 'public' | 'private';
  /** Publishes subscription events and serves `/.well-known/mercure/subscriptions`. Default false. */
  subscriptions?: boolean;
  /** Idle time before a `:` heartbeat comment is written, in ms (0: none). Default 40,000 as the reference hub. */
  heartbeatMs?: number;
  /** Most `topic`/`match` parameters per subscription request, and topics per update. Default 1,000. */
  maxTopics?: number;
  /**
   * Bytes a subscriber may leave unread in its connection's buffer. Past it, the subscriber has
   * `dispatchTimeoutMs` to drain its buffer, and is cut off at once past 8 times it; a cut-off
   * subscriber reconnects with `Last-Event-ID` and recovers from history. Default 1 MiB.
   */
  maxBufferedBytes?: number;
  /** How long a subscriber past `maxBufferedBytes` may take to drain, in ms. Default 5,000 (the reference hub's `dispatch_timeout`). */
  dispatchTimeoutMs?: number;
}

/** Mercure options with defaults filled in. */
export interface ResolvedMercureOptions {
  publisherKey: MercureKey | undefined;
  subscriberKey: MercureKey | undefined;
  anonymous: boolean;
  audience: string | string[] | undefined;
  issuer: string | string[] | undefined;
  algorithms: string[] | undefined;
  cookieName: string;
  publishOrigins: string[];
  corsOrigins: string[];
  rtMessages: 'public' | 'private';
  subscriptions: boolean;
  heartbeatMs: number;
  maxTopics: number;
  maxBufferedBytes: number;
  dispatchTimeoutMs: number;
}

function checkKey(key: unknown, name: string): MercureKey | undefined {
  if (key === undefined) return undefined;
  if (
    (typeof key === 'string' && key.length > 0) ||
    key instanceof Uint8Array ||
    (typeof key === 'object' && key !== null)
  ) {
    // What kind of key it is, and whether it reads, is the JWT verifier's to say.
    return key as MercureKey;
  }
  throw new TypeError(`mercure.${name} must be a secret, a PEM key, a JWK, a JWK Set, a JWKS URL or a KeyObject`);
}

function nonNegative(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`mercure.${name} must be a non-negative number, got ${String(value)}`);
  }
  return value;
}

function strings(value: unknown, name: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    throw new TypeError(`mercure.${name} must be a list of strings`);
  return value as string[];
}

function rtMessages(value: unknown, rtAuthorizes: boolean): 'public' | 'private' {
  if (value === undefined) return rtAuthorizes ? 'private' : 'public';
  if (value === 'public' || value === 'private') return value;
  throw new TypeError('mercure.rtMessages must be "public" or "private"');
}

/**
 * Fills in defaults and checks `options`; throws a `TypeError` naming the first bad option.
 * `rtAuthorizes`: whether the broker restricts subscriptions (see `rtMessages`).
 */
export function resolveMercureOptions(options: MercureOptions, rtAuthorizes: boolean): ResolvedMercureOptions {
  const key = checkKey(options.key, 'key');
  const publisherKey = checkKey(options.publisherKey, 'publisherKey') ?? key;
  const subscriberKey = checkKey(options.subscriberKey, 'subscriberKey') ?? key;
  if (options.anonymous !== undefined && typeof options.anonymous !== 'boolean')
    throw new TypeError('mercure.anonymous must be a boolean');
  const cookieName = options.cookieName ?? 'mercureAuthorization';
  if (typeof cookieName !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookieName))
    throw new TypeError('mercure.cookieName must be a cookie name');
  return {
    publisherKey,
    subscriberKey,
    anonymous: options.anonymous ?? subscriberKey === undefined,
    audience: options.audience,
    issuer: options.issuer,
    algorithms: options.algorithms === undefined ? undefined : strings(options.algorithms, 'algorithms'),
    cookieName,
    publishOrigins: strings(options.publishOrigins, 'publishOrigins'),
    corsOrigins: strings(options.corsOrigins, 'corsOrigins'),
    rtMessages: rtMessages(options.rtMessages, rtAuthorizes),
    subscriptions: options.subscriptions ?? false,
    heartbeatMs: nonNegative(options.heartbeatMs, 'heartbeatMs', 40_000),
    maxTopics: nonNegative(options.maxTopics, 'maxTopics', 1000),
    maxBufferedBytes: nonNegative(options.maxBufferedBytes, 'maxBufferedBytes', 1024 * 1024),
    dispatchTimeoutMs: nonNegative(options.dispatchTimeoutMs, 'dispatchTimeoutMs', 5000),
  };
}
