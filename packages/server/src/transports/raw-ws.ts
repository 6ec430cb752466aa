import { STATUS_CODES, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { type ByeFrame, type ErrorCode, type Payload, RtError, httpStatus } from '@rt/protocol';
import { queryPace } from '../ops/operations.js';
import type { Caller } from '../ops/types.js';
import { queryRetain } from '../ops/retain.js';
import type { Outgoing } from '../outgoing.js';
import type { Identity, Wire } from '../session.js';
import { barePayload } from './bare.js';
import { admitRequest } from './handshake.js';
import type { TransportHost } from './host.js';
import type { Transport } from './host.js';
import { RawHttp, rawTarget, type RawKind } from './raw-http.js';

/** WebSocket close codes for operations a raw socket cannot be answered about in-band. */
const CLOSE_CODES: Partial<Record<ErrorCode, number>> = {
  forbidden: 1008,
  unauthorized: 1008,
  payload_too_large: 1009,
  queue_full: 1013,
  unavailable: 1013,
  shutting_down: 1012,
};

/** A raw socket's wire: bare payloads as text or binary frames; jobs are acknowledged once written. */
class RawWire implements Wire {
  readonly transport = 'raw';
  readonly door = 'raw-ws';
  ws: WebSocket | undefined;
  private early: [string | Uint8Array, (() => void) | undefined][] = [];

  constructor(
    private readonly ack: (id: string) => void,
    readonly remote?: string,
  ) {}

  write(batch: readonly Outgoing[]): void {
    for (const out of batch) {
      const f = out.frame;
      if (f.t === 'msg' || f.t === 'bus') this.deliver(barePayload(f.data));
      else if (f.t === 'job') this.deliver(barePayload(f.data), () => this.ack(f.id));
      else if (f.t === 'bye') this.close(f);
    }
  }

  /** Sends one payload (held until the handshake completes); `sent` runs once it is written. */
  deliver(payload: string | Uint8Array, sent?: () => void): void {
    const ws = this.ws;
    if (!ws) {
      this.early.push([payload, sent]);
      return;
    }
    if (ws.readyState !== ws.OPEN) return;
    ws.send(payload, { binary: typeof payload !== 'string' }, (error) => {
      if (!error) sent?.();
    });
  }

  /** The handshake completed: send what waited. */
  attach(ws: WebSocket): void {
    this.ws = ws;
    const early = this.early;
    this.early = [];
    for (const [payload, sent] of early) this.deliver(payload, sent);
  }

  close(bye?: ByeFrame): void {
    this.ws?.close(bye?.code === 'restart' ? 1012 : 1000, bye?.message.slice(0, 120));
  }

  buffered(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  destroy(): void {
    this.ws?.terminate();
  }
}

/**
 * Mercury-compatible raw WebSocket endpoints for clients without the SDK, at
 * `{rawPrefix}/bus/<topic>`, `/sub/<topic>`, `/pub/<topic>`, `/push/<topic>`, `/pull/<topic>`
 * (`rawPrefix` defaults to the root). Each message is one text or binary frame holding the bare
 * payload: text stays text, byte-exact UTF-8, bytes stay bytes; a JSON value an SDK client
 * sends arrives as its JSON text.
 *
 * - `bus`: a frame goes to the other peers of exactly the topic (and back to the sender with `?echo=1`);
 * - `sub`: receives the messages of the topic and its descendants (first the retained values of
 *   latest-value topics, unmarked); `pub`: publishes (each frame retained with `?retain=1`), receives nothing;
 * - `push`: each frame goes to one puller; `pull`: receives jobs (`?prefetch=`, default 1;
 *   `?ackTimeoutMs=`, as `topic.pull`'s options), each acknowledged once written.
 *
 * Every operation goes through the operations core, so authorization and limits apply as for
 * SDK clients: a refused handshake gets the HTTP status, a refused frame closes the socket
 * (1008 forbidden, 1009 too large, 1013 queue full). `POST` of a body to `/pub`, `/bus` and
 * `/push` does the same over HTTP (see {@link RawHttp}).
 */
export class RawWsTransport implements Transport {
  private broker!: TransportHost;
  private wss: WebSocketServer | undefined;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private readonly alive = new WeakSet<WebSocket>();

  setup(broker: TransportHost): void {
    this.broker = broker;
    if (broker.options.rawPrefix === false) return;
    new RawHttp(broker, broker.options.rawPrefix).routes();
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: broker.limits.maxPayloadBytes,
      perMessageDeflate: false,
    });
    this.heartbeat = setInterval(() => {
      for (const ws of this.wss?.clients ?? []) {
        if (!this.alive.has(ws)) ws.terminate();
        else {
          this.alive.delete(ws);
          ws.ping();
        }
      }
    }, broker.options.heartbeatMs);
    this.heartbeat.unref();
  }

  attach(server: HttpServer): void {
    const prefix = this.broker.options.rawPrefix;
    if (prefix === false) return;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const target = rawTarget(url.pathname, prefix);
      if (!target) return; // not ours: socket.io and the application handle their own upgrades
      this.upgrade(req, socket, head, url, target.kind, target.topic).catch((e: unknown) => {
        this.broker.logger.error({ err: e, url: req.url }, 'raw WebSocket handshake failed');
        refuse(socket, new RtError('internal', 'internal error'));
      });
    });
  }

  async close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.wss?.close();
  }

  private async upgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    url: URL,
    kind: RawKind,
    topic: string,
  ): Promise<void> {
    const broker = this.broker;
    if (broker.isClosing) return refuse(socket, new RtError('shutting_down', 'the broker is shutting down'));
    let identity: Identity;
    try {
      identity = await admitRequest(broker, 'raw', req, url);
    } catch (e) {
      return refuse(socket, e);
    }
    const ops = broker.ops;
    const wire = new RawWire(
      (id) => void ops.settle(caller, 'ack', id).catch(() => undefined),
      req.socket.remoteAddress,
    );
    const session = broker.openSession(wire);
    session.identity = identity;
    const caller: Caller = { identity, session };
    // `/pub/<topic>?retain=1`: every message of the socket is the topic's retained value.
    const retain: { retain?: boolean } = {};
    socket.once('close', () => broker.closeSession(session));
    try {
      if (kind === 'bus') await ops.join(caller, topic);
      else if (kind === 'sub') {
        const pace = queryPace(url);
        await ops.subscribe(caller, { topics: [topic], ...(pace ? { pace } : {}) });
      } else if (kind === 'pull') await ops.pull(caller, topic, queryPull(url));
      else await ops.check(caller, kind, topic);
      if (kind === 'pub' && queryRetain(url)) retain.retain = true;
    } catch (e) {
      broker.closeSession(session);
      return refuse(socket, e);
    }
    if (socket.destroyed) return;
    const echo = url.searchParams.get('echo') === '1';
    this.wss!.handleUpgrade(req, socket, head, (ws) => {
      this.alive.add(ws);
      ws.on('pong', () => this.alive.add(ws));
      ws.on('error', () => undefined);
      wire.attach(ws);
      ws.on('message', (raw: Buffer, isBinary: boolean) => {
        const data: Payload = isBinary
          ? new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength)
          : raw.toString('utf8');
        this.alive.add(ws);
        if (kind === 'sub' || kind === 'pull') return; // receive-only sockets
        const done =
          kind === 'bus'
            ? ops.sendBus(caller, topic, { data })
            : kind === 'pub'
              ? ops.publish(caller, topic, { data }, retain)
              : ops.push(caller, topic, { data });
        done.then(
          () => {
            if (echo && kind === 'bus') wire.deliver(barePayload(data));
          },
          (e: unknown) => failed(ws, e),
        );
      });
    });
  }
}

/** The `prefetch` and `ackTimeoutMs` asked for in a raw `/pull` URL; throws `bad_frame` when not positive integers. */
function queryPull(url: URL): { prefetch?: number; ackTimeoutMs?: number } {
  const options: { prefetch?: number; ackTimeoutMs?: number } = {};
  for (const name of ['prefetch', 'ackTimeoutMs'] as const) {
    const text = url.searchParams.get(name);
    if (text === null) continue;
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < 1) throw new RtError('bad_frame', `"${name}" must be a positive integer`);
    options[name] = n;
  }
  return options;
}

/** Closes a socket whose frame was refused, with a close code saying why. */
function failed(ws: WebSocket, e: unknown): void {
  const error = e instanceof RtError ? e : new RtError('internal', 'internal error');
  if (error.code === 'connection_lost') return;
  ws.close(CLOSE_CODES[error.code] ?? 1011, `${error.code}: ${error.message}`.slice(0, 120));
}

/** Refuses a WebSocket handshake with the error's HTTP status and a JSON error body. */
function refuse(socket: Duplex, e: unknown): void {
  const error = e instanceof RtError ? e : new RtError('internal', 'internal error');
  const status = httpStatus(error.code);
  const body = JSON.stringify({ error: { code: error.code, message: error.message } });
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
