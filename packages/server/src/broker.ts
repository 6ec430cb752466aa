import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Http2SecureServer } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  type ClientFrame,
  type ClientOp,
  type ErrorCode,
  type FrameLimits,
  type Payload,
  RtError,
  checkPayload,
  parseClientFrame,
  topicProblem,
} from '@rt/protocol';
import type { BusMessage, Engine, Job, PullerHandle, StoredMessage } from './engines/engine.js';
import { memory } from './engines/memory.js';
import { Dedupe } from './dedupe.js';
import { Hub } from './hub.js';
import { type HttpFront, closeFront, createFront, http1View, isHttp2, trackFront } from './front.js';
import { Router, sendError, type RouteHandler } from './http.js';
import {
  type ActionHandler,
  type BrokerOptions,
  type Limits,
  type Logger,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';
import { Outgoing, busOutgoing, messageOutgoing } from './outgoing.js';
import { Flusher, type Identity, type Outbound, Session, type Wire } from './session.js';
import { type Transport, defaultTransports } from './transports/index.js';
import { applyCors } from './policy/cors.js';
import type { Handshake } from './policy/handshake.js';
import { Policy } from './policy/policy.js';

export type { Handshake } from './policy/handshake.js';
import { interceptForeign, replayLocally } from './transports/forward.js';

/** Where a broker listens, once `listen()` resolved. */
export interface ListenAddress {
  /** The port (useful with port 0). */
  port: number;
  /** The host as given (`*` for every interface). */
  host: string;
  /** A URL clients can connect to (`*` replaced by `localhost`). */
  url: string;
}

/** Counters for monitoring: `broker.stats()`. */
export interface BrokerStats {
  sessions: number;
  framesIn: number;
  badFrames: number;
  published: number;
  pushed: number;
  pushRejected: number;
  pushExpired: number;
  redelivered: number;
  /** Messages dropped from the queues of connections that could not keep up (policy `drop`). */
  outboundDropped: number;
  /** Connections dropped because they could not keep up. */
  slowDisconnects: number;
  /** Bytes queued for connections and not yet written to their transports, all connections together. */
  outboundQueued: number;
  /** Publishes and pushes resent with a key already seen, answered without being carried out again. */
  deduplicated: number;
  engine: string;
}

function ok(ref: number, extra?: Record<string, unknown>): Outgoing {
  return new Outgoing({ t: 'ok', ref, ...extra });
}

function err(ref: number | undefined, code: ErrorCode, message: string): Outgoing {
  return new Outgoing(ref === undefined ? { t: 'err', code, message } : { t: 'err', ref, code, message });
}

/** The longest delay `setTimeout` takes (about 24.8 days); later expiries re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The broker: bus, pub/sub and push/pull on hierarchical topics. Transports turn connections
 * into sessions and hand their frames to {@link Broker.handle}; the hub fans messages out to
 * this node's sessions; the engine shares what must be shared between nodes.
 */
export class Broker {
  /** Options with defaults filled in. */
  readonly options: ResolvedOptions;
  readonly limits: Limits;
  readonly logger: Logger;
  readonly engine: Engine;
  readonly hub = new Hub();
  /** rt's HTTP routes; transports add theirs here. */
  readonly router = new Router();
  readonly flusher = new Flusher();
  readonly frameLimits: FrameLimits;
  /** Origin rules, authentication and authorization. */
  readonly policy: Policy;
  private readonly expiries = new Map<Session, ReturnType<typeof setTimeout>>();
  private readonly sessions = new Set<Session>();
  private readonly taps = new Set<(message: StoredMessage) => void>();
  private readonly actions = new Map<string, ActionHandler>();
  private readonly transports: Transport[];
  private readonly servers: HttpServer[] = [];
  private readonly ownServers = new Set<HttpFront>();
  private readonly ready: Promise<void>;
  private started = false;
  private closing = false;
  private framesIn = 0;
  private badFrames = 0;
  private outboundDropped = 0;
  private slowDisconnects = 0;
  private readonly outbound: Outbound;
  /** Publishes and pushes by idempotency key, so a resend after a reconnect is not carried out twice. */
  private readonly dedupe: Dedupe<{ off?: number }>;

  constructor(options: BrokerOptions = {}, transports: Transport[] = defaultTransports()) {
    this.options = resolveOptions(options, memory);
    this.limits = this.options.limits;
    this.logger = this.options.logger;
    this.engine = this.options.engine;
    this.policy = new Policy(this.options, this.logger);
    this.frameLimits = {
      maxPayloadBytes: this.limits.maxPayloadBytes,
      topic: { maxLength: this.limits.maxTopicLength, maxDepth: this.limits.maxTopicDepth },
    };
    this.transports = transports;
    this.dedupe = new Dedupe(this.limits.dedupeTtlMs, this.limits.dedupeSize);
    this.outbound = {
      maxBytes: this.limits.maxOutboundBytes > 0 ? this.limits.maxOutboundBytes : Infinity,
      policy: this.options.slowConsumer,
      epoch: () => this.engine.epoch(),
      dropped: (session, frames) => {
        if (this.outboundDropped === 0)
          this.logger.warn(
            { session: session.id, frames },
            'a connection cannot keep up: dropping its oldest messages',
          );
        this.outboundDropped += frames;
      },
      giveUp: (session) => {
        this.slowDisconnects++;
        this.logger.warn({ session: session.id }, 'a connection cannot keep up: disconnecting it');
        if (session.wire.destroy) session.wire.destroy();
        else
          session.wire.close({
            t: 'bye',
            code: 'slow_consumer',
            message: 'the connection could not keep up',
            reconnect: true,
          });
        this.closeSession(session);
      },
    };
    this.ready = this.engine
      .start(
        {
          deliverMessage: (m) => this.deliverMessage(m),
          deliverBus: (m) => this.deliverBus(m),
          epochChanged: (ep) => this.epochChanged(ep),
          logger: this.logger,
        },
        this.limits,
      )
      .then(() => {
        this.started = true;
      });
    this.ready.catch((e: unknown) => this.logger.error({ err: e }, 'engine failed to start'));
    for (const transport of this.transports) transport.setup(this);
  }

  /**
   * Embeds the broker in an existing Node HTTP server (the one Express, Fastify or Koa
   * listen on), or in an `http2.createSecureServer({ allowHTTP1: true })`: rt answers its own
   * paths and upgrades, and passes every other request on.
   */
  attach(server: HttpServer | Http2SecureServer): this {
    if (this.closing) throw new Error('broker is closed');
    if (isHttp2(server)) return this.attach(http1View(server));
    const previous = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
    server.removeAllListeners('request');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (!this.route(req, res)) {
        if (previous.length === 0) this.fallback(req, res);
        for (const listener of previous) listener.call(server, req, res);
      }
    });
    for (const transport of this.transports) transport.attach(server);
    this.stickyFree(server);
    this.servers.push(server);
    return this;
  }

  /**
   * With an engine that spans nodes: requests for connections another node owns are forwarded
   * to it, and requests forwarded here are answered by replaying them to this server.
   * Installed last, so it sees every request before the transports do.
   */
  private stickyFree(server: HttpServer): void {
    const forwarding = this.engine.forwarding;
    const checks = this.transports.flatMap((t) => (t.foreign ? [t.foreign] : []));
    if (!forwarding || checks.length === 0) return;
    if (this.servers.length === 0) forwarding.serve(replayLocally(server));
    interceptForeign(server, forwarding, checks, this.limits.maxPayloadBytes * 4 + 64 * 1024, this.logger);
  }

  /**
   * Runs the broker alone on `url`, e.g. `http://*:4000` (every interface),
   * `http://127.0.0.1:0` (a free port) or just a port number.
   */
  async listen(url: string | number = 'http://*:4000'): Promise<ListenAddress> {
    const { host, port } = parseListen(url);
    const server = createFront(this.options.tls);
    trackFront(server);
    this.ownServers.add(server);
    this.attach(server);
    server.on('upgrade', refuseUnclaimedUpgrade);
    await this.ready;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host === '*' ? undefined : host.replace(/^\[|\]$/g, ''), () => {
        server.off('error', reject);
        resolve();
      });
    });
    const actual = (server.address() as AddressInfo).port;
    const shown = host === '*' ? 'localhost' : host;
    this.logger.info({ port: actual, host }, 'rt broker listening');
    return { port: actual, host, url: `${this.options.tls ? 'https' : 'http'}://${shown}:${actual}` };
  }

  /** Resolves once the engine is started (`listen()` already waits for it). */
  whenReady(): Promise<void> {
    return this.ready;
  }

  /**
   * Stops accepting connections, tells every client to reconnect later (they do, with
   * backoff), closes every connection cleanly and the engine, and resolves when done.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const server of this.ownServers) server.close();
    const bye = { t: 'bye', code: 'restart', message: 'the broker is shutting down', reconnect: true } as const;
    this.flusher.run();
    for (const session of [...this.sessions]) {
      // Whatever was accepted for this connection goes out before the goodbye.
      session.flush(true);
      session.wire.close(bye);
      this.closeSession(session);
    }
    await Promise.all(this.transports.map((t) => t.close()));
    await Promise.all([...this.ownServers].map(closeFront));
    await this.ready.catch(() => undefined);
    await this.engine.close();
  }

  /**
   * Publishes from the server: subscribers of `topic` and of its ancestors receive `data`.
   * With `key`, a publish repeated with the same key within the dedupe window (a retried
   * HTTP POST with an `Idempotency-Key`) is carried out once and answered with the first offset.
   */
  async publish(topic: string, data: Payload, options: { key?: string } = {}): Promise<{ off: number }> {
    const problem = topicProblem(topic, this.frameLimits.topic);
    if (problem !== null) throw new RtError('invalid_topic', problem);
    const checked = checkPayload(data, this.limits.maxPayloadBytes);
    if (!checked.ok) throw new RtError(checked.code, checked.message);
    if (!this.started) await this.ready;
    const { off } = await this.publishKeyed(topic, checked.data, checked.dataText, options.key);
    return { off: off ?? 0 };
  }

  /**
   * Publishes through the engine, carried out once per idempotency key when there is one. Not
   * `async` on purpose: callers await it once, so its answer keeps its place among a
   * connection's other answers (a resent publish's must not come after a later push's).
   */
  private publishKeyed(
    topic: string,
    data: Payload,
    dataText: string | undefined,
    key: string | undefined,
  ): Promise<{ off?: number }> {
    const publish = (): Promise<{ off: number }> =>
      this.engine.publish(topic, data, dataText, this.engineKey(key)).then((m) => ({ off: m.off }));
    return key === undefined ? publish() : this.dedupe.run(`pub ${key}`, publish);
  }

  /**
   * The idempotency key to hand the engine: only to one that remembers keys across nodes
   * (this node's {@link Dedupe} answers resends that land here again; the engine, those that land elsewhere).
   */
  private engineKey(key: string | undefined): string | undefined {
    return this.engine.dedupes ? key : undefined;
  }

  /** Registers an action clients can call with `client.call(name, payload)`. */
  action(name: string, handler: ActionHandler): this {
    this.actions.set(name, handler);
    return this;
  }

  /** Counters for monitoring. */
  stats(): BrokerStats {
    const e = this.engine.stats();
    return {
      sessions: this.sessions.size,
      framesIn: this.framesIn,
      badFrames: this.badFrames,
      ...e,
      outboundDropped: this.outboundDropped,
      slowDisconnects: this.slowDisconnects,
      outboundQueued: [...this.sessions].reduce((sum, s) => sum + s.queuedBytes, 0),
      deduplicated: this.dedupe.duplicates + (e.deduplicated ?? 0),
      engine: this.engine.name,
    };
  }

  /**
   * Answers requests no route and no application handler took, on servers rt owns
   * (`listen()`): the playground sets it in development mode. Default: 404.
   */
  fallback: (req: IncomingMessage, res: ServerResponse) => void = (req, res) =>
    sendError(res, 'not_found', `nothing at ${req.url ?? '/'}`);

  /**
   * Node-local delivery hook: `listener` sees every message the engine delivers to this node,
   * right after the hub fanned it out to this node's sessions (private messages included; see
   * `MessageMeta.private`). Returns a function that removes it. An engine delivers to a node
   * only the topics it listens to: a listener that needs every topic (the Mercure hub) calls
   * `engine.listen('')` too. A throwing listener is logged and does not stop the others.
   */
  tap(listener: (message: StoredMessage) => void): () => void {
    this.taps.add(listener);
    return () => {
      this.taps.delete(listener);
    };
  }

  /** Adds an HTTP route under rt's control (for transports). */
  addRoute(method: string, path: string, handler: RouteHandler): void {
    this.router.add(method, path, handler);
  }

  /** Answers `req` when rt owns its path; false when the request is the application's. */
  route(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const handler = this.router.match(req.method ?? 'GET', url.pathname);
    if (!handler) {
      if (!this.router.owns(url.pathname)) return false;
      sendError(res, 'bad_frame', `${req.method} is not allowed on ${url.pathname}`);
      return true;
    }
    Promise.resolve()
      .then(() => handler(req, res, url))
      .catch((e: unknown) => {
        this.logger.error({ err: e, url: req.url }, 'HTTP handler failed');
        sendError(res, 'internal', 'internal error');
      });
    return true;
  }

  /**
   * Admits a connection or HTTP request: the ONE place every transport (socket.io, SSE, raw
   * WebSocket, HTTP publish) sends its handshake through, so that origin checks and
   * authentication apply everywhere alike. Resolves with the identity (`null`: anonymous);
   * rejects with an {@link RtError} (`unauthorized`, `forbidden`) that the transport turns
   * into its own refusal (HTTP status, socket.io connect error).
   */
  admit(handshake: Handshake): Promise<Identity> {
    return this.policy.admit(handshake);
  }

  /**
   * Checks that `identity` may do `op` on `topic`; rejects with `forbidden` when not. For
   * requests without a session (HTTP publish); sessions use {@link authorizeOp}.
   */
  async authorize(identity: Identity, op: ClientOp, topic: string, session?: Session): Promise<void> {
    if (!(await this.policy.allows(identity, op, topic, session))) throw forbidden(op, topic);
  }

  /**
   * Checks that `session` may do `op` on `topic`; rejects with `forbidden` when not. Used by
   * frame dispatch and by transports that subscribe on a client's behalf (plain SSE).
   */
  authorizeOp(session: Session, op: ClientOp, topic: string): Promise<void> {
    return this.authorize(session.identity, op, topic, session);
  }

  /**
   * Sets CORS headers on an answer of an rt HTTP endpoint by the `allowOrigin` rules, and
   * answers a preflight (`OPTIONS`) itself, returning true then (for transports).
   */
  cors(req: IncomingMessage, res: ServerResponse, methods?: string): boolean {
    return applyCors(this.policy, req, res, methods);
  }

  /** Opens a session for a new connection (for transports). */
  openSession(wire: Wire): Session {
    const session = new Session(wire, this.flusher, this.outbound);
    session.onIdentity = (s) => this.armExpiry(s);
    this.sessions.add(session);
    return session;
  }

  /** Ends a session: its subscriptions, bus joins and pullers go; jobs it held go to other pullers. */
  closeSession(session: Session): void {
    if (!this.sessions.delete(session)) return;
    session.closed = true;
    const expiry = this.expiries.get(session);
    if (expiry) clearTimeout(expiry);
    this.expiries.delete(session);
    for (const topic of session.subscriptions)
      if (this.hub.unsubscribe(session, topic)) void this.engine.unlisten(topic);
    for (const topic of session.joins) if (this.hub.leave(session, topic)) void this.engine.unlistenBus(topic);
    for (const puller of session.pulls.values()) this.engine.removePuller(puller);
    session.subscriptions.clear();
    session.joins.clear();
    session.pulls.clear();
  }

  /** True while `close()` runs or after: transports refuse new connections. */
  get isClosing(): boolean {
    return this.closing;
  }

  /**
   * Handles one frame from a session: JSON text or a decoded object. Every frame with a
   * `ref` is answered `ok` or `err`; a malformed one gets an `err` and the session lives on.
   */
  handle(session: Session, input: unknown): void {
    this.framesIn++;
    const parsed = parseClientFrame(input, this.frameLimits);
    if (!parsed.ok) {
      this.badFrames++;
      session.send(err(parsed.ref, parsed.code, parsed.message));
      return;
    }
    const { frame, dataText } = parsed;
    // Frames run in arrival order. Only an async authorization (or a frame arriving before
    // the engine started) makes one wait; later frames of the session then queue behind it.
    const backlog = session.backlog;
    const step = backlog
      ? backlog.then(() => this.step(session, frame, dataText))
      : this.step(session, frame, dataText);
    if (step) {
      session.backlog = step;
      void step.then(() => {
        if (session.backlog === step) session.backlog = undefined;
      });
    }
  }

  /** Authorizes one frame and starts it; returns a promise only when authorization has to wait. */
  private step(session: Session, frame: ClientFrame, dataText: string | undefined): Promise<void> | undefined {
    // A frame that waited (behind an async authorization) for a connection that has closed since.
    if (session.closed) return undefined;
    if (!this.started) {
      return this.ready.then(
        () => this.step(session, frame, dataText),
        () => session.send(err(frame.ref, 'unavailable', 'the engine did not start')),
      );
    }
    if (!('topic' in frame)) {
      this.run(session, frame, dataText);
      return undefined;
    }
    const verdict = this.policy.allows(session.identity, frame.t, frame.topic, session);
    if (verdict === true) this.run(session, frame, dataText);
    else if (verdict === false) session.send(err(frame.ref, 'forbidden', forbidden(frame.t, frame.topic).message));
    else {
      return verdict.then((allowed) => {
        if (session.closed) return;
        if (allowed) this.run(session, frame, dataText);
        else session.send(err(frame.ref, 'forbidden', forbidden(frame.t, frame.topic).message));
      });
    }
    return undefined;
  }

  /** Starts an authorized frame; its answer (`ok` or `err`) goes out when it is done. */
  private run(session: Session, frame: ClientFrame, dataText: string | undefined): void {
    this.dispatch(session, frame, dataText).catch((e: unknown) => {
      if (!(e instanceof RtError)) this.logger.error({ err: e, op: frame.t }, 'operation failed');
      const code: ErrorCode = e instanceof RtError ? e.code : 'internal';
      session.send(err(frame.ref, code, e instanceof RtError ? e.message : 'internal error'));
    });
  }

  /** Closes `session` when its identity's `exp` (seconds since the epoch) passes, with `bye` `token_expired`. */
  private armExpiry(session: Session): void {
    const previous = this.expiries.get(session);
    if (previous) clearTimeout(previous);
    this.expiries.delete(session);
    const exp = session.identity?.exp;
    if (typeof exp !== 'number' || !Number.isFinite(exp) || session.closed) return;
    const wait = (exp + this.policy.clockToleranceSec) * 1000 - Date.now();
    const timer = setTimeout(
      () => {
        this.expiries.delete(session);
        if (wait > MAX_TIMER_MS) {
          this.armExpiry(session);
          return;
        }
        session.flush();
        session.wire.close({
          t: 'bye',
          code: 'token_expired',
          message: 'the token expired: reconnect with a fresh one',
          reconnect: true,
        });
        this.closeSession(session);
      },
      Math.max(0, Math.min(wait, MAX_TIMER_MS)),
    );
    timer.unref();
    this.expiries.set(session, timer);
  }

  private async dispatch(session: Session, frame: ClientFrame, dataText: string | undefined): Promise<void> {
    switch (frame.t) {
      case 'sub':
        return this.subscribe(session, frame.ref, frame.topic, frame.ep, frame.off);
      case 'unsub':
        if (session.subscriptions.delete(frame.topic) && this.hub.unsubscribe(session, frame.topic)) {
          await this.engine.unlisten(frame.topic);
        }
        session.send(ok(frame.ref));
        return;
      case 'pub': {
        session.send(ok(frame.ref, await this.publishKeyed(frame.topic, frame.data, dataText, frame.key)));
        return;
      }
      case 'join':
        if (!session.joins.has(frame.topic)) {
          this.checkRoom(session);
          session.joins.add(frame.topic);
          this.hub.join(session, frame.topic);
          try {
            // Every join waits until the engine delivers the topic's bus (a join racing the first one too).
            await this.engine.listenBus(frame.topic);
          } catch (e) {
            session.joins.delete(frame.topic);
            this.hub.leave(session, frame.topic);
            throw e;
          }
        }
        session.send(ok(frame.ref));
        return;
      case 'leave':
        if (session.joins.delete(frame.topic) && this.hub.leave(session, frame.topic))
          await this.engine.unlistenBus(frame.topic);
        session.send(ok(frame.ref));
        return;
      case 'bus': {
        const message: BusMessage = { topic: frame.topic, data: frame.data, from: session.id };
        if (dataText !== undefined) message.dataText = dataText;
        await this.engine.sendBus(message);
        session.send(ok(frame.ref));
        return;
      }
      case 'push': {
        const push = (): Promise<{ off?: number }> =>
          this.engine.push(frame.topic, frame.data, dataText, this.engineKey(frame.key)).then(() => ({}));
        session.send(
          ok(frame.ref, await (frame.key === undefined ? push() : this.dedupe.run(`push ${frame.key}`, push))),
        );
        return;
      }
      case 'pull':
        if (!session.pulls.has(frame.topic)) {
          this.checkRoom(session);
          const puller = this.puller(session, frame.topic, frame.prefetch ?? 1);
          session.pulls.set(frame.topic, puller);
          session.send(ok(frame.ref));
          this.engine.addPuller(puller);
        } else session.send(ok(frame.ref));
        return;
      case 'unpull': {
        const puller = session.pulls.get(frame.topic);
        if (puller) {
          session.pulls.delete(frame.topic);
          this.engine.removePuller(puller);
        }
        session.send(ok(frame.ref));
        return;
      }
      case 'ack':
      case 'nack': {
        for (const puller of session.pulls.values()) {
          if (puller.inflight.has(frame.id)) {
            if (frame.t === 'ack') await this.engine.ack(puller, frame.id);
            else await this.engine.nack(puller, frame.id);
            session.send(ok(frame.ref));
            return;
          }
        }
        throw new RtError('not_found', `no job "${frame.id}" is held by this connection`);
      }
      case 'call': {
        const action = this.actions.get(frame.name);
        if (!action) throw new RtError('unknown_action', `no action "${frame.name}"`);
        let result: unknown;
        try {
          result = await action({ identity: session.identity, sessionId: session.id }, frame.data);
        } catch (e) {
          if (e instanceof RtError) throw e;
          throw new RtError('action_failed', e instanceof Error ? e.message : String(e));
        }
        session.send(ok(frame.ref, result === undefined ? {} : { data: result as Payload }));
        return;
      }
    }
  }

  private checkRoom(session: Session): void {
    if (session.holdings >= this.limits.maxSubscriptions) {
      throw new RtError(
        'too_many_subscriptions',
        `a connection may hold ${this.limits.maxSubscriptions} subscriptions, joins and pullers`,
      );
    }
  }

  private async subscribe(session: Session, ref: number, topic: string, ep?: string, off?: number): Promise<void> {
    const fresh = !session.subscriptions.has(topic);
    if (fresh) {
      this.checkRoom(session);
      session.subscriptions.add(topic);
      this.hub.subscribe(session, topic);
      try {
        // Every new subscription waits until the engine delivers the topic (one racing the first one too).
        await this.engine.listen(topic);
      } catch (e) {
        session.subscriptions.delete(topic);
        this.hub.unsubscribe(session, topic);
        throw e;
      }
    }
    if (ep === undefined || off === undefined) {
      const position = await this.engine.position();
      session.send(ok(ref, position));
      return;
    }
    // Recovery: the replay goes out before any live message of this session.
    session.hold();
    try {
      const recovery = await this.engine.recover(topic, ep, off);
      if (recovery.gap)
        session.sendNow(new Outgoing({ t: 'gap', topic, reason: recovery.gap, ep: recovery.ep, off: recovery.off }));
      for (const m of recovery.messages) {
        if (!m.meta?.private) session.sendNow(messageOutgoing(m.topic, m.data, m.off, m.dataText));
      }
      session.sendNow(ok(ref, { ep: recovery.ep, off: recovery.off }));
    } finally {
      session.release();
    }
  }

  private puller(session: Session, topic: string, prefetch: number): PullerHandle {
    return {
      topic,
      prefetch,
      inflight: new Map<string, Job>(),
      deliver: (job) =>
        session.send(
          new Outgoing(
            job.attempt === undefined
              ? { t: 'job', topic: job.topic, id: job.id, data: job.data }
              : { t: 'job', topic: job.topic, id: job.id, data: job.data, attempt: job.attempt },
          ),
        ),
    };
  }

  private deliverMessage(m: StoredMessage): void {
    if (!m.meta?.private) this.hub.publish(m.topic, messageOutgoing(m.topic, m.data, m.off, m.dataText));
    for (const tap of this.taps) {
      try {
        tap(m);
      } catch (e) {
        this.logger.error({ err: e, topic: m.topic }, 'delivery tap failed');
      }
    }
  }

  /** History was lost: every subscription on this node learns of the gap and where to continue from. */
  private epochChanged(ep: string): void {
    this.logger.warn({ ep }, 'history was lost (new epoch): subscribers are told of the gap');
    for (const session of this.sessions) {
      for (const topic of session.subscriptions)
        session.send(new Outgoing({ t: 'gap', topic, reason: 'epoch', ep, off: 0 }));
    }
  }

  private deliverBus(m: BusMessage): void {
    this.hub.bus(m.topic, busOutgoing(m.topic, m.data, m.dataText), m.from);
  }
}

function forbidden(op: ClientOp, topic: string): RtError {
  return new RtError('forbidden', `not allowed to ${op} on "${topic}"`);
}

/**
 * On servers the broker owns, an upgrade request to a path no transport serves gets `404`
 * instead of hanging: the transports claim theirs at once, so a socket nobody has written to
 * after a moment was claimed by nobody.
 */
function refuseUnclaimedUpgrade(req: IncomingMessage, socket: Duplex): void {
  const timer = setTimeout(() => {
    if (socket.writable && (socket as Socket).bytesWritten === 0 && !socket.destroyed) {
      socket.end(
        `HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\nnothing to upgrade at ${(req.url ?? '/').slice(0, 200)}\r\n`,
      );
    }
  }, 1000);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/** Parses a listen address: `http://*:4000`, `http://127.0.0.1:0`, `http://[::1]:4000`, `4000`. */
export function parseListen(url: string | number): { host: string; port: number } {
  if (typeof url === 'number') return { host: '*', port: url };
  if (/^\d+$/.test(url)) return { host: '*', port: Number(url) };
  const m = /^(?:https?:\/\/)?(\*|\[[0-9a-fA-F:.]+\]|[^:/]+)?(?::(\d+))?\/?$/.exec(url);
  if (!m) throw new TypeError(`cannot listen on "${url}": expected e.g. http://*:4000`);
  const port = m[2] === undefined ? 4000 : Number(m[2]);
  if (port > 65535) throw new TypeError(`port ${port} is out of range`);
  return { host: m[1] ?? '*', port };
}

/** Creates a broker. Embed it with `broker.attach(httpServer)` or run it with `broker.listen(url)`. */
export function createBroker(options?: BrokerOptions): Broker {
  return new Broker(options);
}
