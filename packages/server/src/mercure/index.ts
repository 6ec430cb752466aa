/**
 * The Mercure hub: existing Mercure subscribers and publishers work against rt unchanged, on
 * rt's topics, engine, history and security. Turn it on with `createBroker({ mercure: {...} })`.
 */
export { MercureTransport, MERCURE_PATH } from './hub.js';
export type { MercureKey, MercureOptions } from './options.js';
export { addMercureLink, mercureCookie, mercureLink } from './discovery.js';
export type { HeaderTarget, MercureCookieOptions, MercureLinkAttributes } from './discovery.js';
export { rtToMercureTopic, mercureToRtTopic } from './topics.js';
