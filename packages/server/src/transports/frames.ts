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
    const caller: Caller = { identity: session.identity, session };
    this.run(caller, frame, dataText).then(
      (answer) => {
        if (answer) session.send(answer);
      },
      (e: unknown) => {
        if (e instanceof RtError && e.code === 'connection_lost') return;
        if (!(e instanceof RtError))
          this.logger.error({ err: e, op: frame.t, conn: session.id, door: doorOf(session.wire) }, 'operation failed');
        const code: ErrorCode = e instanceof RtError ? e.code : 'internal';
        session.send(err(frame.ref, code, e instanceof RtError ? e.message : 'internal error'));
      },
    );
  }

  /** Calls the frame's operation; resolves with its answer (`undefined`: already sent, as a subscription's). */
  private run(caller: Caller, frame: ClientFrame, dataText: string | undefined): Promise<Outgoing | undefined> {
    const ops = this.ops;
    const session = caller.session!;
    const done = (): Outgoing => ok(frame.ref);
    const data = (d: { data: Payload }) => (dataText === undefined ? { data: d.data } : { data: d.data, dataText });
    switch (frame.t) {
      case 'hello':
        // The client's handshake and liveness probe: answered at once, with the limits.
        return Promise.resolve(ok(frame.ref, this.advertised ? { data: { limits: { ...this.advertised } } } : {}));
      case 'sub': {
        const from = frame.ep !== undefined && frame.off !== undefined ? { ep: frame.ep, off: frame.off } : undefined;
        // The answer goes out after the replay and before the live messages held meanwhile.
        return ops
          .subscribe(caller, {
            topics: [frame.topic],
            ...(from ? { from } : {}),
            ...(frame.pace ? { pace: frame.pace } : {}),
            after: (position) => session.sendNow(ok(frame.ref, { ...position })),
          })
          .then(() => undefined);
      }
      case 'unsub':
        return ops.unsubscribe(caller, frame.topic).then(done);
      case 'pub':
        return ops
          .publish(caller, frame.topic, data(frame), {
            ...(frame.key === undefined ? {} : { key: frame.key }),
            ...(frame.retain ? { retain: true } : {}),
          })
          .then((r) => ok(frame.ref, r));
      case 'join':
        return ops.join(caller, frame.topic).then(done);
      case 'leave':
        return ops.leave(caller, frame.topic).then(done);
      case 'bus':
        return ops.sendBus(caller, frame.topic, data(frame)).then(done);
      case 'push':
        return ops
          .push(caller, frame.topic, data(frame), frame.key === undefined ? {} : { key: frame.key })
          .then(() => ok(frame.ref, {}));
      case 'pull':
        // The answer goes out before the first job.
        return ops
          .pull(caller, frame.topic, { prefetch: frame.prefetch, ackTimeoutMs: frame.ackTimeoutMs }, () =>
            session.send(done()),
          )
          .then(() => undefined);
      case 'unpull':
        return ops.unpull(caller, frame.topic).then(done);
      case 'ack':
      case 'nack':
        return ops.settle(caller, frame.t, frame.id).then(done);
      case 'presence': {
        const request = { do: frame.do, ...(frame.member === undefined ? {} : { member: frame.member }) };
        return ops
          .presence(caller, frame.topic, frame.info === undefined ? request : { ...request, info: frame.info })
          .then((snapshot) => ok(frame.ref, snapshot === undefined ? {} : { data: { ...snapshot } }));
      }
      case 'call':
        return ops
          .call(caller, frame.name, frame.data)
          .then((result) => ok(frame.ref, result === undefined ? {} : { data: result as Payload }));
    }
  }
}
