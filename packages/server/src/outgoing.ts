import { type Payload, type ServerFrame, encodeFrame, isBinary } from '@rt/protocol';

/**
 * A frame on its way out, encoded at most once however many sessions receive it: a publish
 * to 1,000 subscribers builds one `Outgoing` and every transport reuses its text.
 */
export class Outgoing {
  /** The frame itself (transports that send objects, such as socket.io for binary payloads, use it). */
  readonly frame: ServerFrame;
  /** True when the frame's payload is bytes. */
  readonly binary: boolean;
  /** Set on a live message that a delta subscription may take as a delta (see `delta.ts`). */
  link: DeltaLink | undefined;
  private textCache: string | undefined;
  private sizeCache: number | undefined;

  constructor(frame: ServerFrame, text?: string) {
    this.frame = frame;
    this.binary = 'data' in frame && isBinary(frame.data);
    this.textCache = text;
  }

  /** The frame as JSON text (binary payloads as base64 with `bin: 1`), built once. */
  text(): string {
    return (this.textCache ??= encodeFrame(this.frame));
  }

  /**
   * About how many bytes this frame takes on the wire, for outbound bounds: the JSON text's
   * length, or the payload's byte length for binary frames (not base64-encoded just to count).
   */
  get size(): number {
    if (this.sizeCache === undefined) {
      const data = this.data;
      this.sizeCache = this.binary && data instanceof Uint8Array ? data.byteLength + 64 : this.text().length;
    }
    return this.sizeCache;
  }

  /** The payload, for transports that carry bare payloads (raw WebSocket endpoints, SSE to plain clients). */
  get data(): Payload | undefined {
    return 'data' in this.frame ? this.frame.data : undefined;
  }

  /**
   * This message with `skipped` on it (a paced subscription skipped that many before it).
   * The payload is not encoded again: the JSON text is the original's with the field spliced in.
   */
  withSkipped(skipped: number): Outgoing {
    const frame = this.frame;
    if (frame.t !== 'msg') return this;
    const copy: ServerFrame = { ...frame, skipped };
    const text = this.binary ? undefined : this.text();
    const head = '{"t":"msg",';
    const out = text?.startsWith(head)
      ? new Outgoing(copy, `${head}"skipped":${skipped},${text.slice(head.length)}`)
      : new Outgoing(copy);
    out.link = this.link;
    return out;
  }

  /** The frame's topic, when it has one. */
  get topic(): string | undefined {
    return 'topic' in this.frame ? this.frame.topic : undefined;
  }
}

/**
 * What a live message carries for delta subscriptions: the message before it on its topic, and
 * what is made from the two once, for every subscriber.
 */
export interface DeltaLink {
  /** The offset of the message before it on its topic, as this node delivered them (-1: none seen). */
  readonly prev: number;
  /** Its payload's `deltaText`, made on first use. */
  text?: string;
  /** Its `msg` frame as a delta against `prev`, made on first use (`null`: not smaller than the whole). */
  delta?: Outgoing | null;
  /** The `deltaText` that {@link delta} was made against. */
  base?: string;
}

/**
 * Builds the `msg` frame of a publish. `dataText` is the payload's JSON text when the caller
 * already has it (it was parsed from a client frame), so the payload is not stringified twice.
 */
export function messageOutgoing(topic: string, data: Payload, off: number, dataText?: string): Outgoing {
  const frame: ServerFrame = { t: 'msg', topic, data, off };
  if (dataText === undefined || isBinary(data)) return new Outgoing(frame);
  return new Outgoing(frame, `{"t":"msg","topic":${JSON.stringify(topic)},"off":${off},"data":${dataText}}`);
}

/** Builds the `bus` frame of a bus message (see {@link messageOutgoing}). */
export function busOutgoing(topic: string, data: Payload, dataText?: string): Outgoing {
  const frame: ServerFrame = { t: 'bus', topic, data };
  if (dataText === undefined || isBinary(data)) return new Outgoing(frame);
  return new Outgoing(frame, `{"t":"bus","topic":${JSON.stringify(topic)},"data":${dataText}}`);
}
