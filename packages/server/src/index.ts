/**
 * `@rt/server`: the rt broker. Bus, pub/sub and push/pull on hierarchical topics over
 * socket.io (WebSocket and long-polling) and server-sent events for the SDK, plain SSE and
 * Mercury-compatible raw WebSocket endpoints for clients without it, with in-process and HTTP
 * publishing.
 *
 * ```ts
 * import { createBroker } from '@rt/server';
 * const broker = createBroker();
 * await broker.listen('http://*:4000');
 * ```
 * @packageDocumentation
 */
export { Broker, createBroker, parseListen } from './broker.js';
export type { Handshake, ListenAddress } from './broker.js';
export type { BrokerStats } from './stats.js';
export { DEFAULT_LIMITS } from './options.js';
export type { Limits, Logger } from './options.js';
export type { TlsOptions } from './http2.js';
export type {
  ActionContext,
  ActionHandler,
  Authorize,
  Authenticate,
  BrokerOptions,
  ResolvedOptions,
} from './broker-options.js';
export { Policy } from './policy/policy.js';
export type { AuthRequest } from './policy/policy.js';
export { OriginPolicy } from './policy/origin.js';
export { JwtVerifier } from './policy/jwt.js';
export type { JwtIdentity, JwtKey, JwtOptions } from './policy/jwt.js';
export { grantsAllow } from './policy/grants.js';
export type { Grants } from './policy/grants.js';
export { MemoryEngine, memory } from './engines/memory.js';
export { RedisEngine, redis } from './engines/redis/index.js';
export type { RedisEngineOptions } from './engines/redis/index.js';
export type {
  BusMessage,
  Engine,
  EngineHealth,
  EngineHost,
  EngineLimits,
  EngineStats,
  Job,
  MessageMeta,
  PublishOptions,
  PullerHandle,
  Recovery,
  StoredMessage,
} from './engines/engine.js';
export type { Identity } from './session.js';
export type { TransportName } from '@rt/protocol';
export {
  MERCURE_PATH,
  MercureTransport,
  addMercureLink,
  mercureCookie,
  mercureLink,
  mercureToRtTopic,
  rtToMercureTopic,
} from './mercure/index.js';
export type {
  HeaderTarget,
  MercureCookieOptions,
  MercureKey,
  MercureLinkAttributes,
  MercureOptions,
} from './mercure/index.js';
export { RtError } from '@rt/protocol';
export type { ErrorCode, Payload, JsonValue } from '@rt/protocol';
