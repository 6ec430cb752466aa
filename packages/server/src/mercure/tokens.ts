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
import type { JWTPayload } from 'jose';
import { RtError } from '@rt/protocol';
import { bearerToken, headerValue, parseCookies } from '../policy/handshake.js';
import { type JwtKey, JwtVerifier } from '../policy/jwt.js';
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

/**
 * Finds the request's Mercure token (sources and order above; rt's own are `findToken`'s, in the policy layer). Returns `undefined` when there is none; throws `unauthorized`
 * when an `Authorization` header is present but is not `Bearer <token>`.
 */
export function mercureToken(req: IncomingMessage, url: URL, cookieName: string): FoundToken | undefined {
  const header = headerValue(req.headers, 'authorization');
  if (header !== undefined) {
    const token = bearerToken(header);
    if (token === undefined) throw new RtError('unauthorized', 'the Authorization header must be "Bearer <token>"');
    return { token, from: 'header' };
  }
  const query = url.searchParams.get('authorization');
  if (query !== null) return { token: query, from: 'query' };
  const cookies = parseCookies(req.headers.cookie);
  const cookie = cookies[cookieName] ?? cookies[DRAFT08_COOKIE];
  return cookie === undefined ? undefined : { token: cookie, from: 'cookie' };
}

/**
 * Verifies tokens against one key (built once per role, publisher or subscriber). Key loading
 * and verification (signature, algorithms that fit the key, `exp`, `nbf`, `iss`, `aud`) are
 * rt's own JWT verifier's; this class reads the Mercure claims.
 */
export class TokenVerifier {
  private readonly jwt: JwtVerifier | undefined;

  /** Throws a `TypeError` naming a key rt cannot read. */
  constructor(
    key: JwtKey | undefined,
    checks: {
      audience: string | string[] | undefined;
      issuer: string | string[] | undefined;
      algorithms: string[] | undefined;
    },
    private readonly selectors: SelectorCache,
  ) {
    this.jwt =
      key === undefined
        ? undefined
        : new JwtVerifier({
            key,
            ...(checks.audience !== undefined ? { audience: checks.audience } : {}),
            ...(checks.issuer !== undefined ? { issuer: checks.issuer } : {}),
            ...(checks.algorithms !== undefined ? { algorithms: checks.algorithms } : {}),
          });
  }

  /** Verifies `token`; rejects with `unauthorized` (and the reason) when it is not valid. */
  async verify(token: string): Promise<MercureGrant> {
    if (!this.jwt) throw new RtError('unauthorized', 'no key is configured to verify this token');
    return this.grant(await this.jwt.verify(token));
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
    const kind: SelectorKind | undefined =
      t.match_type === undefined || t.match_type === 'exact'
        ? 'exact'
        : t.match_type === 'urlpattern'
          ? 'urlpattern'
          : undefined;
    return kind ? [this.selectors.get(t.match, kind)] : [];
  }
}
