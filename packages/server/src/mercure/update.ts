/**
 * A Mercure update as the hub sends it, built from an rt message (whoever published it), and
 * its SSE encoding (once per update, whatever the number of subscribers).
 *
 * Ids (draft-07 «Reconnection»): an update published through Mercure keeps its publisher's
 * `id` exactly, or gets `urn:uuid:` and a UUIDv7; the id is stored with the message
 * (`MessageMeta.id`). A message published through rt (SDK, `broker.publish`, HTTP publish)
 * has no Mercure id: its id is its rt position, `#<epoch>-<offset>`, a fragment-only IRI
 * reference that a Mercure publisher can never use (publisher ids must not start with `#`).
 *
 * Data: a Mercure update's `data` travels as an rt string payload, byte for byte. An rt
 * payload reaches Mercure subscribers as the string itself when it is a string, as its JSON
 * text otherwise, and as base64 when it is binary.
 */
import { randomBytes } from 'node:crypto';
import { bytesToBase64, isBinary } from '@rt/protocol';
import type { StoredMessage } from '../ops/types.js';
import { parseEventId } from '../transports/sse-plain.js';
import { type SseEvent, formatEvent } from '../transports/sse-stream.js';
import { rtToMercureTopic } from './topics.js';

/** An update, as matched against subscribers and written to them. */
export class Update {
  /** Canonical topic first, then the alternates (Mercure IRIs). */
  readonly topics: string[];
  readonly id: string;
  readonly private: boolean;
  readonly type: string | undefined;
  readonly retry: number | undefined;
  /** rt position of the message (orders live updates after a replay). */
  readonly off: number;
  private encoded: string | undefined;
  /** The message, until its data is read: a replay's updates read it only when written, one chunk at a time. */
  private message: StoredMessage | undefined;
  private text: string | undefined;

  /** `rtPrivate`: a message published through rt (it has no Mercure attributes) counts as private. */
  constructor(message: StoredMessage, epoch: string, rtPrivate = false) {
    const meta = message.meta;
    this.topics = meta?.topics?.length ? meta.topics : [rtToMercureTopic(message.topic)];
    this.id = meta?.id ?? positionId(epoch, message.off);
    this.message = message;
    this.private = meta ? meta.private === true : rtPrivate;
    this.type = meta?.type;
    this.retry = meta?.retry;
    this.off = message.off;
  }

  /**
   * The update's data: a string payload as it is, bytes as base64, anything else as its JSON
   * text. Read when first needed, not when the update is made: a history payload may be held
   * as JSON text only (parsed on each read), and a replay of hundreds of updates must not copy
   * every payload before its first chunk is written.
   */
  get data(): string {
    if (this.text === undefined) {
      const message = this.message!;
      const data = message.data;
      this.text =
        typeof data === 'string'
          ? data
          : isBinary(data)
            ? bytesToBase64(data)
            : (message.dataText ?? JSON.stringify(data));
      this.message = undefined;
    }
    return this.text;
  }

  /**
   * The SSE event, as the reference hub writes it: `event:` (when typed), `retry:` (when
   * non-zero), `id:`, one `data:` line per line of data (split on CRLF, CR and LF; empty data
   * still sends one `data:` line), then a blank line.
   */
  sse(): string {
    if (this.encoded === undefined) {
      const event: SseEvent = { id: this.id, data: this.data };
      if (this.type) event.event = this.type;
      if (this.retry) event.retry = this.retry;
      this.encoded = formatEvent(event);
    }
    return this.encoded;
  }
}

/**
 * The Mercure id of an rt message that has none of its own: `#` and the id rt's plain SSE
 * endpoint gives the same message (`<epoch>-<offset>`).
 */
function positionId(epoch: string, off: number): string {
  return `#${epoch}-${off}`;
}

/** Reads a position id back (`undefined` when `id` is not one). */
export function parsePositionId(id: string): { ep: string; off: number } | undefined {
  return id.startsWith('#') ? (parseEventId(id.slice(1)) ?? undefined) : undefined;
}

/** A `urn:uuid:` id with a UUIDv7 (RFC 9562: 48-bit ms timestamp, version 7, variant 10). */
export function uuidV7Urn(now = Date.now()): string {
  const b = randomBytes(16);
  b.writeUIntBE(now, 0, 6);
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `urn:uuid:${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
