import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createSecureServer, type Http2SecureServer, type Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * TLS settings of a broker that serves HTTPS itself (`listen()`): HTTP/2, so that SSE streams,
 * long-polls and POSTs of one browser share one TCP connection instead of hitting the
 * browser's limit of 6 HTTP/1.1 connections per host.
 */
export interface TlsOptions {
  /** The certificate chain, PEM. */
  cert: string | Buffer;
  /** The private key, PEM. */
  key: string | Buffer;
  /**
   * Also serve HTTP/1.1 (over TLS) to clients that do not speak HTTP/2. WebSocket needs it:
   * it upgrades an HTTP/1.1 request. Default `true`.
   */
  allowHTTP1?: boolean;
}

/** The servers a broker attaches to: Node's HTTP/1.1 server (or `https`), or an HTTP/2 secure server. */
export type AnyServer = HttpServer | Http2SecureServer;

/** The server `listen()` runs: plain HTTP/1.1, or with `tls` HTTP/2 over TLS (and HTTP/1.1 when allowed). */
export function createServerFor(tls: TlsOptions | undefined): AnyServer {
  if (!tls) return createServer();
  return createSecureServer({ cert: tls.cert, key: tls.key, allowHTTP1: tls.allowHTTP1 ?? true });
}

/** True for an HTTP/2 server (only those have `updateSettings`). */
export function isHttp2(server: AnyServer): server is Http2SecureServer {
  return 'updateSettings' in server;
}

/**
 * The HTTP/1 server object rt's doors attach to, for an HTTP/2 server: it never listens; the
 * HTTP/2 server hands it every request (Node's compatibility API gives HTTP/2 requests the
 * `IncomingMessage`/`ServerResponse` interface, and HTTP/1.1 requests on the same port are
 * the real thing) and every upgrade (WebSocket, over HTTP/1.1). The application's own request
 * listeners move to it, so rt answers its paths and passes the rest on, as on an HTTP/1 server.
 */
export function http1View(server: Http2SecureServer): HttpServer {
  const view = createServer();
  const previous = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');
  for (const listener of previous) view.on('request', listener);
  server.on('request', (req, res) => view.emit('request', req, res));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => view.emit('upgrade', req, socket, head));
  return view;
}

/** How long connections may take to finish on close before they are cut, in ms. */
const CLOSE_GRACE_MS = 2000;

/** Tracks a front's connections, so {@link closeServer} can end the HTTP/2 ones (they have no `closeAllConnections`). */
export function trackServer(server: AnyServer): void {
  if (!isHttp2(server)) return;
  const sessions = new Set<Http2Session>();
  const sockets = new Set<Socket>();
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  tracked.set(server, { sessions, sockets });
}

const tracked = new WeakMap<Http2SecureServer, { sessions: Set<Http2Session>; sockets: Set<Socket> }>();

/** Stops accepting connections and resolves once the open ones are done (cut after a grace period). */
export function closeServer(server: AnyServer): Promise<void> {
  return new Promise<void>((resolve) => {
    const open = isHttp2(server) ? tracked.get(server) : undefined;
    const cut = (): void => {
      if (isHttp2(server)) for (const socket of open?.sockets ?? []) socket.destroy();
      else server.closeAllConnections();
    };
    if (isHttp2(server)) for (const session of open?.sessions ?? []) session.close();
    else server.closeIdleConnections();
    const timer = setTimeout(cut, CLOSE_GRACE_MS);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    if (!server.listening) resolve();
  });
}
