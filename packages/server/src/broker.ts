import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Http2SecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { type FrameLimits, type Payload, maxBatchBytes } from '@rt/protocol';
import type { Engine, EngineGauges, StoredMessage } from './engines/engine.js';
import { memory } from './engines/memory.js';
import type { BrokerStats } from './stats.js';
import { HttpFront, refuseUnclaimedUpgrade } from './front.js';
import { type AnyServer, closeServer, createServerFor, http1View, isHttp2, trackServer } from './http2.js';
import { OpsCounters } from './metrics/counters.js';
import { Monitor } from './metrics/index.js';
import type { MonitorSource } from './metrics/source.js';
import { Operations } from './ops/operations.js';
import type { Caller } from './ops/types.js';
import { type ActionHandler, type BrokerOptions, type ResolvedOptions, resolveOptions } from './broker-options.js';
import type { Limits, Logger } from './options.js';
import { applyCors } from './policy/cors.js';
import type { Handshake } from './policy/handshake.js';
import { Policy } from './policy/policy.js';
import { SessionRegistry } from './registry.js';
import type { Identity } from './session.js';
import { TopicIndex } from './topic-index.js';
import { FrameDoor } from './transports/frames.js';
import type { TransportHost } from './transports/host.js';
import type { Transport } from './transports/host.js';
import { defaultTransports } from './transports/index.js';

export type { Handshake } from './policy/handshake.js';

/** Where a broker listens, once `listen()` resolved. */
export interface ListenAddress {
  /** The port (useful with port 0). */
  port: number;
  /** The host as given (`*` for every interface). */
  host: string;
  /** A URL clients can connect to (`*` replaced by `localhost`). */
  url: string;
}

/** The caller of in-process publishes: the application itself. */
const APP: Caller = { identity: null, trusted: 'app' };

/**
 * The broker, as applications see it: create it, `listen()` or `attach()` it, `publish()`,
 * register `action()`s, read `stats()`, `close()` it. Inside, doors (transports) parse their
 * wire formats and call the operations core (`ops/`), which authorizes, applies limits,
 * dedupes and filters once for all of them; sessions queue and write what goes out; the
 * engine shares what must be shared between nodes.
 */
export class Broker {
  /** Options with defaults filled in. */
  readonly options: ResolvedOptions;
  readonly limits: Limits;
  readonly logger: Logger;
  /** The engine (`memory` unless the options name another). */
  readonly engine: Engine;
  /** Origin rules, authentication and authorization. */
  readonly policy: Policy;
  /** Counters for metrics and the admin page beyond {@link stats} (see `metrics/counters.ts`). */
  readonly counters = new OpsCounters();
  private readonly front: HttpFront;
  private readonly monitor: Monitor;
  private readonly ops: Operations;
  private readonly registry: SessionRegistry;
  private readonly frames: FrameDoor;
  private readonly taps = new Set<(message: StoredMessage) => void>();
  private readonly actions = new Map<string, ActionHandler>();
  private readonly transports: Transport[];
  private readonly servers: HttpServer[] = [];
  private readonly ownServers = new Set<AnyServer>();
  private readonly ready: Promise<void>;
  private closing = false;

  constructor(options: BrokerOptions = {}, transports: Transport[] = defaultTransports()) {
    this.options = resolveOptions(options, memory);
    this.limits = this.options.limits;
    this.logger = this.options.logger;
    this.engine = this.options.engine;
    this.policy = new Policy(this.options, this.logger);
    this.front = new HttpFront(this.logger);
    const frameLimits: FrameLimits = {
      maxPayloadBytes: this.limits.maxPayloadBytes,
      topic: { maxLength: this.limits.maxTopicLength, maxDepth: this.limits.maxTopicDepth },
    };
    this.transports = transports;
    let started!: () => void;
    let failed!: (e: unknown) => void;
    const engineStarted = new Promise<void>((resolve, reject) => {
      started = resolve;
      failed = reject;
    });
    engineStarted.catch(() => undefined);
    this.ops = new Operations({
      engine: this.engine,
      index: new TopicIndex(),
      policy: this.policy,
      limits: this.limits,
      actions: this.actions,
      ready: engineStarted,
      counters: this.counters,
      retain: this.options.retain,
    });
    this.registry = new SessionRegistry(
      this.ops,
      this.policy,
      this.limits,
      this.options.slowConsumer,
      this.logger,
      this.counters,
    );
    const { maxPayloadBytes, maxSubscriptions, maxTopicLength, maxTopicDepth, pushQueueSize } = this.limits;
    this.frames = new FrameDoor(this.ops, frameLimits, this.logger, this.counters, {
      maxPayloadBytes,
      maxSubscriptions,
      maxTopicLength,
      maxTopicDepth,
      pushQueueSize,
    });
    this.ready = this.engine.start(
      {
        deliverMessage: (m) => this.deliverMessage(m),
        deliverBus: (m) => this.ops.deliverBus(m),
        deliverPresence: (event) => this.ops.deliverPresence(event),
        epochChanged: (ep) => this.registry.epochChanged(ep),
        missed: (topic, reason, ep, off) => this.registry.missed(topic, reason, ep, off),
        logger: this.logger,
        commandTime: (seconds) => this.counters.commandObserver?.(seconds),
      },
      this.limits,
    );
    this.ready.then(started, failed);
    this.ready.catch((e: unknown) => this.logger.error({ err: e }, 'engine failed to start'));
    const host = this.host();
    for (const transport of this.transports) transport.setup(host);
    this.monitor = new Monitor(this.monitorSource());
  }

  /** What the probes, metrics and admin page read: a narrow view, never the engine itself. */
  private monitorSource(): MonitorSource {
    const broker = this;
    const engine = this.engine;
    let lastGauges: EngineGauges | undefined;
    return {
      prefix: this.options.prefix,
      mode: this.options.mode,
      metrics: this.options.metrics,
      admin: this.options.admin,
      logger: this.logger,
      counters: this.counters,
      get isClosing() {
        return broker.closing;
      },
      whenReady: () => this.ready,
      addRoute: (method, path, handler) => this.front.addRoute(method, path, handler),
      stats: () => {
        const { queued, historyTopics, historyMessages } = engine.stats();
        return { ...this.stats(), queued, historyTopics, historyMessages };
      },
      sessions: () => this.registry.all,
      sessionless: () => this.transports.flatMap((t) => t.sessionless?.() ?? []),
      health: () => engine.health?.() ?? { ok: true },
      ready: () => (engine.ready ? engine.ready() : Promise.resolve(engine.health?.() ?? { ok: true })),
      queues: () => engine.queueDepths?.(),
      gauges: async () => {
        if (!engine.gauges) return undefined;
        try {
          lastGauges = await engine.gauges();
        } catch {
          // The backend does not answer (rt_engine_up says so): the last figures read stand.
        }
        return lastGauges;
      },
      presence: (topic) => this.ops.presence(APP, topic, { do: 'get' }).then((s) => s?.members ?? []),
    };
  }

  /** The narrow interface transports get: never the engine, never this whole class. */
  private host(): TransportHost {
    const broker = this;
    return {
      options: this.options,
      limits: this.limits,
      logger: this.logger,
      ops: this.ops,
      policy: this.policy,
      flusher: this.registry.flusher,
      forwarding: this.engine.forwarding,
      get isClosing() {
        return broker.closing;
      },
      whenReady: () => this.ready,
      // Through the public method, so an application (or a test) that wraps `admit` is heard.
      admit: (handshake) => this.admit(handshake),
      cors: (req, res, methods) => applyCors(this.policy, req, res, methods),
      addRoute: (method, path, handler) => this.front.addRoute(method, path, handler),
      setFallback: (handler) => {
        this.front.fallback = handler;
      },
      openSession: (wire) => this.registry.open(wire),
      closeSession: (session, reason) => this.registry.close(session, reason),
      handleFrame: (session, input) => this.frames.handle(session, input),
      tap: (listener) => this.tap(listener),
      health: () => ({
        ...(this.engine.health?.() ?? { ok: true }),
        engine: this.engine.name,
        sessions: this.registry.size,
      }),
    };
  }

  /**
   * Embeds the broker in an existing Node HTTP server (the one Express, Fastify or Koa
   * listen on), or in an `http2.createSecureServer({ allowHTTP1: true })`: rt answers its own
   * paths and upgrades, and passes every other request on.
   */
  attach(server: HttpServer | Http2SecureServer): this {
    if (this.closing) throw new Error('broker is closed');
    if (isHttp2(server)) return this.attach(http1View(server));
    this.front.attach(server);
    for (const transport of this.transports) transport.attach(server);
    this.front.stickyFree(
      server,
      this.engine.forwarding,
      this.transports.flatMap((t) => (t.foreign ? [t.foreign] : [])),
      maxBatchBytes(this.limits.maxPayloadBytes),
    );
    this.servers.push(server);
    return this;
  }

  /**
   * Runs the broker alone on `url`, e.g. `http://*:4000` (every interface),
   * `http://127.0.0.1:0` (a free port) or just a port number.
   */
  async listen(url: string | number = 'http://*:4000'): Promise<ListenAddress> {
    const { host, port } = parseListen(url);
    const server = createServerFor(this.options.tls);
    trackServer(server);
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
    this.registry.closeAll();
    await Promise.all([...this.transports.map((t) => t.close()), this.monitor.close()]);
    await Promise.all([...this.ownServers].map(closeServer));
    await this.ready.catch(() => undefined);
    await this.engine.close();
  }

  /**
   * Publishes from the server: subscribers of `topic` and of its ancestors receive `data`.
   * With `key`, a publish repeated with the same key within the dedupe window (a retried
   * HTTP POST with an `Idempotency-Key`) is carried out once and answered with the first
   * offset. The application's keys are its own: no connection's key can suppress them.
   * `retain: true` keeps it as the topic's latest value for new subscribers (`null` clears it).
   */
  publish(topic: string, data: Payload, options: { key?: string; retain?: boolean } = {}): Promise<{ off: number }> {
    return this.ops.publish(APP, topic, { data }, options);
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
      sessions: this.registry.size,
      ...this.frames.counts,
      ...e,
      ackExpired: e.ackExpired ?? 0,
      ...this.registry.counts,
      outboundQueued: this.registry.queuedBytes,
      deduplicated: this.ops.deduplicated + (e.deduplicated ?? 0),
      idempotencyKeys: this.ops.idempotencyKeys,
      replayDropped: this.ops.counts.replayDropped,
      engine: this.engine.name,
    };
  }

  /**
   * Answers requests no route and no application handler took, on servers rt owns
   * (`listen()`): the playground sets it in development mode. Default: 404.
   */
  get fallback(): (req: IncomingMessage, res: ServerResponse) => void {
    return this.front.fallback;
  }

  set fallback(handler: (req: IncomingMessage, res: ServerResponse) => void) {
    this.front.fallback = handler;
  }

  /**
   * Node-local delivery hook: `listener` sees every message the engine delivers to this node,
   * right after it was fanned out to this node's sessions (private messages included; see
   * `MessageMeta.private`). Returns a function that removes it. An engine delivers to a node
   * only the topics it listens to. A throwing listener is logged and does not stop the others.
   */
  tap(listener: (message: StoredMessage) => void): () => void {
    this.taps.add(listener);
    return () => {
      this.taps.delete(listener);
    };
  }

  /** Answers `req` when rt owns its path; false when the request is the application's. */
  route(req: IncomingMessage, res: ServerResponse): boolean {
    return this.front.route(req, res);
  }

  /**
   * Admits a connection or HTTP request: the ONE place every transport (socket.io, SSE, raw
   * WebSocket, HTTP publish) sends its handshake through, so that origin checks and
   * authentication apply everywhere alike. Resolves with the identity (`null`: anonymous);
   * rejects with an `RtError` (`unauthorized`, `forbidden`) that the transport turns into its
   * own refusal (HTTP status, socket.io connect error).
   */
  admit(handshake: Handshake): Promise<Identity> {
    return this.policy.admit(handshake).catch((e: unknown) => {
      this.counters.refusedHandshake(e);
      throw e;
    });
  }

  /** True while `close()` runs or after: transports refuse new connections. */
  get isClosing(): boolean {
    return this.closing;
  }

  private deliverMessage(m: StoredMessage): void {
    this.ops.deliverMessage(m);
    for (const tap of this.taps) {
      try {
        tap(m);
      } catch (e) {
        this.logger.error({ err: e, topic: m.topic }, 'delivery tap failed');
      }
    }
  }
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
