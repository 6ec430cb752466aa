/**
 * Helpers for application servers that publish resources (draft-07 «Discovery»): the
 * `Link: <hub>; rel="mercure"` header, and the `mercureAuthorization` cookie.
 */

/** Optional attributes of the discovery link. */
export interface MercureLinkAttributes {
  /** The last event id when the resource was generated; the subscriber passes it as `lastEventID`. */
  lastEventId?: string;
  /** The type of the updates, when it differs from the resource's. */
  contentType?: string;
  /** URL of a JWK Set to decrypt updates with. */
  keySet?: string;
}

/** Anything with Node's header methods (`http.ServerResponse`, Express's `res`). */
export interface HeaderTarget {
  getHeader(name: string): number | string | string[] | undefined;
  setHeader(name: string, value: number | string | readonly string[]): unknown;
}

const quoted = (value: string): string => `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;

/**
 * The value of a discovery link (`hubUrl` must be absolute; it is normalized as a URL): `<https://example.com/.well-known/mercure>; rel="mercure"`,
 * plus `last-event-id`, `content-type` and `key-set` when given.
 */
export function mercureLink(hubUrl: string, attributes: MercureLinkAttributes = {}): string {
  let link = `<${new URL(hubUrl).href}>; rel="mercure"`;
  if (attributes.lastEventId !== undefined) link += `; last-event-id=${quoted(attributes.lastEventId)}`;
  if (attributes.contentType !== undefined) link += `; content-type=${quoted(attributes.contentType)}`;
  if (attributes.keySet !== undefined) link += `; key-set=${quoted(attributes.keySet)}`;
  return link;
}

/**
 * Adds the discovery link to a response, beside any `Link` it already has:
 *
 * ```ts
 * app.get('/books/:id', (req, res) => {
 *   addMercureLink(res, 'https://example.com/.well-known/mercure');
 *   res.json(book);
 * });
 * ```
 */
export function addMercureLink(res: HeaderTarget, hubUrl: string, attributes?: MercureLinkAttributes): void {
  const existing = res.getHeader('link');
  const links = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  res.setHeader('link', [...links, mercureLink(hubUrl, attributes)]);
}

/** Options of {@link mercureCookie}. */
export interface MercureCookieOptions {
  /** Default `mercureAuthorization` (the hub's `cookieName`). */
  name?: string;
  /** Default `/.well-known/mercure`. */
  path?: string;
  /** Set it to share the cookie with a hub on a subdomain. */
  domain?: string;
  /** Default true. Browsers send `Secure` cookies over HTTPS only (and to `localhost`). */
  secure?: boolean;
  /** Default `Strict`. */
  sameSite?: 'Strict' | 'Lax' | 'None';
  /** Lifetime in seconds; default: a session cookie. */
  maxAgeSeconds?: number;
}

/**
 * A `Set-Cookie` value carrying a subscriber token to the hub, as the spec recommends
 * (`HttpOnly`, `Secure`, `SameSite`, `Path` set to the hub): browsers' `EventSource` cannot
 * send headers, and a cookie keeps the token out of URLs.
 */
export function mercureCookie(token: string, options: MercureCookieOptions = {}): string {
  let cookie = `${options.name ?? 'mercureAuthorization'}=${encodeURIComponent(token)}; Path=${options.path ?? '/.well-known/mercure'}; HttpOnly`;
  if (options.secure ?? true) cookie += '; Secure';
  cookie += `; SameSite=${options.sameSite ?? 'Strict'}`;
  if (options.domain) cookie += `; Domain=${options.domain}`;
  if (options.maxAgeSeconds !== undefined) cookie += `; Max-Age=${Math.floor(options.maxAgeSeconds)}`;
  return cookie;
}
