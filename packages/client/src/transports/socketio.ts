import { Fetch } from 'engine.io-client';
import { io, type Socket } from 'socket.io-client';
import {
  type ClientFrame,
  RtError,
  SOCKETIO_EVENT,
  SOCKETIO_PATH,
  type TransportName,
  decodeServerFrame,
  isErrorCode,
} from '@rt/protocol';
import type { ClientTransport, TransportContext, TransportEvents, TransportFactory } from './transport.js';

/** The most a batch of frames sent in one socket.io packet carries, about (payload characters or bytes). */
const PACKET_BYTES = 512 * 1024;

/** About how large a frame is on the wire: its payload's size plus the envelope. */
function frameSize(frame: ClientFrame): number {
  if (!('data' in frame)) return 64;
  const data = frame.data;
  if (data instanceof Uint8Array) return 64 + data.byteLength;
  if (typeof data === 'string') return 64 + data.length;
  return 64 + (JSON.stringify(data)?.length ?? 0);
}

/**
 * One connection through socket.io, pinned to one engine.io transport (`websocket` or
 * `polling`) with socket.io's own reconnection off: the rt client decides when and how to
 * reconnect, the same way for every transport. Frames sent in the same tick go out in one
 * socket.io packet.
 */
class SocketIoTransport implements ClientTransport {
  private socket: Socket | undefined;
  private outbox: ClientFrame[] = [];
  private opened = false;

  constructor(
    readonly name: TransportName,
    private readonly context: TransportContext,
    private readonly events: TransportEvents,
  ) {}

  open(): Promise<void> {
    const { url, prefix, token, openTimeoutMs, headers } = this.context;
    const socket = io(url, {
      path: `${prefix}${SOCKETIO_PATH}`,
      transports: this.name === 'websocket' ? ['websocket'] : pollingTransports(),
      upgrade: false,
      reconnection: false,
      forceNew: true,
      timeout: openTimeoutMs,
      ...(token !== undefined ? { auth: { token } } : {}),
      ...(headers ? { extraHeaders: headers } : {}),
    });
    this.socket = socket;
    socket.on(SOCKETIO_EVENT, (...frames: unknown[]) => {
      for (const raw of frames) {
        const frame = decodeServerFrame(raw);
        if (frame) this.events.frame(frame);
      }
    });
    return new Promise<void>((resolve, reject) => {
      // The connection can drop after engine.io opened and before socket.io's handshake ends:
      // socket.io then reports neither `connect` nor `connect_error`, only `disconnect`.
      const early = (reason: string): void => {
        socket.close();
        reject(new Error(`closed while connecting: ${reason}`));
      };
      socket.once('disconnect', early);
      socket.once('connect', () => {
        socket.off('disconnect', early);
        this.opened = true;
        socket.on('disconnect', (reason) => {
          if (this.socket === socket) this.events.close(`${this.name}: ${reason}`);
        });
        resolve();
      });
      socket.once('connect_error', (error: ConnectError) => {
        socket.off('disconnect', early);
        socket.close();
        // The broker refused the handshake (origin, credentials): keep its code.
        const code = error.data?.code;
        if (isErrorCode(code)) reject(new RtError(code, error.message));
        else void explain(error, `${url}${prefix}/socket.io/`, this.context.fetch).then(reject);
      });
    });
  }

  send(frame: ClientFrame): void {
    if (this.outbox.push(frame) === 1) queueMicrotask(this.flush);
  }

  private readonly flush = (): void => {
    const frames = this.outbox;
    if (frames.length === 0) return;
    this.outbox = [];
    const socket = this.socket;
    if (!this.opened || !socket) return;
    if (frames.length === 1) {
      socket.emit(SOCKETIO_EVENT, frames[0]);
      return;
    }
    // One packet per batch, but never one larger than the broker takes (it drops the
    // connection past about four times its payload limit): a burst of publishes goes out in
    // packets of about PACKET_BYTES.
    let start = 0;
    let bytes = 0;
    for (let i = 0; i < frames.length; i++) {
      const size = frameSize(frames[i]!);
      if (i > start && bytes + size > PACKET_BYTES) {
        socket.emit(SOCKETIO_EVENT, ...frames.slice(start, i));
        start = i;
        bytes = 0;
      }
      bytes += size;
    }
    socket.emit(SOCKETIO_EVENT, ...frames.slice(start));
  };

  close(): void {
    // Frames queued this tick (an ack from a handler that just returned) still go out:
    // engine.io drains its write buffer before it closes.
    if (this.outbox.length > 0) this.flush();
    const socket = this.socket;
    this.socket = undefined;
    socket?.close();
  }
}

/** What socket.io-client reports when it cannot connect: engine.io's TransportError, or the broker's refusal. */
type ConnectError = Error & { data?: { code?: unknown }; description?: unknown; context?: unknown };

/**
 * The underlying reason of a socket.io connection failure, which socket.io words as
 * "websocket error" or "xhr poll error": the network error (`connect ECONNREFUSED …`, DNS, TLS)
 * or the HTTP status and body. Where engine.io keeps none (XHR polling reports status 0), one
 * `fetch` of the handshake URL finds the network error.
 */
async function explain(error: ConnectError, url: string, fetchImpl: typeof fetch | undefined): Promise<Error> {
  const cause = (why: string): Error => new Error(`${error.message}: ${why}`, { cause: error });
  const d = error.description;
  // fetch (long-polling in Node) fails with "fetch failed" and the network error as its cause.
  if (d instanceof Error) return cause(d.cause instanceof Error ? d.cause.message : d.message);
  if (typeof d === 'object' && d !== null && 'message' in d && typeof d.message === 'string' && d.message !== '')
    return cause(d.message);
  const ctx = error.context;
  const body =
    typeof ctx === 'object' && ctx !== null && 'responseText' in ctx && typeof ctx.responseText === 'string'
      ? ctx.responseText.slice(0, 200)
      : '';
  if (typeof d === 'number' && d > 0) return cause(`HTTP ${d}${body ? ` ${body}` : ''}`);
  if (!fetchImpl) return error;
  try {
    const res = await fetchImpl(`${url}?EIO=4&transport=polling`, { signal: AbortSignal.timeout(2000) });
    const text = await res.text().catch(() => '');
    return res.ok ? error : cause(`HTTP ${res.status} ${text.slice(0, 200)}`);
  } catch (e) {
    const inner =
      e instanceof Error && e.cause instanceof Error ? e.cause.message : e instanceof Error ? e.message : '';
    return inner ? cause(inner) : error;
  }
}

function factory(name: TransportName): TransportFactory {
  return {
    name,
    // socket.io-client brings its own WebSocket in Node (the `ws` package) and XHR polling;
    // browsers and React Native have the globals it uses.
    available: () => true,
    create: (context, events) => new SocketIoTransport(name, context, events),
  };
}

/** WebSocket through socket.io. */
export const websocket: TransportFactory = factory('websocket');
/** HTTP long-polling through socket.io. */
export const polling: TransportFactory = factory('polling');

/**
 * Long-polling's transport: XMLHttpRequest where the runtime has it (browsers, React Native),
 * else `fetch` (Node). Node's XMLHttpRequest stand-in opens a TCP connection per poll and closes
 * it after the answer; `fetch` keeps its connections alive between polls, as browsers do. The
 * broker reads a kept-alive poll connection that closes as its peer leaving (a killed process is
 * found in seconds), and never mistakes a slow live poller for a dead one.
 */
function pollingTransports(): string[] | (typeof Fetch)[] {
  return typeof XMLHttpRequest === 'undefined' && typeof fetch === 'function' ? [FetchPolling] : ['polling'];
}

/**
 * engine.io's `Fetch` transport, with every request's failure reported to the transport. The
 * upstream class (engine.io-client 6.6) leaves the promise of a poll's body unhandled: a
 * connection cut while the answer's body is read rejects it with undici's `terminated`, an
 * unhandled rejection that ends a Node process run with default settings. Here a poll reads its
 * body inside the handled chain, and a write reads its (two-byte) answer so the kept-alive
 * connection goes back to the pool at once instead of when the answer is collected.
 */
class FetchPolling extends Fetch {
  override doPoll(): void {
    this.request()
      .then(async (res) => {
        if (!res.ok) return void this.onError('fetch read error', res.status, res);
        this.onData(await res.text());
      })
      .catch((error: unknown) => this.onError('fetch read error', error));
  }

  override doWrite(data: string, callback: () => void): void {
    this.request(data)
      .then(async (res) => {
        if (!res.ok) return void this.onError('fetch write error', res.status, res);
        await res.arrayBuffer();
        callback();
      })
      .catch((error: unknown) => this.onError('fetch write error', error));
  }

  private request(data?: string): Promise<Response> {
    const headers = new Headers(this.opts.extraHeaders);
    if (data !== undefined) headers.set('content-type', 'text/plain;charset=UTF-8');
    return fetch(this.uri(), {
      method: data === undefined ? 'GET' : 'POST',
      body: data ?? null,
      headers,
      credentials: this.opts.withCredentials ? 'include' : 'omit',
    });
  }
}
