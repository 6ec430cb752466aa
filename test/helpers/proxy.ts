/**
 * A small HTTP proxy for fallback tests: it forwards requests (streaming, so SSE passes
 * through as it would behind a well-configured proxy) and WebSocket upgrades, and can refuse
 * WebSocket upgrades, refuse SSE streams, or hold SSE streams back the way a buffering proxy
 * does. It can also drop every connection, to make clients reconnect.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as tcpConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';

/** What the proxy lets through. */
export interface ProxyOptions {
  /** Answer WebSocket upgrades with 403. */
  refuseWebSocket?: boolean;
  /** SSE streams (`GET …/sse`): passed (default), refused with 502, or answered 200 and then held back forever. */
  sse?: 'pass' | 'refuse' | 'stall';
}

/** A running proxy. */
export interface TestProxy extends AsyncDisposable {
  url: string;
  options: ProxyOptions;
  /** Destroys every open connection (clients see the network drop). */
  dropConnections(): void;
}

/** Starts a proxy on a free loopback port in front of `target` (e.g. `http://127.0.0.1:4000`). */
export async function startProxy(target: string, options: ProxyOptions = {}): Promise<TestProxy> {
  const to = new URL(target);
  const sockets = new Set<Duplex>();
  const track = (s: Duplex): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const isSse = req.method === 'GET' && /\/sse(\?|$)/.test(req.url ?? '');
    if (isSse && options.sse === 'refuse') {
      res.writeHead(502, { 'content-type': 'text/plain' }).end('SSE is not allowed through this proxy');
      return;
    }
    if (isSse && options.sse === 'stall') {
      // A buffering proxy: the headers go out, the body never does.
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      return;
    }
    const upstream = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.destroy();
    });
    req.pipe(upstream);
  });
  server.on('connection', track);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    track(socket);
    if (options.refuseWebSocket) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const upstream: Socket = tcpConnect(Number(to.port), to.hostname, () => {
      let head0 = `${req.method} ${req.url} HTTP/1.1\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) head0 += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      upstream.write(head0 + '\r\n');
      upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
    track(upstream);
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const dropConnections = (): void => {
    for (const s of sockets) s.destroy();
  };
  return {
    url: `http://127.0.0.1:${port}`,
    options,
    dropConnections,
    async [Symbol.asyncDispose]() {
      dropConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
