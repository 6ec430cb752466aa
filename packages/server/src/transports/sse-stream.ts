import type { IncomingMessage, ServerResponse } from 'node:http';

/** One server-sent event. */
export interface SseEvent {
  /** The event type (`event:`); left out for the default `message`. */
  event?: string;
  /** The reconnection delay to set (`retry:`, ms); left out when 0 or absent. */
  retry?: number;
  /** The event id (`id:`): what `EventSource` sends back as `Last-Event-ID` when it reconnects. */
  id?: string;
  /** The data; line breaks (CRLF, CR, LF) become separate `data:` lines, which SSE joins with LF. */
  data: string;
}

/** Formats an event as SSE text: `event:`, `retry:`, `id:`, one `data:` line per line, a blank line. */
export function formatEvent(e: SseEvent): string {
  let out = '';
  if (e.event !== undefined) out += `event: ${e.event}\n`;
  if (e.retry) out += `retry: ${e.retry}\n`;
  if (e.id !== undefined) out += `id: ${e.id}\n`;
  for (const line of e.data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return out + '\n';
}

/**
 * The heartbeats of every open stream, one timer per period rather than one per stream (an
 * idle SSE connection then carries no timer of its own: about 250 bytes and one live timer
 * fewer each). The timer runs while a stream with that period is open.
 */
class Heartbeats {
  private readonly streams = new Set<SseStream>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly periodMs: number) {}

  add(stream: SseStream): void {
    this.streams.add(stream);
    if (this.timer === undefined) {
      this.timer = setInterval(() => {
        for (const s of this.streams) s.beat();
      }, this.periodMs);
      this.timer.unref();
    }
  }

  delete(stream: SseStream): void {
    if (!this.streams.delete(stream) || this.streams.size > 0) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

const heartbeats = new Map<number, Heartbeats>();

/**
 * An open `text/event-stream` response. The headers stop caches and proxies from buffering or
 * transforming the stream (`Cache-Control: no-cache, no-transform`, nginx's
 * `X-Accel-Buffering: no`); a comment goes out at once so `EventSource.onopen` fires without
 * waiting for the first event, and a comment (or the `ping` given) every `heartbeatMs` keeps
 * idle proxies from closing the connection.
 */
export class SseStream {
  /** The heartbeat group this stream is in, while open. */
  private beats: Heartbeats | undefined;
  private ping = ': ping\n\n';
  private ended = false;

  constructor(
    private readonly req: IncomingMessage,
    readonly res: ServerResponse,
  ) {}

  /** The peer's address, for logs. */
  get remote(): string | undefined {
    return this.req.socket.remoteAddress;
  }

  /** Writes the status line, the headers, a first comment and `retry:`; then `ping` (SSE text) every `heartbeatMs`. */
  open(retryMs: number, heartbeatMs: number, ping?: string): void {
    this.req.socket.setNoDelay(true);
    this.req.socket.setTimeout(0);
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      // HTTP/2 has no connection-specific headers (RFC 9113 §8.2.2): Node would warn and drop it.
      ...(this.req.httpVersionMajor < 2 ? { connection: 'keep-alive' } : {}),
    });
    this.res.write(`: rt\nretry: ${retryMs}\n\n`);
    if (ping !== undefined) this.ping = ping;
    let beats = heartbeats.get(heartbeatMs);
    if (beats === undefined) heartbeats.set(heartbeatMs, (beats = new Heartbeats(heartbeatMs)));
    this.beats = beats;
    beats.add(this);
  }

  /** Writes the heartbeat (called by the stream's heartbeat group). */
  beat(): void {
    this.write(this.ping);
  }

  private stopBeats(): void {
    this.beats?.delete(this);
    this.beats = undefined;
  }

  /** Writes SSE text (already formatted). Returns false when the socket's buffer is full. */
  write(text: string): boolean {
    if (this.ended) return false;
    return this.res.write(text);
  }

  /** Bytes written and not yet taken by the peer. */
  buffered(): number {
    return this.res.writableLength;
  }

  /** Ends the response (and the heartbeat). */
  end(): void {
    this.stopBeats();
    if (this.ended) return;
    this.ended = true;
    this.res.end();
  }

  /** Calls `listener` once when the client goes away or the stream ends. */
  onClose(listener: () => void): void {
    this.res.once('close', () => {
      this.stopBeats();
      this.ended = true;
      listener();
    });
  }
}
