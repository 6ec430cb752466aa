import { type ClientOp, RtError } from '@rt/protocol';
import type { Logger } from '../options.js';
import type { Identity, Session } from '../session.js';
import { type Grants, grantSide, grantsAllow, grantsProblem } from './grants.js';
import { type Handshake, findToken, headerValue, parseCookies } from './handshake.js';
import { JwtVerifier, type JwtOptions } from './jwt.js';
import { OriginPolicy, defaultPort, isRebindingProof, parseHost, parseOrigin } from './origin.js';

/** What an {@link Authenticate} hook gets: the handshake, its cookies, the token found, and what the JWT said. */
export interface AuthRequest extends Handshake {
  /** Cookies of the request, by name. */
  cookies: Record<string, string>;
  /** The token the client presented (transport channel, `Authorization: Bearer`, `access_token` or `token` query parameter, cookie), if any. */
  token?: string;
  /** The identity a verified JWT gave, when `jwt` is configured and a token came; `null` otherwise. */
  jwt: Identity;
}

/**
 * Authenticates a connection or HTTP request: returns its identity (`null`: anonymous), or
 * throws to refuse it with 401 (the reason goes to the broker's log; the client is told
 * only the message of an `RtError`). An identity may carry `rt: { subscribe, publish }`
 * grants and `exp` (seconds since the epoch: the broker closes the connection then).
 */
export type Authenticate = (request: AuthRequest) => Identity | Promise<Identity>;

/**
 * Decides whether `identity` may do `op` on `topic`: `sub`, `join` and `pull` (receiving),
 * `pub`, `bus` and `push` (sending), `presence` (joining, watching or reading the members of
 * the topic; `GET /rt/presence` asks it too, with `session` absent). Return `false` (or throw) to refuse with a `forbidden`
 * error for that operation only; the connection lives on. `session` is absent for HTTP
 * publishing.
 */
export type Authorize = (
  identity: Identity,
  op: ClientOp,
  topic: string,
  session: Session | undefined,
) => boolean | Promise<boolean>;

/** The security settings of a broker (a subset of its options). */
export interface PolicyOptions {
  allowOrigin?: string | readonly string[];
  jwt?: JwtOptions;
  authenticate?: Authenticate;
  authorize?: Authorize;
  allowAnonymous?: boolean | Grants;
  tokenCookie?: string;
}

/**
 * True when a browser says the request comes from a page of the broker's own origin, which
 * no other site can make it do: an `Origin` whose scheme is `http` or `https` and whose host
 * and port are the request's `Host` (a missing port is the scheme's default), or no `Origin`
 * (browsers leave it out of same-origin GETs, such as long-polling and `EventSource`) with
 * `Sec-Fetch-Site: same-origin`. The `Host` itself must be one a DNS rebinding attack cannot
 * send (an IP address or `localhost`) or one `allowOrigin` lists: `evil.net` resolving to the
 * broker's address makes a page of `http://evil.net:4000` same-origin with `Host: evil.net:4000`.
 */
function sameOrigin(handshake: Handshake, origin: string | undefined, origins: OriginPolicy | undefined): boolean {
  const hostHeader = headerValue(handshake.headers, 'host');
  const host = hostHeader === undefined ? undefined : parseHost(hostHeader);
  if (host === undefined) return false;
  const trusted = (scheme: string): boolean =>
    isRebindingProof(host.host) ||
    (origins?.lists(`${scheme}://${host.host}${host.port === undefined ? '' : `:${host.port}`}`) ?? false);
  if (origin === undefined)
    return headerValue(handshake.headers, 'sec-fetch-site') === 'same-origin' && (trusted('http') || trusted('https'));
  const o = parseOrigin(origin);
  if (o === undefined || (o.scheme !== 'http' && o.scheme !== 'https')) return false;
  return o.host === host.host && o.port === (host.port ?? defaultPort(o.scheme)) && trusted(o.scheme);
}

/** Where `findToken` found `token`: the transport's channel, the header, the query or the cookie. */
function tokenSource(
  handshake: Handshake,
  token: string,
  cookie: string | undefined,
): 'channel' | 'header' | 'query' | 'cookie' {
  const authorization = headerValue(handshake.headers, 'authorization');
  if (authorization !== undefined && /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1] === token) return 'header';
  if ((handshake.query.get('access_token') ?? handshake.query.get('token')) === token) return 'query';
  // A transport that read the cookie itself passes it as its channel's token: still a cookie.
  return cookie === token ? 'cookie' : 'channel';
}

/** Whether `value` is a promise (or any thenable) rather than a plain value. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}

/**
 * Who may connect and what they may touch: the origin check, authentication (JWT and the
 * `authenticate` hook) and authorization (the `authorize` hook, else the identity's grants).
 */
export class Policy {
  /** The `allowOrigin` rules, when set. */
  readonly origins: OriginPolicy | undefined;
  private readonly jwt: JwtVerifier | undefined;
  private readonly anonymous: boolean;
  private readonly anonymousGrants: Grants;
  /** True when connections authenticate (JWT or hook): grants then decide by default. */
  readonly authenticates: boolean;
  /** Seconds of clock skew tolerated on `exp`. */
  readonly clockToleranceSec: number;

  /** Compiles the settings; throws a `TypeError` naming a bad one. */
  constructor(
    private readonly options: PolicyOptions,
    private readonly logger: Logger,
  ) {
    this.origins = options.allowOrigin === undefined ? undefined : new OriginPolicy(options.allowOrigin);
    this.jwt = options.jwt ? new JwtVerifier(options.jwt) : undefined;
    if (this.jwt?.weakSecret)
      logger.warn('jwt: an HMAC key shorter than 32 bytes is easy to guess; use a longer secret');
    this.authenticates = this.jwt !== undefined || options.authenticate !== undefined;
    const allow = options.allowAnonymous ?? !this.authenticates;
    if (allow === false && !this.authenticates)
      throw new TypeError('allowAnonymous: false needs a way to authenticate: jwt or authenticate');
    if (typeof allow === 'object') {
      const problem = grantsProblem(allow);
      if (problem !== null) throw new TypeError(`allowAnonymous ${problem}`);
    }
    this.anonymous = allow !== false;
    this.anonymousGrants = typeof allow === 'object' ? allow : {};
    this.clockToleranceSec = options.jwt?.clockToleranceSec ?? 0;
  }

  /** True when a request with this `Origin` header may come in (always, without `allowOrigin`). */
  allowsOrigin(origin: string | undefined): boolean {
    return this.origins === undefined || this.origins.allows(origin);
  }

  /**
   * Admits a handshake: origin, then token, then the hook, then the anonymous rule. Rejects
   * with `unauthorized` saying why; the reason is logged, never the token.
   */
  async admit(handshake: Handshake): Promise<Identity> {
    const problem = this.originProblem(handshake);
    if (problem !== undefined) return this.refuse(handshake, problem);
    const cookies = parseCookies(headerValue(handshake.headers, 'cookie'));
    const token = this.authenticates ? this.acceptedToken(handshake, cookies) : undefined;
    let identity: Identity = null;
    if (token !== undefined && this.jwt) {
      try {
        identity = await this.jwt.verify(token);
      } catch (e) {
        return this.refuse(handshake, e instanceof RtError ? e.message : 'invalid token');
      }
    }
    if (this.options.authenticate) {
      try {
        identity =
          (await this.options.authenticate({
            ...handshake,
            cookies,
            ...(token !== undefined ? { token } : {}),
            jwt: identity,
          })) ?? null;
      } catch (e) {
        this.logger.warn(
          { transport: handshake.transport, reason: e instanceof Error ? e.message : String(e) },
          'authenticate refused a connection',
        );
        throw e instanceof RtError && (e.code === 'unauthorized' || e.code === 'forbidden')
          ? e
          : new RtError('unauthorized', 'authentication failed');
      }
      const rt = identity?.rt;
      if (rt !== undefined && grantsProblem(rt) !== null) {
        this.logger.error({ problem: grantsProblem(rt) }, 'authenticate returned an identity with a malformed "rt"');
        throw new RtError('unauthorized', 'authentication failed');
      }
    }
    if (identity === null && !this.anonymous)
      return this.refuse(handshake, token === undefined ? 'a token is required' : 'authentication failed');
    return identity;
  }

  /**
   * The token of a handshake, if it came where it may: an HTTP request (`transport` `http`:
   * `POST {prefix}/publish`, `POST /pub/…`) only in `Authorization: Bearer`; a cookie only
   * when `allowOrigin` lists origins (not just `*`) and the request's `Origin`, if any, is one
   * of them or the broker's own (else any site a user visits could act with the user's
   * cookie). A token found elsewhere is ignored (the `authenticate` hook still sees the
   * request's cookies and query).
   */
  private acceptedToken(handshake: Handshake, cookies: Record<string, string>): string | undefined {
    const cookieName = this.options.tokenCookie ?? 'rt_token';
    const token = findToken(handshake, cookies, cookieName);
    if (token === undefined) return undefined;
    const from = tokenSource(handshake, token, cookies[cookieName]);
    if (handshake.transport === 'http' && from !== 'header') {
      this.logger.debug(
        { transport: handshake.transport, from },
        'ignored a token: HTTP requests authenticate with Authorization: Bearer only',
      );
      return undefined;
    }
    if (from === 'cookie' && !this.cookieAllowed(handshake)) {
      this.logger.debug({ transport: handshake.transport }, 'ignored a token cookie: cookies need an allowOrigin list');
      return undefined;
    }
    return token;
  }

  /** True when a cookie may authenticate this handshake (see {@link acceptedToken}). */
  private cookieAllowed(handshake: Handshake): boolean {
    const origins = this.origins;
    if (origins === undefined || !origins.hasList) return false;
    const origin = headerValue(handshake.headers, 'origin');
    return origin === undefined || origins.lists(origin) || sameOrigin(handshake, origin, origins);
  }

  /**
   * The CORS answer to a request from `origin`: origins listed in `allowOrigin` get their
   * own origin back with credentials; any other origin gets `*` without credentials when
   * `allowOrigin` is unset or has `*` (token-authenticated requests work, cookies are never
   * sent), and nothing otherwise.
   */
  corsFor(origin: string | undefined): { origin: string; credentials: boolean } | undefined {
    if (origin === undefined) return undefined;
    if (this.origins?.lists(origin)) return { origin, credentials: true };
    return this.allowsOrigin(origin) ? { origin: '*', credentials: false } : undefined;
  }

  /**
   * Why the handshake's `Origin` is refused by `allowOrigin`, or `undefined` when it may come
   * in. The broker's own origin always may; so may an HTTP request (`transport` `http`)
   * without `Origin`: browsers send `Origin` on every POST, so it is no cross-site request
   * (backends publish over HTTP with a token and no Origin).
   */
  originProblem(handshake: Handshake): string | undefined {
    const origin = headerValue(handshake.headers, 'origin');
    if (
      (handshake.transport === 'http' && origin === undefined) ||
      sameOrigin(handshake, origin, this.origins) ||
      this.allowsOrigin(origin)
    )
      return undefined;
    return origin === undefined ? 'a request without Origin is not allowed' : `origin ${origin} is not allowed`;
  }

  private refuse(handshake: Handshake, reason: string): never {
    this.logger.warn(
      { transport: handshake.transport, origin: headerValue(handshake.headers, 'origin'), reason },
      'refused a connection',
    );
    throw new RtError('unauthorized', reason);
  }

  /**
   * Whether `identity` may do `op` on `topic`: the `authorize` hook when there is one; else,
   * when connections authenticate, the identity's `rt` grants (anonymous: `allowAnonymous`'s
   * grants); else everything is allowed. Synchronous unless the hook is async. Operations
   * that only let go of something (`unsub`, `leave`, `unpull`, `ack`, `nack`) are always allowed.
   */
  allows(identity: Identity, op: ClientOp, topic: string, session: Session | undefined): boolean | Promise<boolean> {
    if (grantSide(op) === undefined) return true;
    const hook = this.options.authorize;
    if (hook) {
      try {
        const verdict = hook(identity, op, topic, session);
        return isThenable(verdict)
          ? Promise.resolve(verdict).then(
              (v) => v === true,
              (e: unknown) => this.hookFailed(e),
            )
          : verdict === true;
      } catch (e) {
        return this.hookFailed(e);
      }
    }
    if (!this.authenticates) return true;
    const grants = identity === null ? this.anonymousGrants : (identity.rt as Grants | undefined);
    return grantsAllow(grants, op, topic);
  }

  private hookFailed(e: unknown): false {
    this.logger.warn(
      { reason: e instanceof Error ? e.message : String(e) },
      'authorize threw: the operation is refused',
    );
    return false;
  }
}
