import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Broker, Handshake } from '../broker.js';
import type { Identity } from '../session.js';

/** The cookie a browser may carry its token in (a native `EventSource` or `WebSocket` cannot send headers). */
export const TOKEN_COOKIE = 'rt_token';

/**
 * The token a request presents: `Authorization: Bearer <token>` first, then the `token` query
 * parameter, then the {@link TOKEN_COOKIE} cookie.
 */
export function requestToken(req: IncomingMessage, query: URLSearchParams): string | undefined {
  const header = req.headers.authorization;
  if (typeof header === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (m) return m[1];
  }
  const fromQuery = query.get('token');
  if (fromQuery) return fromQuery;
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === TOKEN_COOKIE) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim()) || undefined;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** Builds the {@link Handshake} of an HTTP request (SSE stream, raw WebSocket upgrade, raw POST). */
export function requestHandshake(transport: string, req: IncomingMessage, url: URL): Handshake {
  const token = requestToken(req, url.searchParams);
  return { transport, headers: req.headers, query: url.searchParams, ...(token !== undefined ? { token } : {}) };
}

/** Sends a request through {@link Broker.admit}: resolves with the identity, rejects with its `RtError`. */
export function admitRequest(broker: Broker, transport: string, req: IncomingMessage, url: URL): Promise<Identity> {
  return broker.admit(requestHandshake(transport, req, url));
}

/**
 * CORS headers for rt's own HTTP answers: the request's origin is echoed with credentials
 * allowed (as the socket.io transport does); whether that origin may connect at all is
 * {@link Broker.admit}'s decision.
 */
export function corsHeaders(req: IncomingMessage): Record<string, string> {
  const origin = req.headers.origin;
  if (typeof origin !== 'string') return {};
  return { 'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true', vary: 'Origin' };
}

/** Adds {@link corsHeaders} to a response that has not started. */
export function allowOrigin(req: IncomingMessage, res: ServerResponse): void {
  for (const [name, value] of Object.entries(corsHeaders(req))) res.setHeader(name, value);
}
