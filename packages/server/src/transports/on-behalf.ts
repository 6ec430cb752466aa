import { type ClientFrame, type OkFrame, type Payload, RtError, isBinary } from '@rt/protocol';
import type { Broker } from '../broker.js';
import type { Outgoing } from '../outgoing.js';
import type { Session } from '../session.js';

/**
 * Frames a transport sends through {@link Broker.handle} on a plain client's behalf (plain
 * SSE, raw WebSocket and raw HTTP endpoints speak no frames): the same authorization, limits
 * and dispatch as SDK clients get. The transport's wire hands every `ok`/`err` it is given to
 * {@link take}, which settles the matching request.
 */
export class OnBehalf {
  private nextRef = 1;
  private readonly waiting = new Map<number, { resolve: (ok: OkFrame) => void; reject: (e: RtError) => void }>();

  constructor(private readonly broker: Broker) {}

  /** Sends `frame` (its `ref` is set here) for `session`; resolves with the `ok`, rejects with the `err` as an RtError. */
  request(session: Session, frame: DistributiveOmit<ClientFrame, 'ref'>): Promise<OkFrame> {
    const ref = this.nextRef++;
    return new Promise((resolve, reject) => {
      this.waiting.set(ref, { resolve, reject });
      this.broker.handle(session, { ...frame, ref });
    });
  }

  /** Settles the request an `ok`/`err` answers; false when `out` is no answer to one. */
  take(out: Outgoing): boolean {
    const frame = out.frame;
    if ((frame.t !== 'ok' && frame.t !== 'err') || frame.ref === undefined) return false;
    const w = this.waiting.get(frame.ref);
    if (!w) return false;
    this.waiting.delete(frame.ref);
    if (frame.t === 'ok') w.resolve(frame);
    else w.reject(new RtError(frame.code, frame.message));
    return true;
  }

  /** Rejects every request still waiting (the connection closed). */
  fail(): void {
    for (const w of this.waiting.values()) w.reject(new RtError('connection_lost', 'the connection closed'));
    this.waiting.clear();
  }
}

/** `Omit` that keeps a union a union. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * A payload as plain clients get it: strings as they are, bytes as bytes, any other JSON
 * value as its JSON text.
 */
export function barePayload(data: Payload | undefined): string | Uint8Array {
  if (typeof data === 'string') return data;
  if (isBinary(data)) return data instanceof Uint8Array ? data : new Uint8Array(data);
  return JSON.stringify(data ?? null);
}
