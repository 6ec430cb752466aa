import {
  type ClientFrame,
  RtError,
  SSE_PATH,
  SSE_PING_EVENT,
  SSE_SESSION_EVENT,
  type SseSessionInfo,
  decodeServerFrame,
  encodeFrame,
  isErrorCode,
} from '@rt/protocol';
import type { ClientTransport, TransportContext, TransportEvents, TransportFactory } from './transport.js';

/** The part of the `EventSource` API this transport uses (browsers', the `eventsource` package's, a React Native polyfill's). */
interface EventSourceLike {
  readonly readyState: number;
  onmessage: ((event: { data: string }) => void) | null;
  onerror: ((event: { message?: string; code?: number }) => void) | null;
  addEventListener(type: string, listener: (event: { data: string }) => void): void;
  close(): void;
}

/** The most one POST carries, about (characters of frames). */
const POST_BYTES = 512 * 1024;

/** An `EventSource` constructor; the second argument is the `eventsource` package's init (with `fetch`). */
type EventSourceClass = new (
  url: string,
  init?: { withCredentials?: boolean; fetch?: typeof fetch },
) => EventSourceLike;

/** The `RtError` of a refused request, from its `{ error: { code, message } }` body. */
async function refusalOf(res: Response): Promise<RtError | undefined> {
  try {
    const body = (await res.clone().json()) as { error?: { code?: unknown; message?: unknown } };
    const code = body.error?.code;
    return isErrorCode(code) ? new RtError(code, `sse: ${String(body.error?.message ?? code)}`) : undefined;
  } catch {
    return undefined;
  }
}

const isNode = (): boolean => typeof process !== 'undefined' && typeof process.versions?.node === 'string';

/** Node itself, not a runtime that also sets `process.versions.node` (Bun, Deno). */
const isNodeItself = (): boolean =>
  isNode() && process.versions.bun === undefined && (process.versions as { deno?: string }).deno === undefined;

/** POSTs a body, resolving with the response's status once the response has been read. */
type Poster = (url: string, headers: Record<string, string>, body: string) => Promise<number>;

/** Node's posters, one per protocol, loaded on first use. */
const posters = new Map<string, Promise<Poster | undefined>>();

/**
 * Node's POSTs, by `node:http` (or `node:https`) with a kept-alive agent that the process's
 * clients share (as `fetch`'s pool is shared): about a third of the CPU time of a `fetch` per
 * request (undici's fetch builds a Request, a Response, web streams and an AbortSignal for
 * each), which on a round trip is most of the client's work. Loaded lazily; the package's
 * `browser` field maps the modules to nothing in browser bundles, which then keep `fetch`
 * (`undefined` here). Idle connections do not keep the process alive.
 */
function nodePoster(secure: boolean): Promise<Poster | undefined> {
  const key = secure ? 'https' : 'http';
  let poster = posters.get(key);
  if (poster === undefined) posters.set(key, (poster = loadPoster(secure)));
  return poster;
}

async function loadPoster(secure: boolean): Promise<Poster | undefined> {
  const mod = (secure ? await import('node:https') : await import('node:http')) as Partial<typeof import('node:http')>;
  if (typeof mod.request !== 'function' || typeof mod.Agent !== 'function') return undefined;
  const request = mod.request;
  // A kept-alive connection is dropped after 4 s idle (undici's default), or 1 s before the
  // server's `Keep-Alive: timeout=N` hint (Node's agent reads the hint only with a timeout set):
  // a POST then never goes out on a connection the server is closing.
  const agent = new mod.Agent({ keepAlive: true, timeout: 4000 });
  return (url, headers, body) =>
    new Promise((resolve, reject) => {
      const req = request(
        url,
        { method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
        (res) => {
          // Read to the end, so that the connection goes back to the agent for the next POST.
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
          res.resume();
        },
      );
      req.on('error', reject);
      req.end(body);
    });
}

/**
 * Loads the `eventsource` package in Node, which has no global `EventSource`. The import is
 * lazy, and the package's `browser` map turns it into nothing in browser bundles, so browsers
 * never download it (they have `EventSource`).
 */
async function nodeEventSource(): Promise<EventSourceClass> {
  const mod: { EventSource?: unknown } = await import('eventsource');
  if (typeof mod.EventSource !== 'function')
    throw new Error('sse: this runtime has no EventSource (pass one as options.EventSource)');
  return mod.EventSource as EventSourceClass;
}

/**
 * Server-sent events: frames from the broker on an `EventSource` stream
 * (`GET {prefix}/sse?frames=1`), frames to it by `fetch` POST to the session URL the stream's
 * first event names. POSTs go one at a time, each carrying every frame sent meanwhile, so the
 * broker sees frames in the order they were sent.
 *
 * The token travels as `Authorization: Bearer` where the `EventSource` can send headers (the
 * `eventsource` package in Node), else as `?token=` (a browser's native `EventSource` cannot;
 * a `rt_token` cookie set by the application works too, sent with `withCredentials`).
 *
 * Opening waits for the `session` event, not just the response headers: a proxy that buffers
 * the stream makes it fail within `openTimeoutMs`, and the client falls back to the next
 * transport. Once open, a stream silent for twice the broker's heartbeat interval is closed as
 * stalled.
 */
class SseTransport implements ClientTransport {
  readonly name = 'sse' as const;
  private source: EventSourceLike | undefined;
  private postUrl: string | undefined;
  private outbox: ClientFrame[] = [];
  private posting = false;
  private closed = false;
  private watchdog: ReturnType<typeof setTimeout> | undefined;
  private silenceMs = 0;
  private lastEvent = 0;
  /** The POSTs' headers, built once. */
  private postHeaders: Record<string, string> = {};
  /** Node's POSTs, when the client was given no `fetch` of its own. */
  private poster: Poster | undefined;

  constructor(
    private readonly context: TransportContext,
    private readonly events: TransportEvents,
  ) {}

  async open(): Promise<void> {
    const { url, prefix, token, openTimeoutMs, headers: extra } = this.context;
    const EventSource = (this.context.EventSource as EventSourceClass | undefined) ?? (await nodeEventSource());
    if (this.closed) throw new Error('sse: closed while opening');
    const fetchImpl = this.context.fetch;
    if (this.context.runtimeFetch && isNodeItself() && /^https?:/.test(url)) {
      this.poster = await nodePoster(url.startsWith('https:'));
      if (this.closed) throw new Error('sse: closed while opening');
    }
    // The `eventsource` package (Node) fetches through us: the token goes as a header, and a
    // refusal's JSON body tells why (a native EventSource shows neither).
    const ownFetch = this.context.EventSource === undefined && fetchImpl !== undefined;
    const viaHeader = ownFetch && token !== undefined;
    const streamUrl = `${url}${prefix}${SSE_PATH}?frames=1${token !== undefined && !viaHeader ? `&token=${encodeURIComponent(token)}` : ''}`;
    let refusal: RtError | undefined;
    const init = ownFetch
      ? {
          fetch: (async (input, options) => {
            const headers = {
              ...(options?.headers as Record<string, string>),
              ...extra,
              ...(viaHeader ? { authorization: `Bearer ${token}` } : {}),
            };
            const res = await fetchImpl(input, { ...options, headers });
            if (res.status === 401 || res.status === 403) refusal = await refusalOf(res);
            return res;
          }) as typeof fetch,
        }
      : { withCredentials: true };
    const source = new EventSource(streamUrl, init);
    this.source = source;
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string, status?: number): void => {
        clearTimeout(timer);
        this.stop();
        // A refusal (origin, credentials) keeps its code, so the client can report it as such.
        const code = status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : undefined;
        reject(refusal ?? (code ? new RtError(code, why) : new Error(why)));
      };
      const timer = setTimeout(() => fail(`sse: no session within ${openTimeoutMs} ms`), openTimeoutMs);
      source.onerror = (e) =>
        fail(
          `sse: the stream did not open${e.code !== undefined ? ` (HTTP ${e.code})` : ''}${e.message ? `: ${e.message}` : ''}`,
          e.code,
        );
      source.addEventListener(SSE_SESSION_EVENT, (e) => {
        let info: SseSessionInfo;
        try {
          info = JSON.parse(e.data) as SseSessionInfo;
        } catch {
          return fail('sse: the session event is not JSON');
        }
        clearTimeout(timer);
        this.postUrl = new URL(info.url, new URL(streamUrl, 'http://localhost')).href;
        this.silenceMs = info.heartbeatMs * 2 + 1000;
        // text/plain keeps a cross-origin POST a "simple" request: no preflight round trip.
        this.postHeaders = { ...extra, 'content-type': 'text/plain;charset=UTF-8' };
        source.onerror = () => this.lost('sse: the stream ended');
        this.alive();
        resolve();
      });
    });
    source.addEventListener(SSE_PING_EVENT, this.alive);
    source.onmessage = (e) => {
      this.alive();
      for (const line of e.data.split('\n')) {
        const frame = decodeServerFrame(line);
        if (frame) this.events.frame(frame);
      }
    };
  }

  send(frame: ClientFrame): void {
    this.outbox.push(frame);
    if (!this.posting) queueMicrotask(this.post);
  }

  close(): void {
    this.closed = true;
    this.stop();
  }

  /**
   * An event came: the stream is alive. The watchdog is one timer, not one per event: it notes
   * the time, and the timer, when it fires, waits out what is left of the silence allowed.
   */
  private readonly alive = (): void => {
    this.lastEvent = Date.now();
    if (this.watchdog === undefined) this.watch(this.silenceMs);
  };

  private watch(ms: number): void {
    this.watchdog = setTimeout(() => {
      this.watchdog = undefined;
      // At most silenceMs: a clock set back does not put the check off.
      const left = Math.min(this.lastEvent + this.silenceMs - Date.now(), this.silenceMs);
      if (left > 0) this.watch(left);
      else this.lost(`sse: no event for ${this.silenceMs} ms (stalled)`);
    }, ms);
  }

  /** POSTs what is waiting, one request at a time, in order. */
  private readonly post = async (): Promise<void> => {
    if (this.posting || this.outbox.length === 0 || this.closed || !this.postUrl || !this.context.fetch) return;
    this.posting = true;
    // Every frame sent meanwhile, but no body larger than the broker reads (about four times
    // its payload limit): a burst goes out in POSTs of about POST_BYTES, in order.
    const parts: string[] = [];
    let size = 0;
    for (const frame of this.outbox) {
      const text = encodeFrame(frame);
      if (parts.length > 0 && size + text.length > POST_BYTES) break;
      parts.push(text);
      size += text.length;
    }
    this.outbox = this.outbox.slice(parts.length);
    const body = `[${parts.join(',')}]`;
    try {
      let status: number;
      if (this.poster) status = await this.poster(this.postUrl, this.postHeaders, body);
      else {
        const res = await this.context.fetch(this.postUrl, { method: 'POST', headers: this.postHeaders, body });
        await res.body?.cancel().catch(() => undefined);
        status = res.status;
      }
      if (status < 200 || status > 299) throw new Error(`HTTP ${status}`);
    } catch (error) {
      this.lost(`sse: POST failed: ${error instanceof Error ? error.message : String(error)}`);
      return;
    } finally {
      this.posting = false;
    }
    if (this.outbox.length > 0) void this.post();
  };

  private stop(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = undefined;
    this.source?.close();
    this.source = undefined;
  }

  /** The connection is gone: stop, and tell the client once. */
  private lost(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.stop();
    this.events.close(reason);
  }
}

/** Server-sent events (+ `fetch` POST). Needs an `EventSource` (global, `options.EventSource`, or the `eventsource` package in Node) and `fetch`. */
export const sse: TransportFactory = {
  name: 'sse',
  available: (context) => context.fetch !== undefined && (context.EventSource !== undefined || isNode()),
  create: (context, events) => new SseTransport(context, events),
};
