import { type JsonValue, type Payload, isBinary } from '@rt/protocol';
import type { MessageMeta } from '../engine.js';

/**
 * How the Redis engine writes payloads into Redis (history entries, channel messages, jobs):
 * a kind byte (`j` JSON text, `b` raw bytes), then for messages the topic and a newline,
 * then the payload. Bytes stay bytes (Lua strings are binary-safe): no base64 in Redis. A
 * message with {@link MessageMeta} (published by the Mercure hub) is prefixed with `M`, the
 * meta's JSON and a newline.
 */

const JSON_KIND = 0x6a; // j
const META_KIND = 0x4d; // M
const NEWLINE = 0x0a;

/** A payload as Redis stores it, with its JSON text when it has one. */
export interface Decoded {
  data: Payload;
  dataText?: string;
}

function payloadBytes(data: Payload, dataText: string | undefined): [string, Buffer] {
  if (isBinary(data)) return ['b', Buffer.from(data.buffer, data.byteOffset, data.byteLength)];
  return ['j', Buffer.from(dataText ?? JSON.stringify(data as JsonValue), 'utf8')];
}

/** `[M<meta JSON>\n]<kind><topic>\n<payload>`: a published message or a bus message. */
export function encodeMessage(topic: string, data: Payload, dataText?: string, meta?: MessageMeta): Buffer {
  const [kind, bytes] = payloadBytes(data, dataText);
  const head = meta === undefined ? '' : `M${JSON.stringify(meta)}\n`;
  return Buffer.concat([Buffer.from(`${head}${kind}${topic}\n`, 'utf8'), bytes]);
}

/** `<kind><payload>`: a job (its topic is its queue's). */
export function encodeJob(data: Payload, dataText?: string): Buffer {
  const [kind, bytes] = payloadBytes(data, dataText);
  return Buffer.concat([Buffer.from(kind, 'latin1'), bytes]);
}

function decodePayload(kind: number, bytes: Buffer): Decoded {
  if (kind === JSON_KIND) {
    const dataText = bytes.toString('utf8');
    return { data: JSON.parse(dataText) as JsonValue, dataText };
  }
  // A copy: the Buffer may be a view into a larger one that ioredis reuses.
  return { data: new Uint8Array(bytes) };
}

/** Reads what {@link encodeMessage} wrote, starting at `start` of `buf`. */
export function decodeMessage(buf: Buffer, start = 0): Decoded & { topic: string; meta?: MessageMeta } {
  if (buf[start] === META_KIND) {
    const end = buf.indexOf(NEWLINE, start);
    if (end === -1) throw new Error('malformed message from Redis');
    const meta = JSON.parse(buf.toString('utf8', start + 1, end)) as MessageMeta;
    return { ...decodeMessage(buf, end + 1), meta };
  }
  const nl = buf.indexOf(NEWLINE, start);
  if (nl === -1) throw new Error('malformed message from Redis');
  const topic = buf.toString('utf8', start + 1, nl);
  return { topic, ...decodePayload(buf[start]!, buf.subarray(nl + 1)) };
}

/** Reads what {@link encodeJob} wrote. */
export function decodeJob(buf: Buffer): Decoded {
  return decodePayload(buf[0]!, buf.subarray(1));
}

/**
 * Splits `<word> <word> <rest>` (a channel message's header): returns the two words and where
 * the rest starts.
 */
export function splitHeader(buf: Buffer): [string, string, number] {
  const a = buf.indexOf(0x20);
  const b = a === -1 ? -1 : buf.indexOf(0x20, a + 1);
  if (b === -1) throw new Error('malformed message from Redis');
  return [buf.toString('latin1', 0, a), buf.toString('utf8', a + 1, b), b + 1];
}
