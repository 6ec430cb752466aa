import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type ByeFrame,
  RtError,
  SSE_PATH,
  SSE_PING_EVENT,
  SSE_SESSION_EVENT,
  type SseSessionInfo,
  maxBatchBytes,
} from '@rt/protocol';
import type { TransportHost } from './host.js';
import { readBodyThen, sendError, sendFailure } from '../http.js';
import { Outgoing } from '../outgoing.js';
import type { Identity, Session, Wire } from '../session.js';
import { admitRequest } from './handshake.js';
import type { Transport } from './host.js';
import type { ForeignCheck } from '../forward.js';
import { plainStream } from './sse-plain.js';
import { SseStream, formatEvent } from './sse-stream.js';

/** The SDK stream's heartbeat event, formatted once. */
const PING = formatEvent({ event: SSE_PING_EVENT, data: '1' });

/** The query of a POST, for the origin check (which reads none). */
const NO_QUERY = new URLSearchParams();

/** Bytes of randomness in a session's POST URL token: 192 bits, base64url. */
const TOKEN_BYTES = 24;

/**
 * A session's wire over SSE: each flush is one event whose `data:` lines are the frames'
 * JSON texts (binary payloads as base64 with `bin: 1`), with an increasing `id:`.
 */
class SseFrameWire implements Wire {
  readonly transport = 'sse';
  readonly door = 'sse';
  private seq = 0;

  constructor(private readonly stream: SseStream) {}

  get remote(): string | undefined {
    return this.stream.remote;
  }

  write(batch: readonly Outgoing[]): void {
    // formatEvent's text, built directly: a frame's text is JSON made by JSON.stringify (the
    // payload's text too, see parseClientFrame), which escapes every line break: one `data:`
    // line per frame, which the client splits the event's data on.
    let event = `id: ${++this.seq}\n`;
    for (const out of batch) event += `data: ${out.text()}\n`;
    this.stream.write(`${event}\n`);
  }

  close(bye?: ByeFrame): void {
    if (bye) this.write([new Outgoing(bye)]);
    this.stream.end();
  }

  buffered(): number {
    return this.stream.buffered();
  }

  destroy(): void {
    this.stream.res.destroy();
  }
}

/**
 * Server-sent events, at `{prefix}/sse`:
 *
 * - SDK clients: `GET {prefix}/sse?frames=1` opens a stream of rt frames. Its first event,
 *   `event: session`, carries `{"url": "sse/<token>", "heartbeatMs": N}`: the session's POST
 *   URL (relative to the stream's URL), with an unguessable 192-bit token tied to this stream.
 *   `POST` one JSON frame or a JSON array of frames there (answered `204`; the frames' answers
 *   come on the stream). A token no open stream has gets `403`, a body that is no frame `400`.
 *   An `event: ping` comes every `heartbeatMs`, so the client can tell a stalled stream.
 * - Plain clients (`curl -N`, a browser's `EventSource`): `GET {prefix}/sse?topic=a&topic=b`,
 *   see {@link plainStream}.
 *
 * Every stream is admitted by {@link TransportHost.admit} (token from `Authorization: Bearer`, `?token=`
 * or the `rt_token` cookie); a refusal is the error's HTTP status.
 */
export class SseTransport implements Transport {
  private broker!: TransportHost;
  private readonly byToken = new Map<string, Session>();

  setup(broker: TransportHost): void {
    this.broker = broker;
    const base = `${broker.options.prefix}${SSE_PATH}`;
    broker.addRoute('GET', base, (req, res, url) => this.open(req, res, url));
    broker.addRoute('POST', `${base}/*`, (req, res, url) => this.post(req, res, url.pathname.slice(base.length + 1)));
    broker.addRoute('OPTIONS', `${base}/*`, (req, res) => void broker.cors(req, res, 'POST, OPTIONS'));
  }

  attach(): void {}

  /** No sticky sessions needed: a POST for a stream another node holds is forwarded to that node. */
  readonly foreign: ForeignCheck = {
    connectionOf: (req, url) => {
      const base = `${this.broker.options.prefix}${SSE_PATH}/`;
      return req.method === 'POST' && url.pathname.startsWith(base) ? url.pathname.slice(base.length) : null;
    },
    isLocal: (token) => this.byToken.has(token),
    unknown: (res) => sendError(res, 'forbidden', 'no open SSE stream has this URL'),
  };

  async close(): Promise<void> {
    this.byToken.clear();
  }

  private async open(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const broker = this.broker;
    broker.cors(req, res);
    if (broker.isClosing) return sendError(res, 'shutting_down', 'the broker is shutting down');
    const frames = url.searchParams.get('frames') === '1';
    if (!frames && !url.searchParams.has('topic')) {
      return sendError(
        res,
        'bad_frame',
        'name at least one topic (?topic=a&topic=b), or ?frames=1 for the rt protocol',
      );
    }
    let identity: Identity;
    try {
      identity = await admitRequest(broker, 'sse', req, url);
    } catch (e) {
      return sendFailure(res, e);
    }
    if (res.destroyed) return;
    if (!frames) return plainStream(broker, req, res, url, identity);
    const stream = new SseStream(req, res);
    const session = broker.openSession(new SseFrameWire(stream));
    session.identity = identity;
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    this.byToken.set(token, session);
    // With a distributed engine, POSTs to this stream's URL that land on other nodes are forwarded here.
    broker.forwarding?.claim(token);
    stream.onClose(() => {
      this.byToken.delete(token);
      broker.forwarding?.release(token);
      broker.closeSession(session);
    });
    const heartbeatMs = broker.options.heartbeatMs;
    stream.open(broker.options.sseRetryMs, heartbeatMs, PING);
    const info: SseSessionInfo = { url: `${SSE_PATH.slice(1)}/${token}`, session: session.id, heartbeatMs };
    stream.write(formatEvent({ event: SSE_SESSION_EVENT, id: '0', data: JSON.stringify(info) }));
  }

  private post(req: IncomingMessage, res: ServerResponse, token: string): void {
    this.broker.cors(req, res, 'POST, OPTIONS');
    const session = this.byToken.get(token);
    if (!session || session.closed) {
      req.resume();
      sendError(res, 'forbidden', 'no open SSE stream has this URL');
      return;
    }
    // A page of another site that learnt the URL is refused as its stream would have been.
    const originProblem = this.broker.policy.originProblem({
      transport: 'http',
      headers: req.headers,
      query: NO_QUERY,
    });
    if (originProblem !== undefined) {
      req.resume();
      sendError(res, 'forbidden', originProblem);
      return;
    }
    // A batch of frames, each with a payload of at most maxPayloadBytes (base64 adds a third).
    readBodyThen(req, maxBatchBytes(this.broker.limits.maxPayloadBytes), (error, body) => {
      let frames: unknown[];
      try {
        if (error !== undefined) throw error;
        frames = parseBatch(body.toString('utf8'));
      } catch (e) {
        return sendFailure(res, e);
      }
      try {
        // The answers are queued for the stream (written in this turn's microtasks, after the
        // 204): both go out in the turn the body arrived.
        for (const frame of frames) this.broker.handleFrame(session, frame);
      } catch (e) {
        this.broker.logger.error({ err: e, url: req.url }, 'HTTP handler failed');
        return sendError(res, 'internal', 'internal error');
      }
      res.writeHead(204);
      res.end();
    });
  }
}

/** Parses a POST body: one frame object or an array of them. Throws `bad_frame` otherwise. */
function parseBatch(text: string): unknown[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new RtError('bad_frame', 'the body is not valid JSON: send one frame object or an array of frames');
  }
  if (Array.isArray(value)) return value;
  if (typeof value === 'object' && value !== null) return [value];
  throw new RtError('bad_frame', 'the body must be one frame object or an array of frames');
}
