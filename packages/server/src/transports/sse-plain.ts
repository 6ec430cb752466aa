import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ByeFrame, GapReason, Pace, Payload } from '@rt/protocol';
import { queryPace } from '../ops/operations.js';
import { sendFailure } from '../http.js';
import type { Outgoing } from '../outgoing.js';
import type { Identity, Wire } from '../session.js';
import { barePayload } from './bare.js';
import type { TransportHost } from './host.js';
import { SseStream, formatEvent } from './sse-stream.js';

/** A stream position, as plain SSE event ids spell it: `<epoch>-<offset>`. */
interface Position {
  ep: string;
  off: number;
}

/** Parses `<epoch>-<offset>`; `null` when `id` is not one. */
export function parseEventId(id: string): Position | null {
  const dash = id.lastIndexOf('-');
  if (dash <= 0) return null;
  const off = Number(id.slice(dash + 1));
  return Number.isSafeInteger(off) && off >= 0 && /^\d+$/.test(id.slice(dash + 1))
    ? { ep: id.slice(0, dash), off }
    : null;
}

/** The SSE event of one message: strings as they are, bytes as base64 in `event: binary`, other JSON as JSON text. */
function messageEvent(data: Payload, id: string): string {
  const bare = barePayload(data);
  return typeof bare === 'string'
    ? formatEvent({ id, data: bare })
    : formatEvent({
        event: 'binary',
        id,
        data: Buffer.from(bare.buffer, bare.byteOffset, bare.byteLength).toString('base64'),
      });
}

/**
 * A plain client's wire: messages become events whose data is the bare payload and whose id
 * is `<epoch>-<offset>`, so that `Last-Event-ID` can resume the stream. Messages at or before
 * the position already sent are dropped, so replay then live has no duplicate.
 */
class PlainSseWire implements Wire {
  readonly transport = 'sse';
  readonly door = 'sse-plain';
  private ep = '';
  private last = -1;

  constructor(private readonly stream: SseStream) {}

  get remote(): string | undefined {
    return this.stream.remote;
  }

  /** Starts sending from `position` (events before it are dropped). */
  start(position: Position): void {
    this.ep = position.ep;
    this.last = position.off;
  }

  get id(): string {
    return `${this.ep}-${this.last}`;
  }

  /** Sends one message unless it was already sent. */
  message(data: Payload, off: number | undefined): string {
    if (off !== undefined) {
      if (off <= this.last) return '';
      this.last = off;
    }
    return messageEvent(data, this.id);
  }

  gap(topic: string, reason: GapReason, skipped?: number): string {
    const data = skipped === undefined ? { topic, reason } : { topic, reason, skipped };
    return formatEvent({ event: 'gap', id: this.id, data: JSON.stringify(data) });
  }

  write(batch: readonly Outgoing[]): void {
    let text = '';
    for (const out of batch) {
      const f = out.frame;
      if (this.last < 0) continue; // not started: nothing is written before the stream opens
      if (f.t === 'msg') {
        // A paced subscription skipped messages: said as a gap before the message.
        if (f.skipped !== undefined) text += this.gap(f.topic, 'conflated', f.skipped);
        // A retained value is older than the stream's position: sent as it is, with that position as id.
        text += f.retained ? messageEvent(f.data, this.id) : this.message(f.data, f.off);
      } else if (f.t === 'gap') text += this.gap(f.topic, f.reason);
      else if (f.t === 'err') text += `: error ${f.code}: ${f.message.replace(/[\r\n]+/g, ' ')}\n\n`;
      else if (f.t === 'bye') {
        this.close(f);
        return;
      }
    }
    if (text) this.stream.write(text);
  }

  close(bye?: ByeFrame): void {
    if (bye && this.last >= 0)
      this.stream.write(
        formatEvent({ event: 'bye', id: this.id, data: JSON.stringify({ code: bye.code, message: bye.message }) }),
      );
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
 * Plain SSE for clients without the SDK: `GET {prefix}/sse?topic=a&topic=b` streams every
 * message of those topics and their descendants. The subscription is the operations core's
 * (so authorization, limits and private filtering apply as for SDK clients; a refusal is the
 * HTTP status of the answer, before the stream starts).
 *
 * - `event: ready` opens the stream; its id is the position the stream continues from. Its
 *   data is `{"topics": [...]}`, with `"retained": n` when the next `n` events are the retained
 *   values of latest-value topics (older than the position; their id is the position).
 * - A message's `data` is the payload: a string as it is (line breaks as separate `data:` lines),
 *   any other JSON value as JSON text, bytes as base64 in an `event: binary`.
 * - Its `id` is `<epoch>-<offset>`. `Last-Event-ID` (sent by `EventSource` when it reconnects)
 *   or `?lastEventId=` on the first request replays what the topics received after that id from
 *   the broker's history, then goes on live, with nothing lost or sent twice. The replay is
 *   written in chunks within the outbound bound, like live messages. What cannot be replayed
 *   is said by an `event: gap` with `{"topic", "reason"}` data.
 * - `: ping` comments keep idle proxies from closing the stream.
 */
export async function plainStream(
  broker: TransportHost,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  identity: Identity,
): Promise<void> {
  const topics = [...new Set(url.searchParams.getAll('topic'))];
  const header = req.headers['last-event-id'];
  const lastId =
    (typeof header === 'string' && header !== '' ? header : undefined) ??
    url.searchParams.get('lastEventId') ??
    url.searchParams.get('lastEventID') ??
    undefined;
  const since = lastId === undefined ? undefined : parseEventId(lastId);
  let pace: Pace | undefined;
  try {
    pace = queryPace(url);
  } catch (e) {
    sendFailure(res, e);
    return;
  }
  const stream = new SseStream(req, res);
  const wire = new PlainSseWire(stream);
  const session = broker.openSession(wire);
  session.identity = identity;
  stream.onClose(() => broker.closeSession(session));
  try {
    await broker.ops.subscribe(
      { identity, session },
      {
        topics,
        ...(pace ? { pace } : {}),
        // An id that is no position (or none): from the start of the current epoch's history.
        ...(since === undefined ? {} : { from: since ?? { ep: '', off: 0 } }),
        before: (now, retained) => {
          // Messages at or before the position the stream starts from are not sent again.
          wire.start(since && now.ep === since.ep ? since : now);
          if (res.destroyed) return;
          stream.open(broker.options.sseRetryMs, broker.options.heartbeatMs);
          // `retained`: how many of the events after `ready` are retained values (latest-value topics).
          const data = retained > 0 ? { topics, retained } : { topics };
          stream.write(formatEvent({ event: 'ready', id: wire.id, data: JSON.stringify(data) }));
        },
      },
    );
  } catch (e) {
    broker.closeSession(session);
    if (!res.headersSent) sendFailure(res, e);
    else stream.end();
  }
}
