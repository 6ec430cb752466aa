/**
 * The HTTP front: rt's routes (matched before the host application's handlers), answers for
 * paths nobody serves, upgrades nobody claims, and sticky-free forwarding of requests for
 * connections another node owns.
 */
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Router, sendError, type RouteHandler } from './http.js';
import type { Forwarding } from './ops/types.js';
import type { Logger } from './options.js';
import { type ForeignCheck, interceptForeign, replayLocally } from './forward.js';

/** rt's HTTP routes on every server the broker is attached to. */
export class HttpFront {
  readonly router = new Router();
  private attached = 0;

  /**
   * Answers requests no route and no application handler took, on servers rt owns
   * (`listen()`): the playground sets it in development mode. Default: 404.
   */
  fallback: (req: IncomingMessage, res: ServerResponse) => void = (req, res) =>
    sendError(res, 'not_found', `nothing at ${req.url ?? '/'}`);

  constructor(private readonly logger: Logger) {}

  /** Adds an HTTP route under rt's control. */
  addRoute(method: string, path: string, handler: RouteHandler): void {
    this.router.add(method, path, handler);
  }

  /** Answers `req` when rt owns its path; false when the request is the application's. */
  route(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const handler = this.router.match(req.method ?? 'GET', url.pathname);
    if (!handler) {
      if (!this.router.owns(url.pathname)) return false;
      sendError(res, 'bad_frame', `${req.method} is not allowed on ${url.pathname}`);
      return true;
    }
    Promise.resolve()
      .then(() => handler(req, res, url))
      .catch((e: unknown) => {
        this.logger.error({ err: e, url: req.url }, 'HTTP handler failed');
        sendError(res, 'internal', 'internal error');
      });
    return true;
  }

  /** Takes `server`'s requests: rt's paths first, then the application's handlers (or {@link fallback}). */
  attach(server: HttpServer): void {
    const previous = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
    server.removeAllListeners('request');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (!this.route(req, res)) {
        if (previous.length === 0) this.fallback(req, res);
        for (const listener of previous) listener.call(server, req, res);
      }
    });
  }

  /**
   * With an engine that spans nodes: requests for connections another node owns are forwarded
   * to it, and requests forwarded here are answered by replaying them to this server.
   * Installed last, so it sees every request before the transports do.
   */
  stickyFree(
    server: HttpServer,
    forwarding: Forwarding | undefined,
    checks: readonly ForeignCheck[],
    maxBody: number,
  ): void {
    if (!forwarding || checks.length === 0) return;
    if (this.attached++ === 0) forwarding.serve(replayLocally(server));
    interceptForeign(server, forwarding, checks, maxBody, this.logger);
  }
}

/**
 * On servers the broker owns, an upgrade request to a path no transport serves gets `404`
 * instead of hanging: the transports claim theirs at once, so a socket nobody has written to
 * after a moment was claimed by nobody.
 */
export function refuseUnclaimedUpgrade(req: IncomingMessage, socket: Duplex): void {
  const timer = setTimeout(() => {
    if (socket.writable && (socket as Socket).bytesWritten === 0 && !socket.destroyed) {
      socket.end(
        `HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\nnothing to upgrade at ${(req.url ?? '/').slice(0, 200)}\r\n`,
      );
    }
  }, 1000);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
