import {
  request as httpRequest,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ForwardedRequest, ForwardedResponse, Forwarding } from './ops/types.js';
import { readBody } from './http.js';
import type { Logger } from './options.js';

/** Marks a request one node forwarded to another, so it is never forwarded again. */
const FORWARDED_HEADER = 'x-rt-forwarded';
/** Headers that belong to one hop, not to the message. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host', 'upgrade']);

function endToEnd<T extends Record<string, unknown>>(headers: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers))
    if (!HOP_BY_HOP.has(name.toLowerCase()) && value !== undefined) out[name] = value;
  return out as T;
}

/** What {@link interceptForeign} needs to know of a transport's connections. */
export interface ForeignCheck {
  /** The connection id a request is for, when it is for one (else the request is not intercepted). */
  connectionOf(req: IncomingMessage, url: URL): string | null;
  /** True when this node owns the connection. */
  isLocal(id: string): boolean;
  /** Answer when no node owns the connection (the transport's own "unknown session" answer). */
  unknown(res: ServerResponse): void;
}

/**
 * Sticky-free requests: a request for a connection this node does not own is forwarded through
 * the engine to the node that does, and that node's answer is sent back. Installed in front of
 * the server's other `request` listeners.
 */
export function interceptForeign(
  server: HttpServer,
  forwarding: Forwarding,
  checks: readonly ForeignCheck[],
  maxBody: number,
  logger: Logger,
): void {
  const previous = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    let id: string | null = null;
    let check: ForeignCheck | undefined;
    if (req.headers[FORWARDED_HEADER] === undefined) {
      const url = new URL(req.url ?? '/', 'http://localhost');
      for (check of checks) if ((id = check.connectionOf(req, url)) !== null) break;
    }
    if (id === null || !check || check.isLocal(id)) {
      for (const listener of previous) listener.call(server, req, res);
      return;
    }
    void forwardRequest(req, res, id, forwarding, check, maxBody).catch((error: unknown) => {
      logger.warn(
        { err: (error as Error).message, url: req.url },
        'could not forward a request to the node that owns its connection',
      );
      if (!res.headersSent) res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('the node that owns this connection cannot be reached');
    });
  });
}

async function forwardRequest(
  req: IncomingMessage,
  res: ServerResponse,
  id: string,
  forwarding: Forwarding,
  check: ForeignCheck,
  maxBody: number,
): Promise<void> {
  const body = await readBody(req, maxBody);
  const answer = await forwarding.forward(id, {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    headers: { ...endToEnd(req.headers), [FORWARDED_HEADER]: '1' },
    body,
  });
  if (!answer) {
    check.unknown(res);
    return;
  }
  res.writeHead(answer.status, { ...endToEnd(answer.headers), 'content-length': answer.body.length });
  res.end(answer.body);
}

/** Answers a forwarded request by replaying it to this node's own `server` over loopback. */
export function replayLocally(server: HttpServer): (request: ForwardedRequest) => Promise<ForwardedResponse> {
  return (request) =>
    new Promise((resolve, reject) => {
      const address = server.address() as AddressInfo | null;
      if (!address) {
        reject(new Error('this node is not listening'));
        return;
      }
      const host = address.address === '::' || address.address === '0.0.0.0' ? '127.0.0.1' : address.address;
      const out = httpRequest(
        {
          host,
          port: address.port,
          method: request.method,
          path: request.url,
          headers: { ...request.headers, 'content-length': request.body.length },
        },
        (answer) => {
          const chunks: Buffer[] = [];
          answer.on('data', (c: Buffer) => chunks.push(c));
          answer.on('end', () =>
            resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(chunks) }),
          );
          answer.on('error', reject);
        },
      );
      out.on('error', reject);
      out.end(request.body);
    });
}
