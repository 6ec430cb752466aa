/**
 * A plain SSE reader for tests, as `curl -N` or a non-browser client sees a stream: `fetch`,
 * then the `text/event-stream` body parsed by hand (comments kept, so heartbeats can be seen).
 */
import { Collector } from './index.ts';

/** One parsed event, or a comment (`comment` set, the rest empty). */
export interface SseEvent {
  event: string;
  id: string | undefined;
  data: string;
  comment?: string;
}

/** An open stream: its response, the events so far, and `close()`. */
export interface SseReader extends AsyncDisposable {
  response: Response;
  events: Collector<SseEvent>;
  /** Resolves when the stream ended (the server closed it, or `close()`). */
  ended: Promise<void>;
  /** Events only (comments left out). */
  messages(): SseEvent[];
  close(): void;
}

/** Parses SSE text into events and comments (CRLF, CR and LF line ends). */
export function parseSse(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  let e: SseEvent = { event: 'message', id: undefined, data: '' };
  let data: string[] = [];
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === '') {
      if (data.length > 0) out.push({ ...e, data: data.join('\n') });
      e = { event: 'message', id: undefined, data: '' };
      data = [];
    } else if (line.startsWith(':')) out.push({ event: '', id: undefined, data: '', comment: line.slice(1).trim() });
    else {
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'data') data.push(value);
      else if (field === 'event') e.event = value;
      else if (field === 'id') e.id = value;
    }
  }
  return out;
}

/** Opens `url` as an SSE stream; rejects with the status when it is not 200. */
export async function readSse(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const events = new Collector<SseEvent>();
  let ended: Promise<void> = Promise.resolve();
  if (response.ok && response.body) {
    const decoder = new TextDecoder();
    let buffer = '';
    ended = (async () => {
      try {
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          const end = Math.max(buffer.lastIndexOf('\n\n'), buffer.lastIndexOf('\r\n\r\n'));
          if (end === -1) continue;
          for (const e of parseSse(buffer.slice(0, end + 2))) events.push(e);
          buffer = buffer.slice(end + 2);
        }
      } catch {
        // aborted
      }
    })();
  }
  const reader: SseReader = {
    response,
    events,
    ended,
    messages: () => events.items.filter((e) => e.comment === undefined),
    close: () => abort.abort(),
    async [Symbol.asyncDispose]() {
      abort.abort();
    },
  };
  return reader;
}

/** Waits until `reader` has `n` events (comments not counted). */
export async function untilMessages(reader: SseReader, n: number, ms = 5000): Promise<SseEvent[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const got = reader.messages();
    if (got.length >= n) return got;
    const remaining = deadline - Date.now();
    if (remaining <= 0)
      throw new Error(
        `timed out waiting for ${n} SSE events (have ${got.length}: ${JSON.stringify(got).slice(0, 400)})`,
      );
    await reader.events
      .until(reader.events.items.length + 1, remaining, `SSE events (want ${n})`)
      .catch(() => undefined);
  }
}

/** An SDK frame stream over SSE (`?frames=1`), driven by hand: frames are POSTed, answers read from the stream. */
export interface FrameStream extends AsyncDisposable {
  reader: SseReader;
  /** The frames received so far (each event's `data:` lines are frames). */
  frames: Collector<Record<string, unknown>>;
  /** POSTs frames to the session's URL; resolves with the HTTP status. */
  send(...frames: Record<string, unknown>[]): Promise<number>;
  /** The session's POST URL (from its `session` event). */
  postUrl(): string;
}

/** The broker refused to open a frame stream: `status` is the HTTP status it answered. */
export class StreamRefused extends Error {
  constructor(readonly status: number) {
    super(`frame stream refused: ${status}`);
  }
}

/** Opens `{base}/rt/sse?frames=1` (with `query` added) and reads its frames; throws {@link StreamRefused} when refused. */
export async function frameStream(
  base: string,
  query = '',
  headers: Record<string, string> = {},
): Promise<FrameStream> {
  const reader = await readSse(`${base}/rt/sse?frames=1${query}`, headers);
  if (!reader.response.ok) throw new StreamRefused(reader.response.status);
  const frames = new Collector<Record<string, unknown>>();
  let seen = 0;
  let sessionUrl: string | undefined;
  const pump = (): void => {
    for (; seen < reader.events.items.length; seen++) {
      const e = reader.events.items[seen]!;
      if (e.comment !== undefined || e.event === 'ping') continue;
      if (e.event === 'session') sessionUrl = `${base}/rt/${(JSON.parse(e.data) as { url: string }).url}`;
      else for (const line of e.data.split('\n')) frames.push(JSON.parse(line) as Record<string, unknown>);
    }
  };
  const original = reader.events.push;
  (reader.events as { push: (e: SseEvent) => void }).push = (e: SseEvent) => {
    original(e);
    pump();
  };
  pump();
  await reader.events.until(1, 10_000, 'the session event');
  pump();
  return {
    reader,
    frames,
    postUrl() {
      if (!sessionUrl) throw new Error('no session URL yet');
      return sessionUrl;
    },
    async send(...out) {
      if (!sessionUrl) throw new Error('no session URL yet');
      const res = await fetch(sessionUrl, { method: 'POST', body: JSON.stringify(out), headers });
      await res.arrayBuffer();
      return res.status;
    },
    async [Symbol.asyncDispose]() {
      reader.close();
    },
  };
}
