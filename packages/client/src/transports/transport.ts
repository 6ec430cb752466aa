import type { ClientFrame, ServerFrame, TransportName } from '@rt/protocol';

export type { TransportName };

/** What a transport needs to open: where, with which credentials, and the runtime's globals. */
export interface TransportContext {
  /** The broker's base URL, e.g. `http://localhost:4000`. */
  url: string;
  /** Path prefix of rt's endpoints. Default `/rt`. */
  prefix: string;
  /** The token to present, if any (already resolved for this attempt). */
  token: string | undefined;
  /** HTTP headers to send where the runtime lets the transport (Node, React Native; not a browser's WebSocket/EventSource). */
  headers?: Record<string, string> | undefined;
  /** How long opening may take before the transport counts as failed, in ms. */
  openTimeoutMs: number;
  /** Runtime globals, injectable (React Native, tests, Node). */
  WebSocket: unknown;
  EventSource: unknown;
  fetch: typeof fetch | undefined;
  /** True when `fetch` is the runtime's own (no `options.fetch`): Node's SSE then POSTs with `node:http`, cheaper per request. */
  runtimeFetch?: boolean;
}

/** Callbacks a transport calls. */
export interface TransportEvents {
  /** A frame from the broker arrived. */
  frame(frame: ServerFrame): void;
  /** The connection closed after it had opened (not called when `open()` rejects). */
  close(reason: string): void;
}

/**
 * One connection attempt over one transport. The client owns reconnecting, so a transport
 * never reconnects by itself: once closed, it is done.
 */
export interface ClientTransport {
  readonly name: TransportName;
  /** Opens the connection; rejects when it fails or takes longer than `openTimeoutMs`. */
  open(): Promise<void>;
  /** Sends a frame (the transport may batch frames sent in the same tick). */
  send(frame: ClientFrame): void;
  /** Closes the connection; `close` is not called back. */
  close(): void;
}

/** Makes transports of one kind, and says whether this runtime can run it. */
export interface TransportFactory {
  readonly name: TransportName;
  /** False when the runtime lacks what the transport needs (then it is skipped). */
  available(context: TransportContext): boolean;
  create(context: TransportContext, events: TransportEvents): ClientTransport;
}
