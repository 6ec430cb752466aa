import { MercureTransport } from '../mercure/hub.js';
import { HttpPresenceTransport } from './http-presence.js';
import { HttpPublishTransport } from './http-publish.js';
import { PlaygroundTransport } from './playground.js';
import { RawWsTransport } from './raw-ws.js';
import { SocketIoTransport } from './socketio.js';
import { SseTransport } from './sse.js';
import type { Transport } from './host.js';

/** The transports every broker runs (the Mercure hub stays off unless the `mercure` option is set). */
export function defaultTransports(): Transport[] {
  return [
    new SocketIoTransport(),
    new SseTransport(),
    new RawWsTransport(),
    new HttpPublishTransport(),
    new HttpPresenceTransport(),
    new MercureTransport(),
    new PlaygroundTransport(),
  ];
}
