import type { Server as HttpServer } from 'node:http';
import type { Broker } from '../broker.js';
import { MercureTransport } from '../mercure/hub.js';
import { OperationsTransport } from '../metrics/index.js';
import type { ForeignCheck } from './forward.js';
import { HttpPublishTransport } from './http-publish.js';
import { PlaygroundTransport } from './playground.js';
import { RawWsTransport } from './raw-ws.js';
import { SocketIoTransport } from './socketio.js';
import { SseTransport } from './sse.js';

/**
 * A transport: a way for connections to reach the broker. `setup` runs once when the broker
 * is created (routes, state), `attach` once per HTTP server the broker is attached to,
 * `close` when the broker closes.
 */
export interface Transport {
  setup(broker: Broker): void;
  attach(server: HttpServer): void;
  close(): Promise<void>;
  /**
   * For transports whose connection spans several HTTP requests (long-polling, SSE POSTs):
   * which connection a request belongs to, so that with a distributed engine a request that
   * lands on a node other than the connection's owner is forwarded to the owner (no sticky
   * sessions). The transport claims its connection ids with `broker.engine.forwarding`.
   */
  readonly foreign?: ForeignCheck;
}

/** The transports every broker runs (the Mercure hub stays off unless the `mercure` option is set). */
export function defaultTransports(): Transport[] {
  const mercure = new MercureTransport();
  return [
    new SocketIoTransport(),
    new SseTransport(),
    new RawWsTransport(),
    new HttpPublishTransport(),
    mercure,
    new PlaygroundTransport(),
    new OperationsTransport(() => mercure.size),
  ];
}
