import type { IncomingMessage } from 'node:http';
import type { Handshake } from '../policy/handshake.js';
import type { TransportHost } from './host.js';
import { findToken, parseCookies } from '../policy/handshake.js';
import type { Identity } from '../session.js';

/**
 * Builds the {@link Handshake} of an HTTP request (SSE stream, raw WebSocket upgrade, raw
 * POST), with the token it presents: `Authorization: Bearer`, then the `access_token` or
 * `token` query parameter, then the token cookie (`rt_token` unless `tokenCookie` says otherwise).
 */
function requestHandshake(transport: string, req: IncomingMessage, url: URL, tokenCookie = 'rt_token'): Handshake {
  const handshake: Handshake = { transport, headers: req.headers, query: url.searchParams };
  const token = findToken(handshake, parseCookies(req.headers.cookie), tokenCookie);
  return token === undefined ? handshake : { ...handshake, token };
}

/** Sends a request through {@link TransportHost.admit}: resolves with the identity, rejects with its `RtError`. */
export function admitRequest(
  broker: TransportHost,
  transport: string,
  req: IncomingMessage,
  url: URL,
): Promise<Identity> {
  return broker.admit(requestHandshake(transport, req, url, broker.options.tokenCookie));
}
