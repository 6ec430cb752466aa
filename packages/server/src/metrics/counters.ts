import { type ClientFrame, RtError } from '@rt/protocol';
import type { Outgoing } from '../outgoing.js';
import type { Wire } from '../session.js';

/**
 * The doors a connection comes in through (`Wire.door`), each with its usual transport: a
 * bounded set, so they can label metrics. A wire that names none is counted under its
 * transport's name.
 */
export const DOORS: Readonly<Record<string, string>> = Object.freeze({
  'socket.io': 'websocket',
  sse: 'sse',
  'sse-plain': 'sse',
  'raw-ws': 'raw',
  mercure: 'sse',
});

/** Why a handshake or an operation was refused, as `rt_auth_failures_total` labels it. */
export const AUTH_FAILURE_REASONS = [
  'origin',
  'token_required',
  'token_invalid',
  'refused',
  'forbidden',
  'operation_forbidden',
] as const;

/** A reason of {@link AUTH_FAILURE_REASONS}. */
type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];

/** The door of a connection: what its wire says, else its transport's name. */
export function doorOf(wire: Wire): string {
  return wire.door ?? wire.transport;
}

/** Messages written to connections through one door, by kind. */
export interface DeliveredByKind {
  pubsub: number;
  bus: number;
  job: number;
}

/** Adds `n` to the count under `key`. */
function add(map: Map<string, number>, key: string, n = 1): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

/**
 * Counters the broker keeps for monitoring beyond `broker.stats()`: what went out to
 * connections (by door), gaps by reason, refusals by reason, bytes in and out. Plain numbers
 * incremented at one place each; the Prometheus endpoint and the admin page read them when
 * asked, so they cost nothing when nobody looks. Every key is from a bounded set (doors,
 * gap reasons, refusal reasons): never a topic.
 */
export class OpsCounters {
  /** Payload bytes of client frames received, by door (JSON text length; binary payloads by byte length). */
  readonly bytesIn = new Map<string, number>();
  /** Bytes written to connections, by door (see {@link Outgoing.size}). */
  readonly bytesOut = new Map<string, number>();
  /** Messages written to connections, by door, then kind (one record per door: no key built per message). */
  readonly delivered = new Map<string, DeliveredByKind>();
  /** `gap` frames written to connections, by reason (history, epoch, overflow). */
  readonly gaps = new Map<string, number>();
  /** Refused handshakes and operations, by reason ({@link AUTH_FAILURE_REASONS}). */
  readonly authFailures = new Map<string, number>();
  /** Connections opened, by door. */
  readonly opened = new Map<string, number>();
  /** Connections closed, by door. */
  readonly closed = new Map<string, number>();
  /**
   * Messages a subscription's pace replaced or dropped (`latest`, `conflate`, `maxRate`,
   * `maxQueue`), counted when the message that reports them (its `skipped`) is written.
   */
  paceSkipped = 0;
  /** Jobs acknowledged by pullers. */
  acked = 0;
  /** Jobs given back by pullers (nack). */
  nacked = 0;
  /**
   * Engine command latency, in seconds: set while metrics are on (the Prometheus histogram),
   * so an engine reports nothing when nobody collects it.
   */
  commandObserver: ((seconds: number) => void) | undefined;

  /**
   * A batch of frames was written to a connection: one door lookup per batch, then a field
   * increment per frame (this runs for every subscriber of every publish).
   */
  wrote(wire: Wire, batch: readonly Outgoing[]): void {
    const door = doorOf(wire);
    let delivered = this.delivered.get(door);
    if (delivered === undefined) {
      delivered = { pubsub: 0, bus: 0, job: 0 };
      this.delivered.set(door, delivered);
    }
    let bytes = 0;
    for (const out of batch) {
      bytes += out.size;
      const frame = out.frame;
      if (frame.t === 'msg') {
        delivered.pubsub++;
        if (frame.skipped !== undefined) this.paceSkipped += frame.skipped;
      } else if (frame.t === 'bus') delivered.bus++;
      else if (frame.t === 'job') delivered.job++;
      else if (frame.t === 'gap') add(this.gaps, frame.reason);
    }
    add(this.bytesOut, door, bytes);
  }

  /**
   * A valid client frame arrived: its payload counts (`dataText`, the payload's JSON text,
   * or the bytes of a binary payload). Doors hand frames over decoded, so the payload is
   * what every door can measure alike.
   */
  frameIn(wire: Wire, frame: ClientFrame, dataText: string | undefined): void {
    const bytes =
      dataText !== undefined
        ? dataText.length
        : 'data' in frame && frame.data instanceof Uint8Array
          ? frame.data.byteLength
          : 0;
    if (bytes > 0) add(this.bytesIn, doorOf(wire), bytes);
  }

  /** A handshake was refused with `error` (an {@link RtError}, normally `unauthorized`). */
  refusedHandshake(error: unknown): void {
    add(this.authFailures, handshakeFailureReason(error));
  }

  /** An operation was refused by authorization. */
  refusedOperation(): void {
    add(this.authFailures, 'operation_forbidden');
  }

  /** A connection opened. */
  open(wire: Wire): void {
    add(this.opened, doorOf(wire));
  }

  /** A connection closed. */
  close(wire: Wire): void {
    add(this.closed, doorOf(wire));
  }
}

/**
 * The bounded reason of a refused handshake, from the error the policy refused it with
 * (its message says why: origin, missing or invalid token, or the `authenticate` hook).
 */
function handshakeFailureReason(error: unknown): AuthFailureReason {
  if (!(error instanceof RtError)) return 'refused';
  if (error.code === 'forbidden') return 'forbidden';
  const message = error.message;
  if (/^origin |without Origin/.test(message)) return 'origin';
  if (message === 'a token is required') return 'token_required';
  if (message.startsWith('invalid token')) return 'token_invalid';
  return 'refused';
}
