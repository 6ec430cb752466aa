import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { Server as SocketIoServer, type Socket } from 'socket.io';
import WebSocket from 'ws';
import { type ByeFrame, type ErrorCode, RtError, SOCKETIO_EVENT, SOCKETIO_PATH, maxBatchBytes } from '@rt/protocol';
import type { TransportHost } from './host.js';
import { Outgoing } from '../outgoing.js';
import type { Identity, Session, Wire } from '../session.js';
import type { Transport } from './host.js';
import type { ForeignCheck } from '../forward.js';
import { socketIoCors } from '../policy/cors.js';

/** `ws`'s frame builder, used as socket.io itself does to encode a broadcast's WebSocket frame once. */
const frameOf = (WebSocket as unknown as { Sender?: { frame?: (data: Buffer, options: FrameOptions) => Buffer[] } })
  .Sender?.frame;
interface FrameOptions {
  readOnly: boolean;
  mask: boolean;
  rsv1: boolean;
  opcode: number;
  fin: boolean;
}
const TEXT_FRAME: FrameOptions = { readOnly: false, mask: false, rsv1: false, opcode: 1, fin: true };

/** engine.io write options: `wsPreEncodedFrame` makes its WebSocket transport send these bytes as they are. */
interface PacketOptions {
  wsPreEncodedFrame?: Buffer[];
}

/**
 * The encoding of the last batch written, shared by every wire of a transport. Sessions
 * flushed in the same turn mostly hold the same messages (a fan-out), so the socket.io packet
 * and its WebSocket frame are built once for all of them, not once per connection. Reusing it
 * is always correct: a batch of the same (immutable) frames encodes the same.
 */
class BatchEncoder {
  private batch: readonly Outgoing[] = [];
  private packet = '';
  private options: PacketOptions = {};
  private framed = false;

  /** The socket.io packet of a batch of text frames (`2["f",frame1,...]`), and options that carry its WebSocket frame when `websocket`. */
  encode(batch: readonly Outgoing[], websocket: boolean): { packet: string; options: PacketOptions } {
    if (!this.same(batch)) {
      let texts = '';
      for (const out of batch) texts += ',' + out.text();
      this.batch = batch;
      this.packet = `2["${SOCKETIO_EVENT}"${texts}]`;
      this.options = {};
      this.framed = false;
    }
    if (websocket && !this.framed && frameOf) {
      // "4": engine.io's "message" packet type.
      this.options = { wsPreEncodedFrame: frameOf(Buffer.from('4' + this.packet), TEXT_FRAME) };
      this.framed = true;
    }
    return { packet: this.packet, options: websocket ? this.options : {} };
  }

  private same(batch: readonly Outgoing[]): boolean {
    const last = this.batch;
    if (batch.length !== last.length || batch.length === 0) return false;
    for (let i = 0; i < batch.length; i++) if (batch[i] !== last[i]) return false;
    return true;
  }
}

/**
 * A session's wire over socket.io. Text frames are written straight to engine.io as one
 * pre-encoded socket.io packet per batch (`2["f",frame1,frame2,...]`), encoded once for every
 * connection that gets the same batch ({@link BatchEncoder}); binary frames go through
 * socket.io's own encoder (binary attachments).
 */
class SocketIoWire implements Wire {
  constructor(
    private readonly socket: Socket,
    private readonly encoder: BatchEncoder,
  ) {}

  get transport(): string {
    return this.socket.conn.transport.name;
  }

  readonly door = 'socket.io';

  get remote(): string {
    return this.socket.handshake.address;
  }

  write(batch: readonly Outgoing[]): void {
    const conn = this.socket.conn as Socket['conn'] & { write(data: string, options: PacketOptions): void };
    if (!batch.some((out) => out.binary)) {
      const { packet, options } = this.encoder.encode(batch, conn.transport.name === 'websocket');
      conn.write(packet, options);
      return;
    }
    let texts = '';
    for (const out of batch) {
      if (out.binary) {
        if (texts) conn.write(`2["${SOCKETIO_EVENT}"${texts}]`, {});
        texts = '';
        this.socket.emit(SOCKETIO_EVENT, out.frame);
      } else texts += ',' + out.text();
    }
    if (texts) conn.write(`2["${SOCKETIO_EVENT}"${texts}]`, {});
  }

  close(bye?: ByeFrame): void {
    if (bye) this.socket.emit(SOCKETIO_EVENT, bye);
    this.socket.disconnect(true);
  }

  /** The `writeBuffer` last counted (see {@link buffered}), how many of its packets, and their bytes. */
  private countedBuffer: EngineConn['writeBuffer'];
  private countedPackets = 0;
  private countedBytes = 0;

  buffered(): number {
    // engine.io keeps packets its transport has not taken yet in `writeBuffer` (long-polling:
    // until the next poll); the WebSocket transport hands them to `ws`, whose
    // `bufferedAmount` counts what the kernel has not taken.
    const conn = this.socket.conn as unknown as EngineConn;
    const buffer = conn.writeBuffer;
    // Between two polls the buffer only grows (engine.io pushes onto it, and hands it over
    // whole for a new one): only the packets added since the last call are counted, not the
    // whole buffer on every flush (long-polling at 1,000 pollers: 3.8% of the broker's samples).
    // An empty buffer is not kept (over WebSocket it is always empty here: nothing is held
    // for an idle connection).
    if (this.countedBuffer !== buffer || buffer === undefined || buffer.length < this.countedPackets) {
      this.countedBuffer = undefined;
      this.countedPackets = 0;
      this.countedBytes = 0;
    }
    if (buffer !== undefined && buffer.length > this.countedPackets) {
      let bytes = this.countedBytes;
      for (let i = this.countedPackets; i < buffer.length; i++) {
        const data = buffer[i]!.data;
        bytes += typeof data === 'string' ? data.length : (data?.byteLength ?? 0);
      }
      this.countedBuffer = buffer;
      this.countedPackets = buffer.length;
      this.countedBytes = bytes;
    }
    return (conn.transport.socket?.bufferedAmount ?? 0) + this.countedBytes;
  }

  destroy(): void {
    const conn = this.socket.conn as unknown as EngineConn;
    conn.transport.socket?.terminate?.();
    conn.close(true);
  }
}

/** The parts of engine.io's connection the wire reads (not in its public types). */
interface EngineConn {
  writeBuffer?: { data?: string | { byteLength: number } }[];
  transport: { socket?: { bufferedAmount?: number; terminate?(): void } };
  close(discard?: boolean): void;
}

/** A refused handshake as socket.io sends it: the client's `connect_error` gets the message and `data: { code }`. */
function refusal(error: unknown): Error {
  const code: ErrorCode = error instanceof RtError ? error.code : 'internal';
  const out = new Error(error instanceof RtError ? error.message : 'internal error') as Error & {
    data: { code: ErrorCode };
  };
  out.data = { code };
  return out;
}

/** What the transport keeps in `socket.data`. */
interface ConnectionData {
  identity?: Identity;
  session: Session;
  broker: TransportHost;
}

/**
 * Frames are taken in `onAny`, which socket.io calls as each packet is decoded: plain event
 * handlers run on the next tick and are skipped once the socket has disconnected, which would
 * lose frames that arrived just before a disconnect (an ack sent right before the client
 * closed) and let an error overtake earlier answers.
 */
function onAnyEvent(this: Socket, event: string, ...frames: unknown[]): void {
  const { broker, session } = this.data as ConnectionData;
  if (event === SOCKETIO_EVENT) {
    for (const frame of frames) broker.handleFrame(session, frame);
  } else {
    session.send(
      new Outgoing({
        t: 'err',
        code: 'unknown_op',
        message: `unknown socket.io event "${String(event).slice(0, 32)}": rt frames travel on "${SOCKETIO_EVENT}"`,
      }),
    );
  }
}

/**
 * How long a long-polling session waits for a new poll once the TCP connection of its last poll
 * closed, in ms. Not shorter: a client behind a link that stalls for a second or two (its poll
 * answered into a proxy's buffer, the connection then closed) is slow, not gone, and gets the
 * slow-consumer policy rather than a disconnect (test/reliability/slow-consumer.test.ts).
 */
const POLLER_GONE_MS = 3000;

/**
 * A kept-alive connection that closes after this long without an answer, in ms, was closed for
 * idleness (keep-alive expiry), not by a peer leaving: Node's `fetch` (undici) closes a pooled
 * connection idle for 3 s (the server's 5 s keep-alive less its 2 s margin), Node's HTTP server
 * one idle for 5 s. A live poller polls again within milliseconds of an answer, unless it is
 * loaded: at 1,000 `fetch` pollers on a loaded machine, nearly every such expiry came more than
 * 3 s after its last answer, and counting them as departures closed live sessions (a quarter
 * of the messages of a 1 KiB fan-out lost).
 */
const KEEP_ALIVE_IDLE_MS = 2000;

/** A kept-alive connection polls came over: when it last answered, and who polled last on it. */
interface PollConnection {
  answeredAt: number;
  /** The departure checks of the sessions whose last poll it carried. */
  last: Set<() => void>;
}

/** Kept-alive poll connections, shared by every session (one `close` listener per connection). */
const pollConnections = new WeakMap<object, PollConnection>();

/** The record of the poll connection `socket` (from its first poll on). */
function pollConnection(socket: IncomingMessage['socket']): PollConnection {
  let known = pollConnections.get(socket);
  if (known === undefined) {
    const record: PollConnection = { answeredAt: 0, last: new Set() };
    known = record;
    pollConnections.set(socket, record);
    socket.once('close', () => {
      if (Date.now() - record.answeredAt >= KEEP_ALIVE_IDLE_MS) return;
      for (const check of record.last) check();
    });
  }
  return known;
}

/**
 * A long-polling peer that dies between two polls (a killed process) leaves no poll for the
 * broker to see break: only the missed ping would tell, after `heartbeatMs + pingTimeoutMs`.
 * The TCP connection of its last poll closes though, moments after that poll's answer: when no
 * poll arrived within {@link POLLER_GONE_MS} of that (none answered since, none waiting), the
 * session is closed. Only the connection of the session's last poll counts (clients pool their
 * connections: a session's polls hop between them), and only when it closes soon after an
 * answer (past {@link KEEP_ALIVE_IDLE_MS} it is a keep-alive expiry).
 * Only a keep-alive connection (a browser's, Node's `fetch`) tells this: a client that opens a connection per
 * poll (`Connection: close`, as Node's XHR does) closes it after every answer, alive or not,
 * and a loaded one can take longer than that to poll again (at 1,000 pollers on 2 cores, a
 * third of them were closed alive and lost every message after): it is left to the heartbeat.
 * (Polls another node forwarded are left out too: their connection is the forwarder's.)
 */
function closeWhenPollerGone(conn: Socket['conn']): void {
  const polling = conn.transport;
  let polls = 0;
  let last: PollConnection | undefined;
  const check = (): void => {
    const before = polls;
    setTimeout(() => {
      // `writable`: a poll is waiting for data; `polls`: one was answered since. Either way the peer is alive.
      const gone = polls === before && !polling.writable;
      // Closed at once (`discard`): an orderly close would wait for a poll that never comes.
      if (gone && conn.transport === polling && conn.readyState === 'open' && !conn.upgrading) conn.close(true);
    }, POLLER_GONE_MS).unref();
  };
  polling.on('headers', (_headers: unknown, req: IncomingMessage) => {
    const now = Date.now();
    if (req.method !== 'GET') {
      // A write's answer is activity on its connection too.
      const known = pollConnections.get(req.socket);
      if (known !== undefined) known.answeredAt = now;
      return;
    }
    polls++;
    if (req.headers['x-rt-forwarded'] !== undefined || !keptAlive(req)) return;
    const connection = pollConnection(req.socket);
    connection.answeredAt = now;
    if (connection === last) return;
    last?.last.delete(check);
    connection.last.add(check);
    last = connection;
  });
  conn.once('close', () => last?.last.delete(check));
}

/** True when the request's connection stays open for the next request (HTTP/1.1 without `Connection: close`). */
function keptAlive(req: IncomingMessage): boolean {
  const connection = req.headers.connection?.toLowerCase() ?? '';
  return req.httpVersion === '1.0' ? connection.includes('keep-alive') : !connection.includes('close');
}

function onDisconnect(this: Socket, reason: string): void {
  const { broker, session } = this.data as ConnectionData;
  broker.closeSession(session, reason);
}

/**
 * WebSocket and HTTP long-polling through socket.io, at `{prefix}/socket.io/`. Payloads above
 * `maxPayloadBytes` get a `payload_too_large` error frame; only a message larger than four
 * times that (socket.io's `maxHttpBufferSize`) makes socket.io drop the connection, to keep
 * memory bounded.
 */
export class SocketIoTransport implements Transport {
  private io: SocketIoServer | undefined;
  private readonly encoder = new BatchEncoder();
  private broker!: TransportHost;

  setup(broker: TransportHost): void {
    this.broker = broker;
  }

  attach(server: HttpServer): void {
    const broker = this.broker;
    if (this.io) {
      this.io.engine.attach(server, { path: `${broker.options.prefix}${SOCKETIO_PATH}/`, destroyUpgrade: false });
      return;
    }
    const io = new SocketIoServer(server, {
      path: `${broker.options.prefix}${SOCKETIO_PATH}`,
      serveClient: false,
      transports: ['polling', 'websocket'],
      maxHttpBufferSize: maxBatchBytes(broker.limits.maxPayloadBytes),
      destroyUpgrade: false,
      // CORS answers follow `allowOrigin`: credentials for listed origins only.
      cors: socketIoCors(broker.policy),
      // A peer that vanished without a word is found within heartbeatMs + pingTimeoutMs, so
      // what it held (pulled jobs) goes to others.
      pingInterval: broker.options.heartbeatMs,
      pingTimeout: broker.options.pingTimeoutMs,
      // Poll answers go uncompressed, as every other transport's frames (no permessage-deflate
      // either): engine.io gzips each answer of 1 KiB or more for a client that accepts it
      // (browsers, Node's fetch) with a zlib stream of its own, 150-350 µs of CPU per answer,
      // whatever its size; it was a third of the broker's CPU at 1,000 pollers. A proxy in
      // front can compress where bandwidth costs more than CPU.
      httpCompression: false,
    });
    this.io = io;
    const forwarding = broker.forwarding;
    if (forwarding) {
      // This node owns the engine.io sessions it opens: other nodes forward their long-polls here.
      io.engine.on('connection', (conn: { id: string; once(event: 'close', fn: () => void): void }) => {
        forwarding.claim(conn.id);
        conn.once('close', () => forwarding.release(conn.id));
      });
    }
    io.use((socket, next) => {
      const { headers, url, auth } = socket.handshake;
      const token = typeof auth?.token === 'string' ? auth.token : undefined;
      broker
        .admit({
          transport: socket.conn.transport.name,
          headers,
          query: new URL(url, 'http://localhost').searchParams,
          ...(token !== undefined ? { token } : {}),
        })
        .then(
          (identity) => {
            socket.data.identity = identity;
            next();
          },
          (error: unknown) => next(refusal(error)),
        );
    });
    io.on('connection', (socket) => {
      if (broker.isClosing) {
        socket.disconnect(true);
        return;
      }
      // A long-polling transport closed while no poll is waiting holds a 30 s timer for the
      // poll that will never come (a peer gone silent); one heartbeat is enough.
      const polling = socket.conn.transport as unknown as { closeTimeout?: number };
      if (typeof polling.closeTimeout === 'number')
        polling.closeTimeout = Math.min(polling.closeTimeout, broker.options.heartbeatMs);
      if (socket.conn.transport.name === 'polling') closeWhenPollerGone(socket.conn);
      const session = broker.openSession(new SocketIoWire(socket, this.encoder));
      const data = socket.data as ConnectionData;
      session.identity = data.identity ?? null;
      data.session = session;
      data.broker = broker;
      // socket.io puts every socket in a room of its own id; rt addresses sessions through its
      // hub, never through socket.io rooms, so that room is memory for nothing.
      void socket.leave(socket.id);
      // Shared handlers (they find the session through `this`, the socket): no closures per
      // connection, which matters when there are many idle ones. Frames are taken in `onAny`,
      // which socket.io calls as each packet is decoded: plain event handlers run on the next
      // tick and are skipped once the socket has disconnected, which would lose frames that
      // arrived just before a disconnect (an ack sent right before the client closed).
      socket.onAny(onAnyEvent);
      socket.on('disconnect', onDisconnect);
    });
  }

  /**
   * No sticky sessions needed: a long-polling request for a session another node owns is
   * forwarded to that node (see {@link Transport.foreign}).
   */
  readonly foreign: ForeignCheck = {
    connectionOf: (_req, url) =>
      url.pathname === `${this.broker.options.prefix}${SOCKETIO_PATH}/` ? url.searchParams.get('sid') : null,
    isLocal: (id) =>
      this.io !== undefined && id in (this.io.engine as unknown as { clients: Record<string, unknown> }).clients,
    unknown: (res) => {
      // engine.io's own answer to a session id it does not know.
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 1, message: 'Session ID unknown' }));
    },
  };

  async close(): Promise<void> {
    const io = this.io;
    if (!io) return;
    io.local.disconnectSockets(true);
    io.engine.close();
  }
}
