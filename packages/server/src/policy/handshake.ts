/** What a transport knows of a connection or request when it asks `broker.admit`. */
export interface Handshake {
  /** The transport asking (`websocket`, `polling`, `sse`, `raw`, `http`). */
  transport: string;
  /** Request headers (lower-case names), including `origin` and `cookie`. */
  headers: Record<string, string | string[] | undefined>;
  /** The request URL's query parameters. */
  query: URLSearchParams;
  /** The token the client presented through the transport's own channel (socket.io `auth`, ...), if any. */
  token?: string;
}

/** The first value of a header (`undefined` when absent or empty). */
export function headerValue(headers: Handshake['headers'], name: string): string | undefined {
  const value = headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

/** The token of an `Authorization: Bearer <token>` header value; `undefined` when it is not of that form. */
export function bearerToken(authorization: string): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
}

/** Parses a `Cookie` header into name → value (values URI-decoded when they can be). */
export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (name === '' || name in out) continue;
    try {
      out[name] = decodeURIComponent(value);
    } catch {
      out[name] = value;
    }
  }
  return out;
}

/**
 * The token a client presented, looked for in this order (the first found wins, the others
 * are ignored, as Mercure does): the transport's own channel (socket.io `auth.token`), an
 * `Authorization: Bearer` header, the `access_token` (RFC 6750) or `token` query parameter
 * (for `EventSource` and `WebSocket`, which cannot set headers), the cookie `cookieName`.
 */
export function findToken(
  handshake: Handshake,
  cookies: Record<string, string>,
  cookieName: string,
): string | undefined {
  if (handshake.token !== undefined && handshake.token !== '') return handshake.token;
  const authorization = headerValue(handshake.headers, 'authorization');
  const bearer = authorization === undefined ? undefined : bearerToken(authorization);
  if (bearer !== undefined) return bearer;
  const query = handshake.query.get('access_token') ?? handshake.query.get('token');
  if (query !== null && query !== '') return query;
  const cookie = cookies[cookieName];
  return cookie === undefined || cookie === '' ? undefined : cookie;
}
