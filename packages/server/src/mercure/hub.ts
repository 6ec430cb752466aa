/**
 * The Mercure hub as an rt transport: `GET` (subscribe) and `POST` (publish) on
 * `/.well-known/mercure`, and the subscriptions API below it, on rt's topics, engine and
 * history. See `topics.ts` for the topic mapping, `history.ts` for reconnection,
 * `tokens.ts` for authorization.
 */
import type { SessionlessConnections } from '../metrics/source.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ErrorCode, RtError, httpStatus } from '@rt/protocol';
import type { TransportHost } from '../transports/host.js';
import type { Caller, StoredMessage } from '../ops/types.js';
import { readBody } from '../http.js';
import { headerValue } from '../policy/handshake.js';
import type { Transport } from '../transports/host.js';
import { type RootHistory, lastEventId, lookBack } from './history.js';
import { type ResolvedMercureOptions, resolveMercureOptions } from './options.js';
import { parseUpdateForm } from './publish.js';
import { type Selector, SelectorCache, SelectorIndex, coversAll, matchesAny } from './selectors.js';
import { MercureSubscriber } from './subscriber.js';
import { SUBSCRIPTIONS_PATH, answerSubscriptions, parseSubscriptionsPath, subscriptionDoc } from './subscriptions.js';
import { type MercureGrant, TokenVerifier, mercureToken } from './tokens.js';
import { mercureToRtTopic } from './topics.js';
import { Update, uuidV7Urn } from './update.js';

/** The hub's URL path (fixed by the spec). */
export const MERCURE_PATH = '/.well-known/mercure';

const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream',
  'cache-control': 'private, no-cache, no-store, must-revalidate, max-age=0',
  pragma: 'no-cache',
  'x-accel-buffering': 'no',
  connection: 'keep-alive',
};

/** Where subscription events are stored and routed in rt (they are private: rt sessions never see them). */
const EVENTS_RT_TOPIC = mercureToRtTopic(SUBSCRIPTIONS_PATH);

/** The hub as a caller of the operations core: it checks its own tokens first. */
const HUB: Caller = { identity: null, trusted: 'mercure' };

/**
 * The Mercure hub. It is part of {@link defaultTransports} and stays inert (no route) unless
 * the broker's `mercure` option is set, because `/.well-known/mercure` may belong to the
 * host application or to another hub.
 */
export class MercureTransport implements Transport {
  private broker!: TransportHost;
  private options!: ResolvedMercureOptions;
  private publishers!: TokenVerifier;
  private subscriberKeys!: TokenVerifier;
  private readonly selectors = new SelectorCache();
  private readonly subscribers = new SelectorIndex<MercureSubscriber>();
  private untap: (() => void) | undefined;
  private history!: RootHistory;

  setup(broker: TransportHost): void {
    if (broker.options.mercure === false) return;
    this.broker = broker;
    // rt restricts who may subscribe to what: rt's messages count as private for Mercure.
    this.options = resolveMercureOptions(
      broker.options.mercure,
      broker.options.authorize !== undefined || broker.policy.authenticates,
    );
    const checks = {
      audience: this.options.audience,
      issuer: this.options.issuer,
      algorithms: this.options.algorithms,
    };
    this.publishers = new TokenVerifier(this.options.publisherKey, checks, this.selectors);
    this.subscriberKeys = new TokenVerifier(this.options.subscriberKey, checks, this.selectors);
    const guarded =
      (handler: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>) =>
      (req: IncomingMessage, res: ServerResponse, url: URL) =>
        handler(req, res, url).catch((e: unknown) => this.fail(req, res, e));
    broker.addRoute(
      'GET',
      MERCURE_PATH,
      guarded((req, res, url) => this.subscribe(req, res, url)),
    );
    broker.addRoute(
      'POST',
      MERCURE_PATH,
      guarded((req, res, url) => this.publish(req, res, url)),
    );
    broker.addRoute('OPTIONS', MERCURE_PATH, (req, res) => this.preflight(req, res));
    if (this.options.subscriptions) {
      for (const path of [SUBSCRIPTIONS_PATH, `${SUBSCRIPTIONS_PATH}/*`]) {
        broker.addRoute(
          'GET',
          path,
          guarded((req, res, url) => this.subscriptionsApi(req, res, url)),
        );
        broker.addRoute('OPTIONS', path, (req, res) => this.preflight(req, res));
      }
    }
    this.untap = broker.tap((message) => this.deliver(message));
    this.history = { epoch: () => broker.ops.epoch(), recover: (from) => broker.ops.historyOfAll(HUB, from) };
  }

  attach(): void {}

  async close(): Promise<void> {
    this.untap?.();
    for (const subscriber of [...this.subscribers]) subscriber.close();
  }

  /** Subscribers connected to this node. */
  sessionless(): SessionlessConnections[] {
    return [{ door: 'mercure', transport: 'sse', count: this.subscribers.size }];
  }

  get size(): number {
    return this.subscribers.size;
  }

  private deliver(message: StoredMessage): void {
    if (this.subscribers.size === 0) return;
    const update = new Update(message, this.broker.ops.epoch(), this.options.rtMessages === 'private');
    for (const subscriber of this.subscribers.candidates(update.topics)) subscriber.offer(update);
  }

  private async subscribe(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const selectors = this.requestedSelectors(url);
    const grant = await this.grant(req, url, this.subscriberKeys);
    if (grant === null && !this.options.anonymous) throw new RtError('unauthorized', 'a subscriber token is required');
    await this.broker.whenReady();
    const lastEventID =
      headerValue(req.headers, 'last-event-id') ??
      url.searchParams.get('lastEventID') ??
      url.searchParams.get('last_event_id');
    const subscriber = new MercureSubscriber(res, selectors, grant, {
      heartbeatMs: this.options.heartbeatMs,
      maxBufferedBytes: this.options.maxBufferedBytes,
      dispatchTimeoutMs: this.options.dispatchTimeoutMs,
      flusher: this.broker.flusher,
      onClose: (s) => this.remove(s),
    });
    // Registered before the history is read: live updates wait in the subscriber meanwhile.
    this.subscribers.add(subscriber);
    try {
      // Every node with Mercure subscribers receives every message (idempotent while listened).
      await this.broker.ops.watchAll(HUB);
    } catch (e) {
      this.subscribers.delete(subscriber);
      throw e;
    }
    const headers: Record<string, string> = { ...SSE_HEADERS, ...this.cors(req) };
    // HTTP/2 has no connection-specific headers (RFC 9113 §8.2.2).
    if (req.httpVersionMajor >= 2) delete headers.connection;
    let replay: Update[] = [];
    let upTo = 0;
    if (lastEventID !== null) {
      try {
        const found = await lookBack(this.history, lastEventID, this.options.rtMessages === 'private');
        replay = found.updates;
        upTo = found.upTo;
        headers['last-event-id'] = found.header;
        headers['mercure-last-event-id'] = found.header;
      } catch (e) {
        this.subscribers.delete(subscriber);
        throw e;
      }
    }
    res.socket?.setNoDelay(true);
    res.socket?.setTimeout(0);
    subscriber.start(headers, replay, upTo);
    if (this.options.subscriptions && !subscriber.closed) this.announce(subscriber, true);
  }

  private remove(subscriber: MercureSubscriber): void {
    if (!this.subscribers.delete(subscriber)) return;
    if (this.subscribers.size === 0) this.broker.ops.unwatchAll();
    if (this.options.subscriptions && !this.broker.isClosing) this.announce(subscriber, false);
  }

  /** Publishes a subscription event per selector of `subscriber` (private, so only authorized subscribers see it). */
  private announce(subscriber: MercureSubscriber, active: boolean): void {
    for (const topic of new Set(subscriber.selectors.map((s) => s.value))) {
      const doc = subscriptionDoc(subscriber, topic, active, true);
      const data = JSON.stringify(doc);
      this.broker.ops
        .publish(
          HUB,
          EVENTS_RT_TOPIC,
          { data, dataText: JSON.stringify(data) },
          { meta: { id: uuidV7Urn(), topics: [doc.id], private: true } },
        )
        .catch((e: unknown) => this.broker.logger.warn({ err: e }, 'mercure: could not publish a subscription event'));
    }
  }

  /** The selectors of a subscribe request: `topic` (draft-07), `match` and `match_urlpattern` (draft-08). */
  private requestedSelectors(url: URL): Selector[] {
    return this.selectors.fromQuery(url.searchParams, this.options.maxTopics);
  }

  private async publish(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const found = mercureToken(req, url, this.options.cookieName);
    if (!found) throw new RtError('unauthorized', 'a publisher token is required');
    const grant = await this.publishers.verify(found.token);
    if (found.from === 'cookie') this.checkPublishOrigin(req);
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded')
      throw new RtError('bad_frame', 'the body must be application/x-www-form-urlencoded');
    const limits = this.broker.limits;
    const body = await readBody(req, limits.maxPayloadBytes * 3 + 64 * 1024);
    const update = parseUpdateForm(body.toString('utf8'), {
      maxTopics: this.options.maxTopics,
      maxPayloadBytes: limits.maxPayloadBytes,
      topic: { maxLength: limits.maxTopicLength, maxDepth: limits.maxTopicDepth },
    });
    if (!coversAll(grant.publish, update.topics))
      throw new RtError('forbidden', 'the token\'s "mercure.publish" claim does not cover every topic of the update');
    await this.broker.whenReady();
    await this.broker.ops.publish(
      HUB,
      update.rtTopic,
      { data: update.data, dataText: JSON.stringify(update.data) },
      { meta: update.meta },
    );
    const id = update.meta.id!;
    res.writeHead(200, {
      ...this.cors(req),
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'private',
      'content-length': String(Buffer.byteLength(id)),
    });
    res.end(id);
  }

  private async subscriptionsApi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const query = parseSubscriptionsPath(url.pathname);
    if (!query) throw new RtError('not_found', 'no such subscription resource');
    const grant = await this.grant(req, url, this.subscriberKeys);
    if (grant === null) throw new RtError('unauthorized', 'a subscriber token is required');
    if (!matchesAny(grant.subscribe, [url.pathname]))
      throw new RtError('forbidden', 'the token\'s "mercure.subscribe" claim does not cover this URL');
    await this.broker.whenReady();
    const last = await lastEventId(this.history);
    answerSubscriptions(req, res, url.pathname, query, this.subscribers, last, this.cors(req));
  }

  /** Verifies the request's token, if any (`null`: none). */
  private async grant(req: IncomingMessage, url: URL, verifier: TokenVerifier): Promise<MercureGrant | null> {
    const found = mercureToken(req, url, this.options.cookieName);
    return found ? verifier.verify(found.token) : null;
  }

  /** CSRF: a cookie-authenticated publish must come from an allowed origin (or the hub's own). */
  private checkPublishOrigin(req: IncomingMessage): void {
    let origin = headerValue(req.headers, 'origin');
    const referer = headerValue(req.headers, 'referer');
    if (origin === undefined && referer !== undefined) {
      try {
        origin = new URL(referer).origin;
      } catch {
        origin = undefined;
      }
    }
    if (origin === undefined)
      throw new RtError('forbidden', 'a cookie-authenticated publish needs an Origin or Referer header');
    const allowed = this.options.publishOrigins;
    let sameHost = false;
    try {
      sameHost = new URL(origin).host === req.headers.host;
    } catch {
      sameHost = false;
    }
    if (!sameHost && !allowed.includes('*') && !allowed.includes(origin))
      throw new RtError('forbidden', `origin ${origin} may not publish with a cookie`);
  }

  /**
   * CORS headers for an allowed `Origin` (credentials allowed, so never `*` itself): those of
   * `corsOrigins`; without it, those rt's `allowOrigin` lists (its `*` does not count); else
   * none (CORS off, as the reference hub).
   */
  private cors(req: IncomingMessage): Record<string, string> {
    const origin = headerValue(req.headers, 'origin');
    if (origin === undefined) return {};
    const listed = this.options.corsOrigins;
    const allowed =
      listed.length > 0
        ? listed.includes('*') || listed.includes(origin)
        : this.broker.policy.origins?.lists(origin) === true;
    if (!allowed) return {};
    return { 'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true', vary: 'Origin' };
  }

  private preflight(req: IncomingMessage, res: ServerResponse): void {
    const headers = this.cors(req);
    if (headers['access-control-allow-origin']) {
      headers['access-control-allow-methods'] = 'GET, POST, OPTIONS';
      headers['access-control-allow-headers'] = 'Authorization, Cache-Control, Last-Event-ID, Content-Type';
      headers['access-control-max-age'] = '600';
    }
    res.writeHead(204, headers);
    res.end();
  }

  /** Answers an error as the reference hub does: the status and a plain-text reason. */
  private fail(req: IncomingMessage, res: ServerResponse, e: unknown): void {
    const code: ErrorCode = e instanceof RtError ? e.code : 'internal';
    const message = e instanceof RtError ? e.message : 'internal error';
    if (code === 'internal') this.broker.logger.error({ err: e, url: req.url }, 'mercure: request failed');
    else this.broker.logger.debug({ code, reason: message, url: req.url }, 'mercure: request refused');
    if (res.headersSent) {
      res.end();
      return;
    }
    const headers: Record<string, string> = { ...this.cors(req), 'content-type': 'text/plain; charset=utf-8' };
    if (code === 'unauthorized') headers['www-authenticate'] = 'Bearer error="invalid_token"';
    if (code === 'forbidden') headers['www-authenticate'] = 'Bearer error="insufficient_scope"';
    const text = `${message}\n`;
    headers['content-length'] = String(Buffer.byteLength(text));
    res.writeHead(httpStatus(code), headers);
    res.end(text);
  }
}
