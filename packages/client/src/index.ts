/**
 * `@rt/client`: one Topic API (bus, pub/sub, push/pull) over WebSocket, SSE and long-polling,
 * with reconnect, resubscribe and recovery of missed messages. Runs in browsers, Node >= 20
 * and React Native.
 *
 * ```ts
 * import { connect } from '@rt/client';
 * const client = connect('http://localhost:4000');
 * client.topic<string>('chat').subscribe((text) => console.log(text));
 * await client.topic<string>('chat').publish('hello');
 * ```
 * @packageDocumentation
 */
import { Client, type ConnectOptions } from './client.js';
import { type ShareOptions, sharedTransport, shouldShare } from './share/index.js';
import { polling, websocket } from './transports/socketio.js';
import { sse } from './transports/sse.js';
import type { TransportFactory, TransportName } from './transports/transport.js';

/** The transports built into this package, by name. */
export const transports: Record<TransportName, TransportFactory | undefined> = {
  websocket,
  sse,
  polling,
};

/**
 * Connects to an rt broker at `url` (e.g. `http://localhost:4000`; `ws:`/`wss:` work too, and a
 * path is where a reverse proxy mounts the broker). Returns at once; the client connects in the
 * background, and calls made meanwhile are queued. Throws `invalid_url` for a URL it cannot use.
 * In a browser, the tabs with the same broker and credentials share one connection (see
 * {@link ShareOptions}).
 */
export function connect(url: string, options: ConnectOptions & ShareOptions = {}): Client {
  if (!shouldShare(options)) return new Client(url, options, transports);
  const own = (options.transports ?? Object.values(transports)).flatMap((t) => {
    const factory = typeof t === 'string' ? transports[t] : t;
    return factory ? [factory] : [];
  });
  const shared = sharedTransport(own);
  const client = new Client(url, { ...options, transports: [shared.factory] }, transports);
  shared.register(client);
  return client;
}

export { Client } from './client.js';
export type { ShareOptions } from './share/index.js';
export { shareRole } from './share/index.js';
export type { AuthOption, ClientEvents, ConnectOptions, ConnectionState } from './client.js';
export { Bus, Puller, Subscription, Topic } from './topic.js';
export type { Lifecycle, LifecycleEvent } from './lifecycle.js';
export { browserLifecycle } from './lifecycle-browser.js';
export type {
  BusEvents,
  GapEvent,
  JobHandler,
  JobMeta,
  MessageHandler,
  MessageMeta,
  PublishOptions,
  PullOptions,
  SubscriptionEvents,
} from './topic.js';
export { Presence } from './presence.js';
export type { Member, PresenceEvents, PresenceOptions } from './presence.js';
export type { BackoffOptions } from './backoff.js';
export { backoffDelay } from './backoff.js';
export type {
  ClientTransport,
  TransportContext,
  TransportEvents,
  TransportFactory,
  TransportName,
} from './transports/transport.js';
export { polling, websocket } from './transports/socketio.js';
export { sse } from './transports/sse.js';
export {
  reactNativeLifecycle,
  type AppStateLike,
  type NetInfoLike,
  type NetInfoStateLike,
  type ReactNativeLifecycleOptions,
} from './lifecycle-native.js';
export {
  defineTopics,
  type PayloadOf,
  type StandardResult,
  type StandardSchemaV1,
  type TopicMap,
  type TopicMatches,
  type TopicOf,
  type TopicSchemas,
  type TopicsOptions,
  type TypedBus,
  type TypedTopic,
  type TypedTopics,
} from './typed.js';
export { RtError } from '@rt/protocol';
export type { AdvertisedLimits, ErrorCode, JsonObject, JsonValue, Payload } from '@rt/protocol';
