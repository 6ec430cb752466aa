/**
 * What the load generator needs of a system under test: the same few operations, done the
 * natural way for each (rt's Topic API, socket.io rooms and acks, plain ws, plain SSE).
 */
export interface BenchClient {
  /** Subscribes; `onMessage` gets the payload string. Resolves once the server confirmed. */
  subscribe(topic: string, onMessage: (payload: string) => void): Promise<void>;
  /** Publishes; resolves when the server accepted it. */
  publish(topic: string, payload: string): Promise<void>;
  /** One request/response with the server. */
  echo(payload: string): Promise<void>;
  /** Pushes a work item; resolves when the server accepted it. Absent where the system has no work queues. */
  push?(topic: string, payload: string): Promise<void>;
  /** Takes work items of `topic`, `prefetch` at a time; each is acknowledged once `onJob` returned. */
  pull?(topic: string, prefetch: number, onJob: (payload: string) => void): Promise<void>;
  close(): void;
}

/** Connects one client of a system. `transport` is the system's variant (`websocket`, `polling`, `sse`). */
export type Connect = (url: string, transport: string) => Promise<BenchClient>;
