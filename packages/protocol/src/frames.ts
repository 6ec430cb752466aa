/**
 * Frames: the one vocabulary every transport carries. A frame is a JSON object keyed by
 * its tag `t`. Text transports (SSE, long-poll bodies, raw JSON) carry binary payloads as
 * base64 with `bin: 1` beside them; socket.io carries them as binary attachments. Both
 * decode to a `Uint8Array` for the application.
 */
import { type ErrorCode, isErrorCode } from './codes.js';
import { base64ToBytes, bytesToBase64, utf8Length } from './bytes.js';
import { type TopicLimits, DEFAULT_TOPIC_LIMITS, topicProblem } from './topics.js';
import { presenceProblem } from './presence.js';

/** A JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** What a message can carry: any JSON value, or bytes. */
export type Payload = JsonValue | Uint8Array;

/** A request reference chosen by the client; the answer carries it back. */
export type Ref = number;

/** How a subscription takes its messages (see {@link Pace}). */
export type PaceMode = 'all' | 'latest' | 'conflate';

/**
 * The pace a subscriber chooses for one subscription; the broker applies it in that
 * connection's outbound queue, so it costs nothing to other subscribers.
 * - `mode`: `all` (default) gets every message; `latest` keeps at most one message waiting
 *   (a newer one replaces it); `conflate` keeps one waiting per key.
 * - `key`: for `conflate`, a JSON pointer into the payload (`/id`); without it, the topic the
 *   message was published on (one per child topic of a hierarchical subscription).
 * - `maxRate`: at most this many messages per second (per key with `conflate`); the newest
 *   of each interval wins.
 * - `maxQueue`: at most this many messages waiting; the oldest is dropped.
 * - `delta`: send a message as a delta against the previous message of its topic when this
 *   subscriber holds that one (SDK clients only; the client rebuilds the whole payload). See
 *   {@link MsgFrame.base}.
 * Messages replaced or dropped are counted in `skipped` on the next message delivered (with
 * `conflate`, the next of their key).
 */
export interface Pace {
  mode?: PaceMode;
  key?: string;
  maxRate?: number;
  maxQueue?: number;
  delta?: boolean;
}

/** Limits of a {@link Pace}: `maxRate` up to 1000 per second, `maxQueue` up to 10,000, `key` up to 256 characters. */
export const PACE_LIMITS = { maxRate: 1000, maxQueue: 10_000, keyLength: 256 } as const;

/** Subscribe to a topic and its descendants; `ep`/`off` ask to recover what came after that position; `pace` (optional) chooses how messages arrive. */
export interface SubFrame {
  t: 'sub';
  ref: Ref;
  topic: string;
  ep?: string;
  off?: number;
  pace?: Pace;
}
/** Cancel a subscription. */
export interface UnsubFrame {
  t: 'unsub';
  ref: Ref;
  topic: string;
}
/**
 * Publish to the subscribers of a topic and of its ancestors. `key` makes it idempotent: the
 * broker carries out a publish (or push) with a key it has seen recently only once, and
 * answers a resend with the first outcome.
 */
export interface PubFrame {
  t: 'pub';
  ref: Ref;
  topic: string;
  data: Payload;
  key?: string;
  /** Keep it as the topic's latest value, sent at once to every new subscriber (`null` data clears it). */
  retain?: boolean;
}
/** Join the bus of a topic. */
export interface JoinFrame {
  t: 'join';
  ref: Ref;
  topic: string;
}
/** Leave the bus of a topic. */
export interface LeaveFrame {
  t: 'leave';
  ref: Ref;
  topic: string;
}
/** Send on the bus of a topic: every other joined peer receives it. */
export interface BusSendFrame {
  t: 'bus';
  ref: Ref;
  topic: string;
  data: Payload;
}
/** Push a work item: exactly one puller receives it. `key`: as for {@link PubFrame}. */
export interface PushFrame {
  t: 'push';
  ref: Ref;
  topic: string;
  data: Payload;
  key?: string;
}
/**
 * Become a puller of a topic, with at most `prefetch` unacknowledged items at a time, each
 * acknowledged within `ackTimeoutMs` (else it goes to another puller; the broker caps both).
 */
export interface PullFrame {
  t: 'pull';
  ref: Ref;
  topic: string;
  prefetch?: number;
  ackTimeoutMs?: number;
}
/** Stop pulling a topic; held items go back to the queue. */
export interface UnpullFrame {
  t: 'unpull';
  ref: Ref;
  topic: string;
}
/** Acknowledge a pulled item: it is done. */
export interface AckFrame {
  t: 'ack';
  ref: Ref;
  id: string;
}
/** Reject a pulled item: it goes back to the queue for another puller. */
export interface NackFrame {
  t: 'nack';
  ref: Ref;
  id: string;
}
/** Call an action on the broker (request/response). */
export interface CallFrame {
  t: 'call';
  ref: Ref;
  name: string;
  data: Payload;
}

/** A JSON object: a presence member's `info`. */
export type JsonObject = { [key: string]: JsonValue };

/**
 * Presence of exactly `topic`: `join` makes `member` (a slot of this connection; several tabs
 * sharing one connection are several members) a member with `info`, and sends this connection
 * `presence` events; `watch` sends the events without joining; `leave` undoes both for
 * `member`; `get` answers the members once. `join`, `watch` and `get` are answered `ok` with
 * {@link PresenceSnapshot} as `data`.
 */
export interface PresenceFrame {
  t: 'presence';
  ref: Ref;
  topic: string;
  do: 'join' | 'watch' | 'leave' | 'get';
  member?: string;
  info?: JsonObject;
}

/** One member of a topic's presence. */
export type PresenceMember = {
  /** The broker's id of this member (one per connection and member slot; a reconnect is a new member). */
  clientId: string;
  /** The member's identity subject (`sub`, else `id`, of its token or `authenticate`), when authenticated. */
  subject?: string;
  /** What the member set at join. */
  info?: JsonObject;
  /** When it joined, in ms since the epoch. */
  since: number;
};

/** The `data` of the `ok` to a `presence` `join`, `watch` or `get`: the members now (and, for `join`, this member's id). */
export interface PresenceSnapshot {
  members: PresenceMember[];
  self?: string;
}

/**
 * The client's handshake, sent first on every connection and again as a liveness probe: the
 * broker answers `ok` with {@link BrokerInfo} as `data`. The round trip proves that frames
 * travel both ways (a browser whose connection pool is exhausted opens an SSE stream but never
 * sends its POSTs). A broker that predates it answers `err` `unknown_op`, which proves as much.
 */
export interface HelloFrame {
  t: 'hello';
  ref: Ref;
}

/** The limits a broker advertises in its answer to `hello`, so that a client refuses an oversized call locally. */
export interface AdvertisedLimits {
  /** Largest payload in bytes (UTF-8 JSON, or raw bytes). */
  maxPayloadBytes: number;
  /** Subscriptions, bus joins and pullers one connection may hold, together. */
  maxSubscriptions: number;
  /** Longest topic in characters. */
  maxTopicLength: number;
  /** Most segments in a topic. */
  maxTopicDepth: number;
  /** Pushes that may wait per topic before a push is refused with `queue_full`. */
  pushQueueSize: number;
}

/** What the broker's `ok` to `hello` carries as `data`. */
export interface BrokerInfo {
  limits: AdvertisedLimits;
}

/** Every frame a client may send. */
export type ClientFrame =
  | HelloFrame
  | SubFrame
  | UnsubFrame
  | PubFrame
  | JoinFrame
  | LeaveFrame
  | BusSendFrame
  | PushFrame
  | PullFrame
  | UnpullFrame
  | AckFrame
  | NackFrame
  | CallFrame
  | PresenceFrame;

/** The operation names of client frames. */
export type ClientOp = ClientFrame['t'];

/** A request succeeded. `ep`/`off` tell a subscriber the topic's current position; `data` is an action's result. */
export interface OkFrame {
  t: 'ok';
  ref: Ref;
  ep?: string;
  off?: number;
  data?: Payload;
}
/** A request (or, without `ref`, the connection) failed. */
export interface ErrFrame {
  t: 'err';
  ref?: Ref;
  code: ErrorCode;
  message: string;
}
/** A published message, for the subscriptions that cover `topic`. `off` is its position in the epoch. */
export interface MsgFrame {
  t: 'msg';
  topic: string;
  data: Payload;
  off?: number;
  /**
   * For a paced subscription: how many messages it skipped (replaced or dropped) since the one
   * before this that it was sent (with `conflate`, of this message's key).
   */
  skipped?: number;
  /** The topic's retained (latest) value, sent to a new subscription when it starts, not a live message. */
  retained?: true;
  /**
   * For a subscription with `delta`: `data` is a Fossil delta (a string) that turns the
   * `deltaText` of the payload of the message at offset `base` on the same topic, the last one this
   * connection was sent on it, into this message's. Without `base`, `data` is whole.
   */
  base?: number;
}
/** A bus message from another peer. */
export interface BusFrame {
  t: 'bus';
  topic: string;
  data: Payload;
}
/**
 * A work item for a puller; acknowledge it with `ack` and its `id`. `attempt` counts its
 * deliveries (1 the first time; more after a nack or a puller that went away).
 */
export interface JobFrame {
  t: 'job';
  topic: string;
  id: string;
  data: Payload;
  attempt?: number;
}
/**
 * Messages were lost for the subscription to `topic` (history did not reach back, the epoch
 * changed, or the connection could not keep up). For `history` and `epoch`, `ep`/`off` is the
 * topic's position now; for `overflow`, `off` is the last message dropped. With `bus: true` it is the bus of `topic` that lost messages (the connection could not keep up).
 */
export interface GapFrame {
  t: 'gap';
  topic: string;
  reason: GapReason;
  ep?: string;
  off?: number;
  bus?: true;
}
/** A member joined or left the presence of `topic`, for connections that watch it. */
export interface PresenceEventFrame {
  t: 'presence';
  topic: string;
  event: 'join' | 'leave';
  member: PresenceMember;
}
/** The broker is closing this connection; `reconnect` says whether to come back. */
export interface ByeFrame {
  t: 'bye';
  code: ErrorCode | 'restart' | 'token_expired';
  message: string;
  reconnect: boolean;
}

/**
 * Why a subscription lost messages. `conflated`: its pace skipped them (plain SSE says so in
 * an `event: gap` before the next message; SDK clients get `skipped` on the message instead).
 */
export type GapReason = 'history' | 'epoch' | 'overflow' | 'conflated';

/** Every frame a broker may send. */
export type ServerFrame =
  | OkFrame
  | ErrFrame
  | MsgFrame
  | BusFrame
  | JobFrame
  | GapFrame
  | ByeFrame
  | PresenceEventFrame;

/** Limits applied when parsing client frames. */
export interface FrameLimits {
  /** Largest payload in bytes (UTF-8 JSON, or raw bytes). */
  maxPayloadBytes: number;
  /** Topic limits. */
  topic: TopicLimits;
}

/** Default frame limits: 1 MiB payloads, default topic limits. */
export const DEFAULT_FRAME_LIMITS: Readonly<FrameLimits> = Object.freeze({
  maxPayloadBytes: 1024 * 1024,
  topic: DEFAULT_TOPIC_LIMITS,
});

/** A client frame that parsed, with the JSON text of its payload (for frames that carry one). */
export interface ParsedFrame {
  ok: true;
  frame: ClientFrame;
  /** JSON text of `data` when it is not binary; reused so a publish is encoded once. */
  dataText?: string;
}

/** A client frame that did not parse: answer with an `err` frame built from it. */
export interface FrameProblem {
  ok: false;
  ref?: Ref;
  code: ErrorCode;
  message: string;
}

const OPS: ReadonlySet<string> = new Set<ClientOp>([
  'hello',
  'sub',
  'unsub',
  'pub',
  'join',
  'leave',
  'bus',
  'push',
  'pull',
  'unpull',
  'ack',
  'nack',
  'call',
  'presence',
]);
const WITH_DATA: ReadonlySet<string> = new Set<ClientOp>(['pub', 'bus', 'push', 'call']);
const WITH_TOPIC: ReadonlySet<string> = new Set<ClientOp>([
  'sub',
  'unsub',
  'pub',
  'join',
  'leave',
  'bus',
  'push',
  'pull',
  'unpull',
  'presence',
]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isRef(value: unknown): value is Ref {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** True when `value` holds bytes (`Uint8Array`, Node `Buffer`, `ArrayBuffer`). */
export function isBinary(value: unknown): value is Uint8Array | ArrayBuffer {
  return value instanceof Uint8Array || value instanceof ArrayBuffer;
}

function toBytes(value: Uint8Array | ArrayBuffer): Uint8Array {
  return value instanceof Uint8Array ? value : new Uint8Array(value);
}

/** A payload that passed {@link checkPayload}, with its JSON text when it is not binary. */
export type CheckedPayload =
  | { ok: true; data: Payload; dataText?: string }
  | { ok: false; code: 'bad_frame' | 'payload_too_large'; message: string };

/**
 * Checks a payload against the size limit: bytes by their length (an `ArrayBuffer` becomes a
 * `Uint8Array`), anything else by the UTF-8 length of its JSON text, which comes back with it
 * so a publish is encoded once. A value JSON cannot encode (a function, a cycle) is `bad_frame`.
 */
export function checkPayload(data: unknown, maxPayloadBytes: number): CheckedPayload {
  if (isBinary(data)) {
    const bytes = toBytes(data);
    if (bytes.byteLength > maxPayloadBytes) {
      return {
        ok: false,
        code: 'payload_too_large',
        message: `payload is ${bytes.byteLength} bytes, more than ${maxPayloadBytes}`,
      };
    }
    return { ok: true, data: bytes };
  }
  let dataText: string | undefined;
  try {
    dataText = JSON.stringify(data);
  } catch {
    return { ok: false, code: 'bad_frame', message: '"data" is not a JSON value' };
  }
  if (dataText === undefined) return { ok: false, code: 'bad_frame', message: '"data" is not a JSON value' };
  const size = utf8Length(dataText);
  if (size > maxPayloadBytes)
    return { ok: false, code: 'payload_too_large', message: `payload is ${size} bytes, more than ${maxPayloadBytes}` };
  return { ok: true, data: data as Payload, dataText };
}

/**
 * Parses and validates a frame from a client. `input` is JSON text (text transports) or an
 * already-decoded object (socket.io, with binary attachments as `Buffer`/`ArrayBuffer`).
 * Never throws: a bad frame comes back as a {@link FrameProblem} naming what is wrong.
 */
export function parseClientFrame(
  input: unknown,
  limits: FrameLimits = DEFAULT_FRAME_LIMITS,
): ParsedFrame | FrameProblem {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch {
      return { ok: false, code: 'bad_frame', message: 'frame is not valid JSON' };
    }
  }
  if (!isRecord(value)) return { ok: false, code: 'bad_frame', message: 'frame must be a JSON object' };
  const ref = isRef(value.ref) ? value.ref : undefined;
  const fail = (code: ErrorCode, message: string): FrameProblem =>
    ref === undefined ? { ok: false, code, message } : { ok: false, ref, code, message };
  const t = value.t;
  if (typeof t !== 'string') return fail('bad_frame', 'frame has no operation "t"');
  if (!OPS.has(t)) return fail('unknown_op', `unknown operation "${t.slice(0, 32)}"`);
  if (ref === undefined) return fail('bad_frame', `"${t}" needs a "ref": a non-negative integer`);
  if (WITH_TOPIC.has(t)) {
    const problem = topicProblem(value.topic, limits.topic);
    if (problem !== null) return fail('invalid_topic', problem);
  }
  let dataText: string | undefined;
  if (WITH_DATA.has(t)) {
    if (!('data' in value) || value.data === undefined) return fail('bad_frame', `"${t}" needs "data"`);
    let data = value.data;
    if (value.bin === 1) {
      if (typeof data !== 'string') return fail('bad_frame', '"bin": 1 needs base64 "data"');
      const bytes = base64ToBytes(data);
      if (bytes === null) return fail('bad_frame', '"data" is not valid base64');
      data = bytes;
    }
    const checked = checkPayload(data, limits.maxPayloadBytes);
    if (!checked.ok) return fail(checked.code, checked.message);
    value.data = checked.data;
    dataText = checked.dataText;
  }
  switch (t) {
    case 'pub':
    case 'push':
      if (
        value.key !== undefined &&
        (typeof value.key !== 'string' || value.key.length === 0 || value.key.length > 128)
      ) {
        return fail('bad_frame', '"key" must be a string of 1 to 128 characters');
      }
      if (t === 'pub' && value.retain !== undefined && typeof value.retain !== 'boolean')
        return fail('bad_frame', '"retain" must be true or false');
      break;
    case 'sub': {
      if (value.ep !== undefined && typeof value.ep !== 'string') return fail('bad_frame', '"ep" must be a string');
      if (value.off !== undefined && !isRef(value.off))
        return fail('bad_frame', '"off" must be a non-negative integer');
      const problem = value.pace === undefined ? null : paceProblem(value.pace);
      if (problem !== null) return fail('bad_frame', problem);
      break;
    }
    case 'pull':
      if (value.prefetch !== undefined && !(isRef(value.prefetch) && value.prefetch >= 1 && value.prefetch <= 10_000)) {
        return fail('bad_frame', '"prefetch" must be an integer from 1 to 10000');
      }
      if (value.ackTimeoutMs !== undefined && !(isRef(value.ackTimeoutMs) && value.ackTimeoutMs >= 1))
        return fail('bad_frame', '"ackTimeoutMs" must be a positive integer');
      break;
    case 'ack':
    case 'nack':
      if (typeof value.id !== 'string' || value.id.length === 0 || value.id.length > 128) {
        return fail('bad_frame', `"${t}" needs a job "id" string`);
      }
      break;
    case 'presence': {
      const problem = presenceProblem(value);
      if (problem !== null) return fail('bad_frame', problem);
      break;
    }
    case 'call':
      if (typeof value.name !== 'string' || value.name.length === 0 || value.name.length > 128) {
        return fail('bad_frame', '"call" needs an action "name" string');
      }
      break;
  }
  delete value.bin;
  const parsed: ParsedFrame = { ok: true, frame: value as unknown as ClientFrame };
  if (dataText !== undefined) parsed.dataText = dataText;
  return parsed;
}

/**
 * Encodes any frame as JSON text, with binary `data` as base64 and `bin: 1`. Used by text
 * transports on both sides.
 */
export function encodeFrame(frame: ClientFrame | ServerFrame): string {
  if ('data' in frame && isBinary(frame.data)) {
    return JSON.stringify({ ...frame, data: bytesToBase64(toBytes(frame.data)), bin: 1 });
  }
  return JSON.stringify(frame);
}

const PACE_MODES: readonly string[] = ['all', 'latest', 'conflate'];

/** What is wrong with a {@link Pace} given by a client, or `null` when it is valid (see {@link PACE_LIMITS}). */
export function paceProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return '"pace" must be an object';
  const pace = value as Record<string, unknown>;
  for (const name of Object.keys(pace))
    if (!['mode', 'key', 'maxRate', 'maxQueue', 'delta'].includes(name))
      return `"pace" has an unknown option "${name}"`;
  if (pace.delta !== undefined && typeof pace.delta !== 'boolean') return '"delta" must be true or false';
  if (pace.mode !== undefined && !PACE_MODES.includes(pace.mode as string))
    return '"mode" must be "all", "latest" or "conflate"';
  if (pace.key !== undefined) {
    if (typeof pace.key !== 'string' || !pace.key.startsWith('/') || pace.key.length > PACE_LIMITS.keyLength)
      return `"key" must be a JSON pointer ("/id") of at most ${PACE_LIMITS.keyLength} characters`;
    if (pace.mode !== 'conflate') return '"key" needs "mode": "conflate"';
  }
  const rate = pace.maxRate;
  if (rate !== undefined && !(typeof rate === 'number' && rate > 0 && rate <= PACE_LIMITS.maxRate))
    return `"maxRate" must be a number of messages per second above 0 and at most ${PACE_LIMITS.maxRate}`;
  const queue = pace.maxQueue;
  if (
    queue !== undefined &&
    !(Number.isInteger(queue) && (queue as number) >= 1 && (queue as number) <= PACE_LIMITS.maxQueue)
  )
    return `"maxQueue" must be an integer from 1 to ${PACE_LIMITS.maxQueue}`;
  return null;
}

/**
 * The {@link Pace} given as query parameters (`mode`, `key`, `maxRate`, `maxQueue`) of a plain
 * SSE or raw `/sub` URL: `undefined` without any, a string saying what is wrong when invalid.
 */
export function paceFromQuery(params: URLSearchParams): Pace | undefined | string {
  // A plain client has no delta decoder, and no way to ask again for a message it cannot rebuild.
  if (params.has('delta')) return '"delta" is for SDK subscriptions only: a plain client receives whole payloads';
  const pace: Record<string, unknown> = {};
  for (const name of ['mode', 'key'] as const) {
    const v = params.get(name);
    if (v !== null) pace[name] = v;
  }
  for (const name of ['maxRate', 'maxQueue'] as const) {
    const v = params.get(name);
    if (v !== null) pace[name] = v.trim() === '' ? Number.NaN : Number(v);
  }
  if (Object.keys(pace).length === 0) return undefined;
  return paceProblem(pace) ?? (pace as Pace);
}

/**
 * Decodes a frame from the broker: JSON text or an object (socket.io). Turns base64 payloads
 * (`bin: 1`) and `ArrayBuffer`s into `Uint8Array`. Returns `null` for anything that is not a
 * frame.
 */
export function decodeServerFrame(input: unknown): ServerFrame | null {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch {
      return null;
    }
  }
  if (!isRecord(value) || typeof value.t !== 'string') return null;
  if ('data' in value) {
    if (value.bin === 1 && typeof value.data === 'string') {
      value.data = base64ToBytes(value.data);
      delete value.bin;
    } else if (value.data instanceof ArrayBuffer) {
      value.data = new Uint8Array(value.data);
    }
  }
  if (value.t === 'err' && !isErrorCode(value.code)) value.code = 'internal';
  return value as unknown as ServerFrame;
}
