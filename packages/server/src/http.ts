import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ErrorCode, RtError, httpStatus } from '@rt/protocol';

/** A handler of one HTTP route. `url` is the parsed request URL. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

interface Route {
  method: string;
  path: string;
  prefix: boolean;
  handler: RouteHandler;
}

/**
 * rt's HTTP routes, matched before the host application's handlers: a request to a path rt
 * owns is answered by rt; every other request goes on to the application.
 */
export class Router {
  private readonly routes: Route[] = [];

  /** Adds a route. A `path` ending in `/*` matches that prefix. `method` `*` matches any method. */
  add(method: string, path: string, handler: RouteHandler): void {
    const prefix = path.endsWith('/*');
    this.routes.push({ method, path: prefix ? path.slice(0, -1) : path, prefix, handler });
  }

  /** Finds the route for a request, or `undefined` when rt does not own the path. */
  match(method: string, pathname: string): RouteHandler | undefined {
    for (const r of this.routes) {
      const hit = r.prefix ? pathname.startsWith(r.path) : pathname === r.path;
      if (hit && (r.method === '*' || r.method === method || (method === 'HEAD' && r.method === 'GET')))
        return r.handler;
    }
    return undefined;
  }

  /** True when some route (of any method) owns `pathname`: a wrong method then gets 405, not the app. */
  owns(pathname: string): boolean {
    return this.routes.some((r) => (r.prefix ? pathname.startsWith(r.path) : pathname === r.path));
  }
}

/** Answers with JSON. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** Answers with an rt error: its HTTP status and `{ error: { code, message } }`. */
export function sendError(res: ServerResponse, code: ErrorCode, message: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  sendJson(res, httpStatus(code), { error: { code, message } });
}

/** Answers with the error `err` (an {@link RtError}, else `internal`). */
export function sendFailure(res: ServerResponse, err: unknown): void {
  if (err instanceof RtError) sendError(res, err.code, err.message);
  else sendError(res, 'internal', 'internal error');
}

/**
 * Reads a request body of at most `limit` bytes. Rejects with `payload_too_large` as soon as
 * the body passes the limit (by `content-length` or while reading), without buffering more.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    readBodyThen(req, limit, (error, body) => (error ? reject(error) : resolve(body))),
  );
}

/**
 * {@link readBody} with a callback, called once: with the body, or with `payload_too_large` or
 * the request's error (and an empty buffer). For a hot path that answers in the turn the body
 * arrives, without a promise step; a body of one chunk (most) is not copied.
 */
export function readBodyThen(req: IncomingMessage, limit: number, done: (error: unknown, body: Buffer) => void): void {
  let finished = false;
  const finish = (error: unknown, body: Buffer): void => {
    if (finished) return;
    finished = true;
    done(error, body);
  };
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    finish(new RtError('payload_too_large', `body is ${declared} bytes, more than ${limit}`), EMPTY);
    return;
  }
  let first: Buffer | undefined;
  let chunks: Buffer[] | undefined;
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    if (finished) return;
    size += chunk.length;
    if (size > limit) return finish(new RtError('payload_too_large', `body is more than ${limit} bytes`), EMPTY);
    if (first === undefined) first = chunk;
    else (chunks ??= [first]).push(chunk);
  });
  req.on('end', () => finish(undefined, chunks ? Buffer.concat(chunks, size) : (first ?? EMPTY)));
  req.on('error', (error) => finish(error, EMPTY));
}

const EMPTY = Buffer.alloc(0);

/**
 * A raw request body as a payload: bytes when the body is `application/octet-stream`, else
 * UTF-8 text, byte for byte. A text body that is not valid UTF-8 is refused (`bad_frame`)
 * rather than silently altered.
 */
export function bodyPayload(req: IncomingMessage, body: Buffer): string | Uint8Array {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/octet-stream') return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (!isUtf8(body))
    throw new RtError('bad_frame', 'the body is not valid UTF-8 text: send bytes as application/octet-stream');
  return body.toString('utf8');
}
