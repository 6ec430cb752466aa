import { type OpsCounters, doorOf } from '../metrics/counters.js';
import {
  type AdvertisedLimits,
  type ClientFrame,
  type ErrorCode,
  type FrameLimits,
  type Payload,
  RtError,
  parseClientFrame,
} from '@rt/protocol';
import type { Operations } from '../ops/operations.js';
import type { Caller } from '../ops/types.js';
import type { Logger } from '../options.js';
import { Outgoing } from '../outgoing.js';
import type { Session } from '../session.js';

function ok(ref: number, extra?: Record<string, unknown>): Outgoing {
  return new Outgoing({ t: 'ok', ref, ...extra });
}

function err(ref: number | undefined, code: ErrorCode, message: string): Outgoing {
  return new Outgoing(ref === undefined ? { t: 'err', code, message } : { t: 'err', ref, code, message });
}

/** Counters of the frame door, for `broker.stats()`. */
export interface FrameCounts {
  framesIn: number;
  badFrames: number;
}

/**
 * The SDK clients' door (socket.io and SSE frames): parses each frame, calls its operation
 * and answers `ok` or `err`. Every frame with a `ref` is answered; a malformed one gets an
 * `err` and the session lives on. The operations keep a session's frames in order.
 */
export class FrameDoor {
  readonly counts: FrameCounts = { framesIn: 0, badFrames: 0 };

  constructor(
    private readonly ops: Operations,
    private readonly limits: FrameLimits,
    private readonly logger: Logger,
    private readonly counters?: OpsCounters,
    /** What `hello` answers: the limits a client enforces locally. */
    private readonly advertised?: AdvertisedLimits,
  ) {}

  /** Handles one frame from a session: JSON text or a decoded object. */
  handle(session: Session, input: unknown): void {
    this.counts.framesIn++;
    const parsed = parseClientFrame(input, this.limits);
    if (!parsed.ok) {
      this.counts.badFrames++;
      session.send(err(parsed.ref, parsed.code, parsed.message));
      return;
    }
    const { frame, dataText } = parsed;
    this.counters?.frameIn(session.wire, frame, dataText);
    this.run({ identity: session.identity, session }, frame, dataText);
  }

  /**
   * The answer to a failed operation: its code, or `internal` (logged) for anything but an
   * {@link RtError}; nothing once the connection is lost.
   */
  private fail(session: Session, frame: ClientFrame, e: unknown): void {
    if (e instanceof RtError && e.code === 'connection_lost') return;
    if (!(e instanceof RtError))
      this.logger.error({ err: e, op: frame.t, conn: session.id, door: doorOf(session.wire) }, 'operation failed');
    const code: ErrorCode = e instanceof RtError ? e.code : 'internal';
    session.send(err(frame.ref, code, e instanceof RtError ? e.message : 'internal error'));
  }

  /**
   * Calls the frame's operation and sends its answer (`ok`, or `err` through {@link fail}) in
   * the same promise step as the operation settles: each step is a microtask and an allocation
   * on every request. A subscription and a puller send their `ok` themselves, at their place
   * among the frames they send.
   */
  private run(caller: Caller, frame: ClientFrame, dataText: string | undefined): void {
    const ops = this.ops;
    const session = caller.session!;
    const ref = frame.ref;
    const failed = (e: unknown): void => this.fail(session, frame, e);
    const done = (): void => session.send(ok(ref));
    const data = (d: { data: Payload }) => (dataText === undefined ? { data: d.data } : { data: d.data, dataText });
    switch (frame.t) {
      case 'hello':
        // The client's handshake and liveness probe: answered at once, with the limits.
        session.send(ok(ref, this.advertised ? { data: { limits: { ...this.advertised } } } : {}));
        return;
      case 'sub': {
        const from = frame.ep !== undefined && frame.off !== undefined ? { ep: frame.ep, off: frame.off } : undefined;
        // The answer goes out after the replay and before the live messages held meanwhile.
        ops
          .subscribe(caller, {
            topics: [frame.topic],
            ...(from ? { from } : {}),
            ...(frame.pace ? { pace: frame.pace } : {}),
            after: (position) => session.sendNow(ok(ref, { ...position })),
          })
          .then(undefined, failed);
        return;
      }
      case 'unsub':
        ops.unsubscribe(caller, frame.topic).then(done, failed);
        return;
      case 'pub':
        ops
          .publish(caller, frame.topic, data(frame), {
            ...(frame.key === undefined ? {} : { key: frame.key }),
            ...(frame.retain ? { retain: true } : {}),
          })
          .then((r) => session.send(new Outgoing({ t: 'ok', ref, off: r.off })), failed);
        return;
      case 'join':
        ops.join(caller, frame.topic).then(done, failed);
        return;
      case 'leave':
        ops.leave(caller, frame.topic).then(done, failed);
        return;
      case 'bus':
        ops.sendBus(caller, frame.topic, data(frame)).then(done, failed);
        return;
      case 'push':
        ops
          .push(caller, frame.topic, data(frame), frame.key === undefined ? {} : { key: frame.key })
          .then(done, failed);
        return;
      case 'pull':
        // The answer goes out before the first job.
        ops
          .pull(caller, frame.topic, { prefetch: frame.prefetch, ackTimeoutMs: frame.ackTimeoutMs }, done)
          .then(undefined, failed);
        return;
      case 'unpull':
        ops.unpull(caller, frame.topic).then(done, failed);
        return;
      case 'ack':
      case 'nack':
        ops.settle(caller, frame.t, frame.id).then(done, failed);
        return;
      case 'presence': {
        const request = { do: frame.do, ...(frame.member === undefined ? {} : { member: frame.member }) };
        ops
          .presence(caller, frame.topic, frame.info === undefined ? request : { ...request, info: frame.info })
          .then((snapshot) => session.send(ok(ref, snapshot === undefined ? {} : { data: { ...snapshot } })), failed);
        return;
      }
      case 'call':
        ops
          .call(caller, frame.name, frame.data)
          .then(
            (result) =>
              session.send(
                new Outgoing(result === undefined ? { t: 'ok', ref } : { t: 'ok', ref, data: result as Payload }),
              ),
            failed,
          );
        return;
    }
  }
}
