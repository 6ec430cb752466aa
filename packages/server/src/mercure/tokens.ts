/**
 * Mercure tokens: where they come from, how they are verified (`jose`), and what they allow.
 *
 * Sources, in this order (the first present wins and the others are ignored, as draft-07
 * requires): the `Authorization: Bearer` header; the `authorization` query parameter
 * (draft-07 only); the cookie (`mercureAuthorization` by default, then draft-08's
 * `__Secure-mercure_access_token`).
 *
 * Claims: draft-07's `mercure` claim (also read under `https://mercure.rocks/`) with
 * `publish` and `subscribe` lists of selectors and an optional `payload`; and draft-08's RFC
 * 9396 `authorization_details` entries of type `https://mercure.rocks/authorization-detail`
 * (`actions` `publish`/`subscribe`, `topics` of `{match, match_type}`). Both may be present;
 * their selectors add up.
 */
import type { IncomingMessage } from 'node:http';
import { createRemoteJWKSet, errors, importSPKI, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { RtError } from '@rt/protocol';
import type { MercureKey } from './options.js';
import type { SelectorCache, Selector, SelectorKind } from './selectors.js';

/** A token found in a request, and where. */
export interface FoundToken {
  token: string;
  from: 'header' | 'query' | 'cookie';
}

/** What a verified token allows. */
export interface MercureGrant {
  /** Selectors the bearer may publish to (empty: none). */
  publish: Selector[];
  /** Selectors of private updates the bearer may receive (empty: none). */
  subscribe: Selector[];
  /** `mercure.payload`: shown in subscription events and the subscriptions API. */
  payload?: unknown;
  /** Expiry, in ms since the epoch, when the token has `exp`. */
  expiresAt?: number;
}

const AUTHORIZATION_DETAIL = 'https://mercure.rocks/authorization-detail';
const DRAFT08_COOKIE = '__Secure-mercure_access_token';

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  }
  return undefined;
}

/**
 * Finds the request's token. Returns `undefined` when there is none; throws `unauthorized`
 * when an `Authorization` header is present but is not `Bearer <token>`.
 */
export function findToken(req: IncomingMessage, url: URL, cookieName: string): FoundToken | undefined {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw new RtError('unauthorized', 'the Authorization header must be "Bearer <token>"');
    return { token: m[1]!, from: 'header' };
  }
  const query = url.searchParams.get('authorization');
  if (query !== null) return { token: query, from: 'query' };
  const cookie = cookieValue(req.headers.cookie, cookieName) ?? cookieValue(req.headers.cookie, DRAFT08_COOKIE);
  return cookie === undefined ? undefined : { token: cookie, from: 'cookie' };
}

type VerifyKey = Uint8Array | CryptoKey | JWTVerifyGetKey;

/** Verifies tokens against one key; built once per role (publisher, subscriber). */
export class TokenVerifier {
  private key: Promise<VerifyKey> | undefined;
  private readonly algorithms: string[] | undefined;

  constructor(
    private readonly source: MercureKey | undefined,
    private readonly checks: { audience: string | string[] | undefined; issuer: string | string[] | undefined },
    private readonly selectors: SelectorCache,
  ) {
    if (source === undefined) this.algorithms = undefined;
    else if (typeof source === 'string' || 'secret' in source) this.algorithms = ['HS256', 'HS384', 'HS512'];
    else if ('publicKey' in source) this.algorithms = [source.alg];
    else this.algorithms = undefined;
  }

  /** True when a key is configured (without one, every token is refused). */
  get configured(): boolean {
    return this.source !== undefined;
  }

  /** Verifies `token`; rejects with `unauthorized` (and the reason) when it is not valid. */
  async verify(token: string): Promise<MercureGrant> {
    if (this.source === undefined) throw new RtError('unauthorized', 'no key is configured to verify this token');
    const key = await this.loadKey();
    const options: JWTVerifyOptions = {};
    if (this.algorithms) options.algorithms = this.algorithms;
    if (this.checks.audience !== undefined) options.audience = this.checks.audience;
    if (this.checks.issuer !== undefined) options.issuer = this.checks.issuer;
    let payload: JWTPayload;
    try {
      payload = typeof key === 'function' ? (await jwtVerify(token, key, options)).payload : (await jwtVerify(token, key, options)).payload;
    } catch (e) {
      const reason = e instanceof errors.JWTExpired ? 'the token has expired'
        : e instanceof errors.JOSEError ? `invalid token (${e.code})` : 'invalid token';
      throw new RtError('unauthorized', reason, { cause: e });
    }
    return this.grant(payload);
  }

  private loadKey(): Promise<VerifyKey> {
    const source = this.source!;
    this.key ??= (async (): Promise<VerifyKey> => {
      if (typeof source === 'string') return new TextEncoder().encode(source);
      if ('secret' in source) return new TextEncoder().encode(source.secret);
      if ('publicKey' in source) return importSPKI(source.publicKey, source.alg);
      return createRemoteJWKSet(new URL(source.jwksUrl));
    })();
    return this.key;
  }

  private grant(payload: JWTPayload): MercureGrant {
    const out: MercureGrant = { publish: [], subscribe: [] };
    const claim = (payload.mercure ?? payload['https://mercure.rocks/']) as Record<string, unknown> | undefined;
    if (typeof claim === 'object' && claim !== null) {
      out.publish.push(...this.list(claim.publish));
      out.subscribe.push(...this.list(claim.subscribe));
      if ('payload' in claim) out.payload = claim.payload;
    }
    const details = payload.authorization_details;
    if (Array.isArray(details)) {
      for (const detail of details as unknown[]) {
        if (typeof detail !== 'object' || detail === null) continue;
        const d = detail as Record<string, unknown>;
        if (d.type !== AUTHORIZATION_DETAIL || !Array.isArray(d.actions) || !Array.isArray(d.topics)) continue;
        const selectors = (d.topics as unknown[]).flatMap((t) => this.draft08Topic(t));
        if (d.actions.includes('publish')) out.publish.push(...selectors);
        if (d.actions.includes('subscribe')) out.subscribe.push(...selectors);
      }
    }
    if (typeof payload.exp === 'number') out.expiresAt = payload.exp * 1000;
    return out;
  }

  private list(value: unknown): Selector[] {
    if (!Array.isArray(value)) return [];
    return value.filter((v): v is string => typeof v === 'string').map((v) => this.selectors.get(v));
  }

  private draft08Topic(topic: unknown): Selector[] {
    if (typeof topic === 'string') return [this.selectors.get(topic, 'exact')];
    if (typeof topic !== 'object' || topic === null) return [];
    const t = topic as Record<string, unknown>;
    if (typeof t.match !== 'string') return [];
    const kind: SelectorKind | undefined = t.match_type === undefined || t.match_type === 'exact' ? 'exact'
      : t.match_type === 'urlpattern' ? 'urlpattern' : undefined;
    return kind ? [this.selectors.get(t.match, kind)] : [];
  }
}
