/**
 * How frames travel on each transport: the names and shapes that the client and the broker
 * must agree on, defined once here.
 */

/** The SDK transports, in the client's default order of preference. */
export type TransportName = 'websocket' | 'sse' | 'polling';

/** The socket.io event that carries rt frames, both ways (`42["f",frame1,frame2,...]`). */
export const SOCKETIO_EVENT = 'f';

/** The socket.io endpoint's path under the broker's prefix (default `/rt`). */
export const SOCKETIO_PATH = '/socket.io';

/**
 * The SSE endpoint's path under the broker's prefix: `GET {prefix}/sse?frames=1` opens a
 * stream of rt frames, `POST {prefix}/sse/<token>` sends frames to it.
 */
export const SSE_PATH = '/sse';

/** The first event of an SSE frame stream: its data is a {@link SseSessionInfo} as JSON. */
export const SSE_SESSION_EVENT = 'session';

/** The heartbeat event of an SSE stream, every `heartbeatMs`. */
export const SSE_PING_EVENT = 'ping';

/** What the first (`session`) event of an SSE frame stream carries. */
export interface SseSessionInfo {
  /** The session's POST URL, relative to the stream's URL (`sse/<token>`). */
  url: string;
  /** The session's id. */
  session: string;
  /** How often the broker sends a `ping` event, in ms. */
  heartbeatMs: number;
}

/**
 * The most bytes one HTTP body or socket.io packet of frames may hold, for a broker whose
 * payload limit is `maxPayloadBytes`: a batch of frames, each with a payload of at most
 * `maxPayloadBytes` (base64 adds a third), plus 64 KiB for envelopes.
 */
export function maxBatchBytes(maxPayloadBytes: number): number {
  return maxPayloadBytes * 4 + 64 * 1024;
}
