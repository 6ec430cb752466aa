/**
 * Active subscriptions (draft-07 «Active Subscriptions», «Subscription Events», «Subscription
 * API»): the JSON-LD documents, the private update published when a subscription starts or
 * ends, and `GET /.well-known/mercure/subscriptions[/{topic}[/{subscriber}]]`.
 *
 * The registry is this node's: with several broker nodes the API lists the subscribers
 * connected to the node that answers, while subscription events travel through the engine and
 * reach subscribers on every node.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MercureSubscriber } from './subscriber.js';

/** Where the subscriptions API lives, and the prefix of subscription events' topics. */
export const SUBSCRIPTIONS_PATH = '/.well-known/mercure/subscriptions';
const CONTEXT = 'https://mercure.rocks/';

/** One subscription's JSON-LD document. */
export interface SubscriptionDoc {
  '@context'?: string;
  id: string;
  type: 'Subscription';
  topic: string;
  subscriber: string;
  active: boolean;
  payload?: unknown;
  lastEventID?: string;
}

/** Go's `url.QueryEscape`, as the reference hub escapes path segments (a space becomes `+`). */
function queryEscape(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

function queryUnescape(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** The topic of a subscription's events and the `id` of its document. */
function subscriptionId(topic: string, subscriber: string): string {
  return `${SUBSCRIPTIONS_PATH}/${queryEscape(topic)}/${queryEscape(subscriber)}`;
}

/** The document of one subscription (one selector of one subscriber). */
export function subscriptionDoc(
  subscriber: MercureSubscriber,
  topic: string,
  active: boolean,
  withContext: boolean,
): SubscriptionDoc {
  const doc: SubscriptionDoc = {
    ...(withContext ? { '@context': CONTEXT } : {}),
    id: subscriptionId(topic, subscriber.id),
    type: 'Subscription',
    topic,
    subscriber: subscriber.id,
    active,
  };
  if (subscriber.grant?.payload !== undefined) doc.payload = subscriber.grant.payload;
  return doc;
}

/** What the request asks for: every subscription, those of one selector, or one. */
export type SubscriptionQuery =
  | { kind: 'all' }
  | { kind: 'topic'; topic: string }
  | { kind: 'one'; topic: string; subscriber: string };

/** Parses `/.well-known/mercure/subscriptions[/{topic}[/{subscriber}]]`; `undefined` when malformed. */
export function parseSubscriptionsPath(pathname: string): SubscriptionQuery | undefined {
  if (pathname === SUBSCRIPTIONS_PATH || pathname === `${SUBSCRIPTIONS_PATH}/`) return { kind: 'all' };
  if (!pathname.startsWith(`${SUBSCRIPTIONS_PATH}/`)) return undefined;
  const parts = pathname.slice(SUBSCRIPTIONS_PATH.length + 1).split('/');
  if (parts.length > 2 || parts.some((p) => p === '')) return undefined;
  const [topic, subscriber] = parts.map(queryUnescape);
  if (topic === undefined || (parts.length === 2 && subscriber === undefined)) return undefined;
  return subscriber === undefined ? { kind: 'topic', topic } : { kind: 'one', topic, subscriber };
}

/**
 * Answers a subscriptions API request for `query` among `subscribers`, with `lastEventID` (the
 * id of the last update in history, also the `ETag`; an equal `If-None-Match` gets 304).
 */
export function answerSubscriptions(
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  query: SubscriptionQuery,
  subscribers: Iterable<MercureSubscriber>,
  lastEventID: string,
  headers: Record<string, string>,
): void {
  const etag = `"${lastEventID.replace(/["\\]/g, '')}"`;
  const common = {
    ...headers,
    etag,
    'cache-control': 'must-revalidate',
    link: '</.well-known/mercure>; rel="mercure"',
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, common);
    res.end();
    return;
  }
  const docs: SubscriptionDoc[] = [];
  for (const subscriber of subscribers) {
    if (query.kind !== 'all' && query.topic !== undefined && !subscriber.selectors.some((s) => s.value === query.topic))
      continue;
    if (query.kind === 'one' && subscriber.id !== query.subscriber) continue;
    const topics = query.kind === 'all' ? subscriber.selectors.map((s) => s.value) : [query.topic];
    for (const topic of new Set(topics)) docs.push(subscriptionDoc(subscriber, topic, true, false));
  }
  let body: unknown;
  if (query.kind === 'one') {
    const doc = docs[0];
    if (!doc) {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8' });
      res.end('Not Found\n');
      return;
    }
    body = { '@context': CONTEXT, ...doc, lastEventID };
  } else {
    body = { '@context': CONTEXT, id: pathname, type: 'Subscriptions', lastEventID, subscriptions: docs };
  }
  const text = JSON.stringify(body);
  res.writeHead(200, {
    ...common,
    'content-type': 'application/ld+json',
    'content-length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}
