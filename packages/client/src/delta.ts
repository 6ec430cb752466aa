import { type JsonValue, type MsgFrame, type Payload, deltaText, isBinary } from '@rt/protocol';
import { applyDelta } from 'fossil-delta';

/**
 * The client's side of deltas (`pace.delta`): per topic, the last payload received (as its
 * `deltaText`), which the broker's next delta on that topic is made against. Only the decoder
 * of `fossil-delta` is bundled.
 */
export class DeltaDecoder {
  private readonly bases = new Map<string, { off: number; text: string }>();

  /** `wanted(topic)`: a subscription covering `topic` asked for deltas (only then are payloads kept). */
  constructor(private readonly wanted: (topic: string) => boolean) {}

  /**
   * The whole payload of `frame`; `undefined` when it is a delta this client cannot rebuild:
   * it holds another message of the topic than the delta's base, or the result fails the
   * delta's checksum. The topic's base is forgotten then, so the next message must be whole.
   */
  payload(frame: MsgFrame): Payload | undefined {
    const { topic, base, off, data } = frame;
    if (base === undefined) {
      if (off !== undefined && !isBinary(data) && this.wanted(topic))
        this.bases.set(topic, { off, text: deltaText(data) });
      else if (this.bases.size > 0) this.bases.delete(topic);
      return data;
    }
    const held = this.bases.get(topic);
    this.bases.delete(topic);
    if (held === undefined || held.off !== base || off === undefined || typeof data !== 'string') return undefined;
    try {
      const text = ascii(applyDelta(bytes(held.text), bytes(data)));
      const whole = JSON.parse(text) as JsonValue;
      this.bases.set(topic, { off, text });
      return whole;
    } catch {
      return undefined;
    }
  }

  /** Forgets the payloads of topics `keep` says no longer matter (no subscription covers them). */
  prune(keep: (topic: string) => boolean): void {
    for (const topic of this.bases.keys()) if (!keep(topic)) this.bases.delete(topic);
  }
}

/** The bytes of an ASCII text (a delta and its bases are ASCII; anything else fails the checksum). */
function bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** The ASCII text of bytes. */
function ascii(b: Uint8Array): string {
  let text = '';
  for (let i = 0; i < b.length; i += 8192) text += String.fromCharCode(...b.subarray(i, i + 8192));
  return text;
}
