import {
  type AdvertisedLimits,
  type ClientFrame,
  type ErrorCode,
  type GapFrame,
  type JobFrame,
  type JsonObject,
  type MsgFrame,
  type OkFrame,
  type Pace,
  type Payload,
  type PubFrame,
  type ServerFrame,
  RtError,
  ancestry,
  checkPayload,
  topicProblem,
} from '@rt/protocol';
import { type BackoffOptions, backoffDelay } from './backoff.js';
import { DeltaDecoder } from './delta.js';
import { Emitter } from './emitter.js';
import {
  type BusSink,
  type Handle,
  type Interest,
  type InterestKind,
  Interests,
  type PullerSink,
  type SubscriptionSink,
} from './interests.js';
import type { Lifecycle, LifecycleEvent } from './lifecycle.js';
import { browserLifecycle } from './lifecycle-browser.js';
import { payloadProblem } from './payload.js';
import { Presence, type PresenceOptions, type PresenceSink } from './presence.js';
import { RequestQueue } from './requests.js';
import {
  Bus,
  type JobHandler,
  type JobMeta,
  type MessageHandler,
  type MessageMeta,
  Puller,
  type PublishOptions,
  type PullOptions,
  Subscription,
  Topic,
  type TopicHost,
} from './topic.js';
import type { ClientTransport, TransportContext, TransportFactory, TransportName } from './transports/transport.js';
import { type BrokerAddress, brokerAddress } from './url.js';

/**
 * The state of a client's connection:
 * - `connecting`: the first attempt (and its retries) before the first open;
 * - `open`: connected, and a round trip to the broker worked;
 * - `degraded`: connected, but answers take longer than `openTimeoutMs` (a browser with every
 *   connection to the host in use, e.g. many tabs on SSE or long-polling; a slow proxy). Back
 *   to `open` when answers come promptly again; `reconnecting` when they stop;
 * - `reconnecting`: the connection dropped or stalled; retrying with backoff;
 * - `suspended`: disconnected on purpose while the app is in the background (past
 *   `backgroundGraceMs`) or the device is offline; reconnects at once when that ends;
 * - `unauthorized`: the broker refused the credentials and `auth` gave no new ones; stays so
 *   until `reconnect()`;
 * - `closed`: for good (`close()`, `reconnect: false`, `maxAttempts`, or a `bye`).
 */
export type ConnectionState =
  | 'connecting'
  | 'open'
  | 'degraded'
  | 'reconnecting'
  | 'suspended'
  | 'unauthorized'
  | 'closed';

/** Events of a {@link Client}. */
export interface ClientEvents {
  /** The connection state changed. */
  state: { from: ConnectionState; to: ConnectionState; reason?: string };
  /** A transport opened (also after a reconnect or a fallback). */
  transport: { name: TransportName };
  /**
   * Something failed that no promise reports: a transport that would not open (once per
   * distinct cause, not per retry), a subscription, join or puller the broker refused, or one
   * it could not take now (`unavailable`: then `topic` and `retryInMs` say which and when it is
   * tried again). With no listener, the first one is logged once (see `logErrors`).
   */
  error: { error: Error; topic?: string; retryInMs?: number };
  /**
   * After each open (the first and every reconnect), once the broker has confirmed every
   * subscription, bus join and puller the client re-established: from here on, nothing the app
   * wanted is missing on the broker. `refused` counts those the broker refused (each also
   * reported on `error` and on its own handle).
   */
  restored: { subscriptions: number; buses: number; pullers: number; refused: number };
}

/** A token, or a function that returns one (called on every connect, so tokens can refresh). */
export type AuthOption = string | (() => string | undefined | Promise<string | undefined>);

/** Options of {@link connect}. */
export interface ConnectOptions {
  /**
   * Transports to try, in order. Default `['websocket', 'sse', 'polling']`, minus what the
   * runtime lacks. The first that opens is used, and tried first on later reconnects.
   */
  transports?: readonly (TransportName | TransportFactory)[];
  /** Reconnect settings, or `false` to stay closed after the first disconnect. */
  reconnect?: BackoffOptions | false;
  /** How long a transport may take to open before the next one is tried, in ms. Default 5,000. */
  openTimeoutMs?: number;
  /** How long a request may wait for its answer once sent, in ms. Default 10,000. */
  requestTimeoutMs?: number;
  /** Calls that may wait while disconnected; past it they reject with `queue_overflow`. Default 1,000. */
  queueLimit?: number;
  /** Credentials presented on every (re)connect. */
  auth?: AuthOption;
  /** Path prefix of the broker's endpoints. Default `/rt`. */
  prefix?: string;
  /** `WebSocket` constructor to use instead of the global one. */
  WebSocket?: unknown;
  /** `EventSource` constructor to use instead of the global one (React Native has none). */
  EventSource?: unknown;
  /** `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
  /**
   * HTTP headers sent with every connection attempt (and SSE's POSTs): `Origin` for a broker's
   * `allowOrigin`, a cookie, a custom auth header. Node and React Native only: a browser's
   * WebSocket and EventSource cannot send headers (use `auth`, which travels in the handshake).
   */
  headers?: Record<string, string>;
  /**
   * What tells the client the app went to the background or the device offline. Default: the
   * browser's `visibilitychange` and `online`/`offline` where they exist, nothing elsewhere;
   * React Native apps pass an `AppState`/`NetInfo` adapter. `false`: none.
   */
  lifecycle?: Lifecycle | false;
  /**
   * How long the connection stays open while the app is in the background, in ms; past it the
   * client disconnects (`suspended`) and reconnects, with recovery, on `foreground`.
   * `Infinity`: never. Default 60,000.
   */
  backgroundGraceMs?: number;
  /** Log the first connection failure once (`console.warn`) when nothing listens to `error`. Default true. */
  logErrors?: boolean;
  /** Presence defaults: `info` is what the other members see of this client on every `topic.presence()` that sets none. */
  presence?: { info?: JsonObject };
}

const DEFAULT_ORDER: readonly TransportName[] = ['websocket', 'sse', 'polling'];

/**
 * Which state may follow which. `connecting` is the first attempt; `reconnecting` every later
 * one; `closed` is final.
 */
const TRANSITIONS: Readonly<Record<ConnectionState, readonly ConnectionState[]>> = {
  connecting: ['open', 'suspended', 'unauthorized', 'closed'],
  open: ['degraded', 'reconnecting', 'suspended', 'unauthorized', 'closed'],
  degraded: ['open', 'reconnecting', 'suspended', 'unauthorized', 'closed'],
  reconnecting: ['open', 'suspended', 'unauthorized', 'closed'],
  suspended: ['connecting', 'reconnecting', 'closed'],
  unauthorized: ['connecting', 'reconnecting', 'closed'],
  closed: [],
};

/** Refusals of a subscription, join or puller worth trying again: the broker could not take it now. */
const TRANSIENT: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['unavailable', 'shutting_down', 'timeout', 'internal']);

/** The handshake in progress on a transport that opened: its `hello` and the answer awaited. */
interface Handshake {
  frame(frame: ServerFrame): void;
  fail(error: Error): void;
}

/** The re-establishing after one open: what is still unconfirmed, and the counts `restored` reports. */
interface Restoring {
  outstanding: Set<Interest>;
  subscriptions: number;
  buses: number;
  pullers: number;
  refused: number;
}

/**
 * An rt client: one connection (over the best transport available), typed topic handles,
 * and everything needed to survive the network: reconnect with backoff and jitter,
 * resubscribe, recovery of missed messages, and a bounded queue of calls made while
 * disconnected.
 */
export class Client extends Emitter<ClientEvents> implements TopicHost {
  private stateValue: ConnectionState = 'connecting';
  /** The transport of the open connection. */
  private current: ClientTransport | undefined;
  private readonly factories: TransportFactory[];
  private preferred = 0;
  private readonly requests: RequestQueue;
  private readonly interests = new Interests();
  /** Payloads kept for deltas (made when a subscription asks for them, or a delta arrives). */
  private deltas: DeltaDecoder | undefined;
  private restoring: Restoring | undefined;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped whenever a connection attempt must stop (a newer one began, or the client closed). */
  private generation = 0;
  /** Why the client closed: what `ready()` and every later call reject with. */
  private closeError: RtError | undefined;
  /** Why the last connection attempt failed (reported when the client gives up). */
  private lastFailure: RtError | undefined;
  /** Why the broker said it would close the connection (`bye` with `reconnect`), until it does. */
  private farewell: string | undefined;
  /** This client's random id: with a counter, the idempotency key of each publish and push. */
  private readonly keyPrefix = randomId();
  private keys = 0;
  private readonly address: BrokerAddress;
  /** Handshakes in progress, by transport (a superseded attempt may still be finishing its own). */
  private readonly handshakes = new WeakMap<ClientTransport, Handshake>();
  /** What the broker advertised in its answer to `hello` (undefined for a broker that predates it). */
  private limits: AdvertisedLimits | undefined;
  private probing = false;
  /** When the last answer to any request arrived (answers still flowing means the connection lives). */
  private lastAnswerAt = 0;
  /** While `degraded`: probes every `openTimeoutMs`, and how many in a row came back promptly. */
  private degradedTimer: ReturnType<typeof setInterval> | undefined;
  private prompt = 0;
  /** The message of the last connection failure reported, so that a retry failing alike is not reported again. */
  private lastReported: string | undefined;
  private warned = false;
  private everOpened = false;
  /** Why the client is `unauthorized`: what calls reject with meanwhile. */
  private authError: RtError | undefined;
  private background = false;
  private offline = false;
  private graceTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly stopLifecycle: (() => void) | undefined;
  private readonly options: Required<
    Pick<ConnectOptions, 'openTimeoutMs' | 'requestTimeoutMs' | 'queueLimit' | 'prefix' | 'backgroundGraceMs'>
  > &
    ConnectOptions;

  /** @internal Use {@link connect}. */
  constructor(
    /** The broker's URL. */
    readonly url: string,
    options: ConnectOptions,
    available: Record<TransportName, TransportFactory | undefined>,
  ) {
    super();
    this.address = brokerAddress(url);
    this.options = {
      openTimeoutMs: 5000,
      requestTimeoutMs: 10_000,
      queueLimit: 1000,
      prefix: '/rt',
      backgroundGraceMs: 60_000,
      ...options,
    };
    this.requests = new RequestQueue({
      requestTimeoutMs: this.options.requestTimeoutMs,
      queueLimit: this.options.queueLimit,
      onTimeout: (frame) => {
        if (frame.t !== 'hello') this.probe();
      },
      slowMs: this.options.openTimeoutMs,
      onSlow: (frame) => this.onSlow(frame),
      onAnswer: (frame, ms) => this.onAnswer(frame, ms),
    });
    const wanted = options.transports ?? DEFAULT_ORDER;
    const context = this.context(undefined);
    this.factories = wanted
      .map((t) => (typeof t === 'string' ? available[t] : t))
      .filter((f): f is TransportFactory => f?.available(context) === true);
    if (this.factories.length === 0) {
      throw new RtError(
        'unavailable',
        `none of the transports ${wanted.map((t) => (typeof t === 'string' ? t : t.name)).join(', ')} can run here`,
      );
    }
    const lifecycle = options.lifecycle === undefined ? browserLifecycle() : options.lifecycle || undefined;
    this.stopLifecycle = lifecycle?.subscribe((event) => this.onLifecycle(event));
    void this.open();
  }

  /** The connection state. */
  get state(): ConnectionState {
    return this.stateValue;
  }

  /** True while connected (`open` or `degraded`). */
  private get connected(): boolean {
    return this.stateValue === 'open' || this.stateValue === 'degraded';
  }

  /** The transport in use, or `undefined` while not connected. */
  get transport(): TransportName | undefined {
    return this.connected ? this.current?.name : undefined;
  }

  /** A typed handle on `name`. Throws `invalid_topic` for a topic that breaks the topic rules. */
  topic<T = unknown>(name: string): Topic<T> {
    const problem = topicProblem(name);
    if (problem !== null) throw new RtError('invalid_topic', problem);
    return new Topic<T>(name, this);
  }

  /** Calls an action on the broker and resolves with its result. */
  async call<R = unknown>(name: string, payload: Payload = null): Promise<R> {
    const answer = await this.send({ t: 'call', ref: 0, name, data: payload });
    return answer.data as R;
  }

  /**
   * Reconnects now, with the backoff reset: after `unauthorized` (with fresh credentials from
   * `auth`), when the app knows the network is back, or to leave a connection it distrusts.
   * Subscriptions recover what they missed. Does nothing once closed.
   */
  reconnect(): void {
    if (this.stateValue === 'closed') return;
    this.reconnectNow('reconnect() was called');
  }

  /**
   * Resolves when the client is open (at once if it is). Rejects if it closes first, with why:
   * `closed` after `close()`, or the last connection failure (e.g. `unavailable` with the
   * network error) when it gave up.
   */
  ready(): Promise<void> {
    if (this.connected) return Promise.resolve();
    const refusal = this.refusal();
    if (refusal) return Promise.reject(refusal);
    return new Promise((resolve, reject) => {
      const off = this.on('state', ({ to }) => {
        if (to === 'open') resolve();
        else if (to === 'closed' || to === 'unauthorized') reject(this.refusal());
        else return;
        off();
      });
    });
  }

  /** Closes the connection for good. Calls still waiting reject with `closed`. */
  close(): void {
    if (this.stateValue === 'closed') return;
    this.shutdown(new RtError('closed', 'the client was closed'));
  }

  /** Why calls fail at once now (closed, or unauthorized), if they do. */
  private refusal(): RtError | undefined {
    return this.closeError ?? (this.stateValue === 'unauthorized' ? this.authError : undefined);
  }

  /** A request from the app: refused at once when closed or unauthorized, queued while disconnected. */
  private request(frame: ClientFrame): Promise<OkFrame> {
    const refusal = this.refusal();
    if (refusal) return Promise.reject(refusal);
    return this.requests.request(frame);
  }

  /** A call carrying `data`: refused locally if JSON cannot carry it or it is larger than the broker takes. */
  private send(frame: ClientFrame & { data: Payload }): Promise<OkFrame> {
    const problem = payloadProblem(frame.data);
    if (problem !== null) return Promise.reject(new RtError('bad_payload', problem));
    const tooLarge = this.oversized(frame);
    if (tooLarge) return Promise.reject(tooLarge);
    return this.request(frame);
  }

  /** `payload_too_large` for a frame whose payload is larger than the broker advertised. */
  private oversized(frame: ClientFrame): RtError | undefined {
    if (!this.limits || !('data' in frame)) return undefined;
    const checked = checkPayload(frame.data, this.limits.maxPayloadBytes);
    if (checked.ok) return undefined;
    return new RtError(checked.code, `${checked.message} (the broker's maxPayloadBytes): not sent`);
  }

  // ---- connection lifecycle -------------------------------------------------------------

  private setState(to: ConnectionState, reason?: string): void {
    const from = this.stateValue;
    if (from === to) return;
    if (!TRANSITIONS[from].includes(to)) throw new Error(`rt client: no transition from ${from} to ${to}`);
    this.stateValue = to;
    this.emit('state', reason === undefined ? { from, to } : { from, to, reason });
  }

  private context(token: string | undefined): TransportContext {
    const g = globalThis as Record<string, unknown>;
    return {
      url: this.address.origin,
      prefix: `${this.address.path}${this.options.prefix}`,
      token,
      headers: this.options.headers,
      openTimeoutMs: this.options.openTimeoutMs,
      WebSocket: this.options.WebSocket ?? g.WebSocket,
      EventSource: this.options.EventSource ?? g.EventSource,
      fetch:
        this.options.fetch ?? (typeof g.fetch === 'function' ? (g.fetch as typeof fetch).bind(globalThis) : undefined),
      runtimeFetch: this.options.fetch === undefined,
    };
  }

  private async token(): Promise<string | undefined> {
    const auth = this.options.auth;
    return typeof auth === 'function' ? await auth() : auth;
  }

  /**
   * One connection attempt: each transport in turn, the last one that worked first. A transport
   * counts as open once a `hello` round trip worked. A refusal of the credentials stops the
   * attempt: `auth` is asked once more, and without a new token the client is `unauthorized`.
   */
  private async open(given?: { token: string | undefined }): Promise<void> {
    const generation = ++this.generation;
    let token: string | undefined;
    try {
      token = given ? given.token : await this.token();
    } catch (error) {
      this.report(new RtError('unauthorized', `the auth function failed: ${describe(error)}`, { cause: error }));
      return this.retry(generation);
    }
    const n = this.factories.length;
    for (let i = 0; i < n; i++) {
      if (generation !== this.generation) return;
      const index = (this.preferred + i) % n;
      const factory = this.factories[index]!;
      const context = this.context(token);
      const where = `${context.url}${context.prefix}`;
      const transport = factory.create(context, {
        frame: (frame) => {
          if (this.current === transport) this.onFrame(frame);
          else this.handshakes.get(transport)?.frame(frame);
        },
        close: (reason) => {
          if (this.current === transport) this.onDisconnect(reason);
          else this.handshakes.get(transport)?.fail(new Error(reason));
        },
      });
      try {
        // A backstop a little past the transport's own timeout (which says more), so that no
        // transport can leave a connection attempt hanging.
        await withDeadline(
          transport.open(),
          this.options.openTimeoutMs + OPEN_GRACE_MS,
          `did not open within ${this.options.openTimeoutMs} ms`,
        );
        if (generation !== this.generation) throw new Error('superseded');
        await this.handshake(transport);
      } catch (error) {
        transport.close();
        if (generation !== this.generation) return;
        // A refusal (origin, credentials) keeps its code, so the app can tell it from a network failure.
        const refused = error instanceof RtError && (error.code === 'unauthorized' || error.code === 'forbidden');
        const failure = new RtError(
          refused ? error.code : 'unavailable',
          `${factory.name} to ${where} did not open: ${describe(error)}`,
          { cause: error },
        );
        this.lastFailure = failure;
        if (refused) return this.refused(failure, token, given !== undefined, generation);
        this.report(failure);
        continue;
      }
      if (generation !== this.generation) {
        transport.close();
        return;
      }
      this.preferred = index;
      this.opened(transport);
      return;
    }
    this.retry(generation);
  }

  /**
   * The `hello` round trip on a transport that opened: proves frames travel both ways (a
   * browser out of connections to the host opens an SSE stream whose POSTs never leave), and
   * brings the broker's limits. A broker that predates `hello` answers `unknown_op`: as good.
   */
  private handshake(transport: ClientTransport): Promise<void> {
    const ref = this.requests.nextRef();
    const ms = this.options.openTimeoutMs;
    const answered = new Promise<void>((resolve, reject) => {
      this.handshakes.set(transport, {
        frame: (frame) => {
          if (frame.t === 'bye') reject(new RtError(byeCode(frame.code), frame.message));
          if ((frame.t !== 'ok' && frame.t !== 'err') || frame.ref !== ref) return;
          if (frame.t === 'err' && frame.code !== 'unknown_op') {
            reject(new RtError(frame.code, frame.message));
            return;
          }
          this.limits = frame.t === 'ok' ? advertisedLimits(frame.data) : undefined;
          resolve();
        },
        fail: reject,
      });
      transport.send({ t: 'hello', ref });
    });
    return withDeadline(
      answered,
      ms,
      `opened, but no answer to a first request within ${ms} ms: frames do not get through (a proxy that buffers, or a browser with every connection to this host in use by other tabs)`,
    ).finally(() => {
      this.handshakes.delete(transport);
    });
  }

  /** A transport opened: re-establish what the app wants, then send what waited. */
  private opened(transport: ClientTransport): void {
    this.current = transport;
    this.farewell = undefined;
    this.attempt = 0;
    this.lastReported = undefined;
    this.everOpened = true;
    this.requests.attach((frame) => transport.send(frame));
    this.setState('open');
    this.emit('transport', { name: transport.name });
    const all = this.interests.all();
    const restoring: Restoring = {
      outstanding: new Set(all),
      subscriptions: all.filter((i) => i.kind === 'sub').length,
      buses: all.filter((i) => i.kind === 'join').length,
      pullers: all.filter((i) => i.kind === 'pull').length,
      refused: 0,
    };
    this.restoring = restoring;
    for (const interest of all) this.establish(interest);
    this.requests.flush((frame) => this.oversized(frame));
    // Emitted after the listeners of `open` ran, even when nothing needed re-establishing.
    queueMicrotask(() => this.restoredStep(restoring));
  }

  /** Reports a connection failure on `error`, once per distinct cause; with no listener, logs the first once. */
  private report(error: RtError): void {
    if (error.message === this.lastReported) return;
    this.lastReported = error.message;
    this.emitError({ error });
  }

  private emitError(event: ClientEvents['error']): void {
    if (this.listenerCount('error') > 0) {
      this.emit('error', event);
      return;
    }
    if (this.warned || this.options.logErrors === false) return;
    this.warned = true;
    console.warn(
      `rt client: ${event.error.message} (logged once; listen to the client's "error" event, or pass logErrors: false)`,
    );
  }

  /** The broker refused the credentials: ask `auth` once more; without a new token, stop. */
  private async refused(
    error: RtError,
    token: string | undefined,
    retried: boolean,
    generation: number,
  ): Promise<void> {
    if (!retried && typeof this.options.auth === 'function') {
      let fresh: string | undefined;
      try {
        fresh = await this.token();
      } catch {
        fresh = undefined;
      }
      if (generation !== this.generation) return;
      if (fresh !== undefined && fresh !== token) return this.open({ token: fresh });
    }
    if (generation !== this.generation) return;
    this.authError = error;
    this.report(error);
    this.requests.failAll(error);
    for (const interest of this.interests.all()) for (const handle of interest.handles) handle.settle(error);
    this.setState('unauthorized', error.message);
  }

  private retry(generation: number): void {
    if (generation !== this.generation || this.stateValue === 'closed') return;
    const reconnect = this.options.reconnect;
    if (reconnect === false || this.attempt >= (reconnect?.maxAttempts ?? Infinity)) {
      const last = this.lastFailure;
      const attempts = this.attempt + 1;
      this.shutdown(
        new RtError(
          last?.code ?? 'unavailable',
          `could not connect (${attempts} attempt${attempts > 1 ? 's' : ''}): ${last?.message ?? 'no transport opened'}`,
          { cause: last },
        ),
      );
      return;
    }
    const delay = backoffDelay(this.attempt++, reconnect?.initialDelayMs ?? 250, reconnect?.maxDelayMs ?? 10_000);
    this.timer = setTimeout(() => void this.open(), delay);
  }

  /** Forgets the open connection: interests need re-establishing, requests in flight resend or reject. */
  private detach(): void {
    this.current = undefined;
    clearInterval(this.degradedTimer);
    this.degradedTimer = undefined;
    this.restoring = undefined;
    for (const interest of this.interests.all()) {
      interest.confirmed = false;
      interest.resyncing = false;
      interest.cancelRetry();
    }
    // Keyed publishes and pushes go again once reconnected; other requests in flight reject.
    this.requests.detach();
  }

  private onDisconnect(transportReason: string): void {
    const reason = this.farewell ?? transportReason;
    this.farewell = undefined;
    this.detach();
    if (this.options.reconnect === false) {
      this.shutdown(new RtError('connection_lost', `the connection dropped (and reconnect is off): ${reason}`));
      return;
    }
    this.setState('reconnecting', reason);
    this.retry(this.generation);
  }

  /** Drops the connection the client no longer trusts (and tells nobody on the transport). */
  private lose(transport: ClientTransport, reason: string): void {
    if (this.current !== transport) return;
    transport.close();
    this.onDisconnect(reason);
  }

  /**
   * Is the connection alive? One `hello` answers that, sent when a request waited
   * `openTimeoutMs` (slow) or timed out, and every `openTimeoutMs` while `degraded`. A probe
   * slow too makes the state `degraded`; a probe with no answer within `requestTimeoutMs` means
   * the connection is starved or stalled: it is dropped, and the next attempt begins with the
   * next transport.
   */
  private probe(): void {
    const transport = this.current;
    if (!transport || this.probing) return;
    this.probing = true;
    const ms = this.options.requestTimeoutMs;
    this.requests.request({ t: 'hello', ref: 0 }, 'reject', ms).then(
      () => {
        this.probing = false;
      },
      (error: RtError) => {
        this.probing = false;
        // Any answer (even `unknown_op` from an older broker) proves the connection alive; so
        // do answers to other requests meanwhile (a large upload ahead of the probe is slow,
        // not dead).
        if (error.code !== 'timeout' || Date.now() - this.lastAnswerAt < ms) return;
        this.preferred = (this.preferred + 1) % this.factories.length;
        this.lose(
          transport,
          `${transport.name}: requests get no answer (not even a probe within ${ms} ms): the connection is stalled or starved`,
        );
      },
    );
  }

  /** A request waited `openTimeoutMs`: probe; a slow probe means the connection is degraded. */
  private onSlow(frame: ClientFrame): void {
    if (frame.t === 'hello') this.degrade();
    else this.probe();
  }

  /**
   * An answer came. One that took `openTimeoutMs` or longer makes the state `degraded` (not a
   * `call`'s: an action may take its time); while `degraded`, two prompt ones in a row make it
   * `open` again.
   */
  private onAnswer(frame: ClientFrame, ms: number): void {
    this.lastAnswerAt = Date.now();
    const slow = ms >= this.options.openTimeoutMs;
    if (slow && frame.t !== 'call') this.degrade();
    if (this.stateValue !== 'degraded' || frame.t === 'call') return;
    this.prompt = slow ? 0 : this.prompt + 1;
    if (this.prompt < 2) return;
    clearInterval(this.degradedTimer);
    this.degradedTimer = undefined;
    this.setState('open', 'answers come promptly again');
  }

  private degrade(): void {
    if (this.stateValue !== 'open') return;
    this.prompt = 0;
    this.setState(
      'degraded',
      `answers take over ${this.options.openTimeoutMs} ms: the connection is starved (a browser with every connection to this host in use, e.g. several tabs on SSE or long-polling) or a proxy delays it`,
    );
    clearInterval(this.degradedTimer);
    this.degradedTimer = setInterval(() => this.probe(), this.options.openTimeoutMs);
  }

  /** Reconnects now with the backoff reset (reconnect(), back in the foreground, back online). */
  private reconnectNow(reason: string): void {
    clearTimeout(this.timer);
    this.attempt = 0;
    this.lastReported = undefined;
    const transport = this.current;
    if (transport) {
      this.detach();
      transport.close();
    }
    this.setState(this.everOpened ? 'reconnecting' : 'connecting', reason);
    void this.open();
  }

  /** Disconnects on purpose (background, offline) until {@link reconnectNow}. */
  private suspend(reason: string): void {
    if (this.stateValue === 'closed' || this.stateValue === 'unauthorized' || this.stateValue === 'suspended') return;
    this.generation++;
    clearTimeout(this.timer);
    const transport = this.current;
    if (transport) {
      this.detach();
      transport.close();
    }
    this.setState('suspended', reason);
  }

  private onLifecycle(event: LifecycleEvent): void {
    switch (event) {
      case 'background':
        this.background = true;
        clearTimeout(this.graceTimer);
        if (Number.isFinite(this.options.backgroundGraceMs))
          this.graceTimer = setTimeout(() => this.suspend('in the background'), this.options.backgroundGraceMs);
        return;
      case 'offline':
        this.offline = true;
        this.suspend('offline');
        return;
      case 'foreground':
        this.background = false;
        clearTimeout(this.graceTimer);
        break;
      case 'online':
        this.offline = false;
        break;
    }
    // Back: at once, unless still offline or suspended in the background (unauthorized waits for reconnect()).
    if (this.offline || this.stateValue === 'closed' || this.stateValue === 'unauthorized') return;
    if (this.background && this.stateValue === 'suspended') return;
    if (!this.connected) this.reconnectNow(`${event}: reconnecting now`);
  }

  /** Closes for good: every request, and every `ready` not yet settled, rejects with `error`. */
  private shutdown(error: RtError): void {
    this.generation++;
    clearTimeout(this.timer);
    clearTimeout(this.graceTimer);
    clearInterval(this.degradedTimer);
    this.stopLifecycle?.();
    const transport = this.current;
    this.current = undefined;
    this.restoring = undefined;
    this.closeError = error;
    transport?.close();
    this.requests.failAll(error);
    for (const interest of this.interests.all()) {
      interest.cancelRetry();
      for (const handle of interest.handles) handle.settle(error);
    }
    this.setState('closed', error.message);
  }

  // ---- interests: subscriptions, bus joins, pullers -----------------------------------------

  /**
   * Asks the broker for `interest`; on its answer, settles the handles. A refusal for good
   * (`forbidden`, `invalid_topic`…) ends them; one the broker could not take now
   * (`unavailable`…) is tried again with backoff until it is accepted.
   */
  private establish(interest: Interest): void {
    interest.cancelRetry();
    this.requests.request(interest.establish(), 'reject').then(
      (answer) => {
        if (!this.interests.holds(interest)) return;
        interest.accept(answer);
        this.settled(interest, false);
      },
      (error: RtError) => {
        // Offline: it is established again on the next open.
        if (isOffline(error) || !this.interests.holds(interest)) return;
        if (TRANSIENT.has(error.code)) {
          const reconnect = this.options.reconnect;
          const retryInMs = backoffDelay(
            interest.attempt++,
            reconnect ? (reconnect.initialDelayMs ?? 250) : 250,
            reconnect ? (reconnect.maxDelayMs ?? 10_000) : 10_000,
          );
          const transport = this.current;
          interest.retry = setTimeout(() => {
            interest.retry = undefined;
            if (this.current === transport && this.interests.holds(interest)) this.establish(interest);
          }, retryInMs);
          this.emitError({
            error: new RtError(
              error.code,
              `"${interest.kind}" of "${interest.topic}" not established yet: ${error.message}; retrying in ${retryInMs} ms`,
              { cause: error },
            ),
            topic: interest.topic,
            retryInMs,
          });
          return;
        }
        this.interests.drop(interest);
        for (const handle of interest.handles) handle.refuse(error);
        this.emitError({ error, topic: interest.topic });
        this.settled(interest, true);
      },
    );
  }

  /** `interest` was confirmed or refused: one step closer to `restored`. */
  private settled(interest: Interest, refused: boolean): void {
    const restoring = this.restoring;
    if (!restoring?.outstanding.delete(interest)) return;
    if (refused) restoring.refused++;
    this.restoredStep(restoring);
  }

  private restoredStep(restoring: Restoring): void {
    if (this.restoring !== restoring || restoring.outstanding.size > 0) return;
    this.restoring = undefined;
    const { subscriptions, buses, pullers, refused } = restoring;
    this.emit('restored', { subscriptions, buses, pullers, refused });
  }

  /** Removes `handle` from its interest; when it was the last, tears the interest down on the broker. */
  private async release(kind: InterestKind, topic: string, handle: Handle): Promise<void> {
    const interest = this.interests.release(kind, topic, handle);
    if (!interest) return;
    this.settled(interest, false);
    if (this.requests.connected) await this.requests.request(interest.teardown(), 'reject').catch(ignoreOffline);
  }

  // ---- frames from the broker ---------------------------------------------------------------

  private onFrame(frame: ServerFrame): void {
    switch (frame.t) {
      case 'ok':
      case 'err': {
        if (this.requests.answer(frame) || frame.ref !== undefined) return;
        this.emit('error', {
          error: new RtError(
            frame.t === 'err' ? frame.code : 'internal',
            frame.t === 'err' ? frame.message : 'unexpected answer',
          ),
        });
        return;
      }
      case 'msg':
        this.onMessage(frame);
        return;
      case 'bus':
        for (const bus of this.interests.join(frame.topic)?.handles ?? []) bus.deliver(frame.data);
        return;
      case 'job':
        this.onJob(frame);
        return;
      case 'presence':
        for (const p of this.interests.presence(frame.topic)?.handles ?? []) p.event(frame);
        return;
      case 'gap':
        this.onGap(frame);
        return;
      case 'bye':
        // With `reconnect`, the broker closes the connection next; the reconnect that follows
        // asks `auth` again, so an expired token (`token_expired`) is replaced by a fresh one.
        if (!frame.reconnect) this.shutdown(new RtError(byeCode(frame.code), frame.message));
        else this.farewell = `${frame.code}: ${frame.message}`;
        return;
    }
  }

  private onMessage(frame: MsgFrame): void {
    let data = frame.data;
    if (this.deltas !== undefined || frame.base !== undefined) {
      const whole = this.decoder().payload(frame);
      if (whole === undefined) {
        this.resync(frame.topic);
        return;
      }
      data = whole;
    }
    for (const topic of ancestry(frame.topic)) {
      const interest = this.interests.sub(topic);
      if (!interest || interest.resyncing) continue;
      if (frame.off !== undefined) {
        // Already seen (a recovery replay that overlaps live delivery): drop the duplicate.
        if (interest.off !== undefined && frame.off <= interest.off) continue;
        interest.off = frame.off;
      }
      const meta: MessageMeta =
        frame.off === undefined ? { topic: frame.topic } : { topic: frame.topic, off: frame.off };
      if (frame.skipped !== undefined) meta.skipped = frame.skipped;
      if (frame.retained === true) meta.retained = true;
      for (const sub of interest.handles) sub.deliver(data, meta);
    }
  }

  private decoder(): DeltaDecoder {
    return (this.deltas ??= new DeltaDecoder((topic) =>
      ancestry(topic).some((t) => this.interests.sub(t)?.pace?.delta === true),
    ));
  }

  /**
   * A delta this client cannot rebuild (it holds another base): every subscription covering
   * `topic` takes nothing until it is taken again from its last position (unsubscribed, then
   * subscribed with recovery: the broker replays what it missed, whole, or says `gap`).
   */
  private resync(topic: string): void {
    for (const t of ancestry(topic)) {
      const interest = this.interests.sub(t);
      if (!interest || interest.resyncing) continue;
      interest.resyncing = true;
      this.requests.request(interest.teardown(), 'reject').then(
        () => {
          interest.resyncing = false;
          if (this.interests.holds(interest)) this.establish(interest);
        },
        // Offline: the next open establishes it again, with its position.
        () => (interest.resyncing = false),
      );
    }
  }

  private onGap(frame: GapFrame): void {
    const event = { topic: frame.topic, reason: frame.reason };
    if (frame.bus) {
      for (const bus of this.interests.join(frame.topic)?.handles ?? []) bus.gap(event);
      return;
    }
    const interest = this.interests.sub(frame.topic);
    if (!interest) return;
    if (frame.ep !== undefined && frame.ep !== interest.ep) {
      interest.ep = frame.ep;
      interest.off = undefined;
    }
    // An overflow gap's `off` is the last message dropped: continue after it, so that a later
    // recovery does not bring back what the app was told is gone.
    if (frame.reason === 'overflow' && frame.off !== undefined && frame.ep === interest.ep)
      interest.off = Math.max(interest.off ?? 0, frame.off);
    for (const sub of interest.handles) sub.gap(event);
  }

  private onJob(frame: JobFrame): void {
    const answer = (t: 'ack' | 'nack'): void => {
      // The job may have been requeued meanwhile (the connection dropped): nothing to do then.
      this.requests.request({ t, ref: 0, id: frame.id }, 'reject').catch(() => undefined);
    };
    const [puller] = this.interests.pull(frame.topic)?.handles ?? [];
    if (!puller?.isActive) {
      answer('nack');
      return;
    }
    const meta: JobMeta =
      frame.attempt === undefined
        ? { id: frame.id, topic: frame.topic }
        : { id: frame.id, topic: frame.topic, attempt: frame.attempt };
    let result: unknown;
    try {
      result = puller.run(frame.data, meta);
    } catch {
      answer('nack');
      return;
    }
    Promise.resolve(result).then(
      () => answer('ack'),
      () => answer('nack'),
    );
  }

  // ---- TopicHost: what topic handles call -------------------------------------------------

  /**
   * Adds a handle to its interest: a new interest is established now (when open), a shared one
   * settles the handle when confirmed. Closed or unauthorized, nothing establishes it (until
   * `reconnect()`, which does): its `ready` rejects at once with why, as calls do.
   */
  private want(interest: Interest, created: boolean, handle: Handle): void {
    const refusal = this.refusal();
    if (refusal) {
      handle.settle(refusal);
      return;
    }
    if (!created) {
      if (interest.confirmed) handle.settle();
      return;
    }
    const max = this.limits?.maxSubscriptions;
    if (max !== undefined && this.interests.size > max) {
      // The broker would refuse it: say so here, without a round trip.
      this.interests.drop(interest);
      handle.refuse(
        new RtError(
          'too_many_subscriptions',
          `a connection may hold ${max} subscriptions, joins and pullers (the broker's maxSubscriptions)`,
        ),
      );
      return;
    }
    if (this.requests.connected) this.establish(interest);
  }

  /** @internal */
  subscribe<T>(topic: string, handler: MessageHandler<T> | undefined, pace?: Pace): Subscription<T> {
    const sub = new Subscription<T>(topic, handler, this);
    const { interest, created } = this.interests.addSub(topic, sub);
    // One pace per topic: the first subscription's.
    if (created && pace !== undefined) interest.pace = pace;
    // Payloads are kept from the first message on, the base of the first delta.
    if (pace?.delta) this.decoder();
    this.want(interest, created, sub);
    return sub;
  }

  /** @internal */
  unsubscribe(sub: SubscriptionSink & { readonly topic: string }): Promise<void> {
    const released = this.release('sub', sub.topic, sub);
    this.deltas?.prune((topic) => ancestry(topic).some((t) => this.interests.sub(t) !== undefined));
    return released;
  }

  /** @internal */
  async publish(topic: string, data: Payload, options?: PublishOptions): Promise<void> {
    const frame: PubFrame = { t: 'pub', ref: 0, topic, data, key: this.nextKey() };
    if (options?.retain) frame.retain = true;
    await this.send(frame);
  }

  /** @internal */
  async push(topic: string, data: Payload): Promise<void> {
    await this.send({ t: 'push', ref: 0, topic, data, key: this.nextKey() });
  }

  private nextKey(): string {
    return `${this.keyPrefix}.${(this.keys++).toString(36)}`;
  }

  /** @internal */
  pull<T>(topic: string, handler: JobHandler<T>, options: PullOptions): Puller<T> {
    if (this.interests.pull(topic))
      throw new RtError('bad_frame', `this client already pulls "${topic}": stop() that puller first`);
    const prefetch = options.prefetch ?? 1;
    if (!Number.isInteger(prefetch) || prefetch < 1)
      throw new RtError('bad_frame', 'prefetch must be a positive integer');
    const { ackTimeoutMs } = options;
    if (ackTimeoutMs !== undefined && (!Number.isInteger(ackTimeoutMs) || ackTimeoutMs < 1))
      throw new RtError('bad_frame', 'ackTimeoutMs must be a positive integer');
    const puller = new Puller<T>(topic, handler, prefetch, this, ackTimeoutMs);
    const { interest, created } = this.interests.addPull(topic, puller);
    this.want(interest, created, puller);
    return puller;
  }

  /** @internal */
  stopPulling(puller: PullerSink & { readonly topic: string }): Promise<void> {
    return this.release('pull', puller.topic, puller);
  }

  /** @internal */
  bus<T>(topic: string): Bus<T> {
    const bus = new Bus<T>(topic, this);
    const { interest, created } = this.interests.addJoin(topic, bus);
    this.want(interest, created, bus);
    return bus;
  }

  /** @internal */
  async busSend(topic: string, data: Payload): Promise<void> {
    await this.send({ t: 'bus', ref: 0, topic, data });
  }

  /** @internal */
  busLeave(bus: BusSink & { readonly topic: string }): Promise<void> {
    return this.release('join', bus.topic, bus);
  }

  /** @internal Presence: this client's member slot is its random id, so tabs sharing a connection are members each. */
  presence<I extends JsonObject>(topic: string, options: PresenceOptions<I>): Presence<I> {
    const info = options.info ?? (this.options.presence?.info as I | undefined);
    const presence = new Presence<I>(topic, info, options.join !== false, this);
    const { interest, created } = this.interests.addPresence(topic, presence, this.keyPrefix);
    // A handle added to a presence already asked for asks again: it gets the members (and a join, if it was only watched) with the answer.
    if (created || this.refusal()) this.want(interest, created, presence);
    else if (this.requests.connected) this.establish(interest);
    return presence;
  }

  /** @internal */
  presenceLeave(presence: PresenceSink & { readonly topic: string }): Promise<void> {
    return this.release('presence', presence.topic, presence);
  }
}

/** The limits in a `hello` answer's `data`, if it has them. */
function advertisedLimits(data: unknown): AdvertisedLimits | undefined {
  if (typeof data !== 'object' || data === null || !('limits' in data)) return undefined;
  const limits: unknown = data.limits;
  if (typeof limits !== 'object' || limits === null || !('maxPayloadBytes' in limits)) return undefined;
  const max = limits.maxPayloadBytes;
  if (typeof max !== 'number' || !(max > 0)) return undefined;
  const number = (key: keyof AdvertisedLimits): number => {
    const value: unknown = (limits as Record<string, unknown>)[key];
    return typeof value === 'number' && value > 0 ? value : Infinity;
  };
  return {
    maxPayloadBytes: max,
    maxSubscriptions: number('maxSubscriptions'),
    maxTopicLength: number('maxTopicLength'),
    maxTopicDepth: number('maxTopicDepth'),
    pushQueueSize: number('pushQueueSize'),
  };
}

/** The error code a `bye` closes the client with. */
function byeCode(code: ErrorCode | 'restart' | 'token_expired'): ErrorCode {
  return code === 'restart' ? 'shutting_down' : code === 'token_expired' ? 'unauthorized' : code;
}

/** True for the errors that mean "the connection went", not "the broker refused". */
function isOffline(error: RtError): boolean {
  return error.code === 'connection_lost' || error.code === 'closed';
}

function ignoreOffline(error: RtError): void {
  const benign: ErrorCode[] = ['connection_lost', 'closed'];
  if (!benign.includes(error.code)) throw error;
}

/** How long past `openTimeoutMs` the client waits for a transport that did not time out by itself, in ms. */
const OPEN_GRACE_MS = 1000;

/** `promise`, or a rejection with `message` after `ms`: no transport may hang a connection attempt. */
function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RtError('timeout', message)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** 16 random base-36 characters (crypto where the runtime has it: browsers, Node, Deno). */
function randomId(): string {
  const crypto = (globalThis as { crypto?: { getRandomValues?(a: Uint32Array): Uint32Array } }).crypto;
  const words = new Uint32Array(4);
  if (crypto?.getRandomValues) crypto.getRandomValues(words);
  else for (let i = 0; i < words.length; i++) words[i] = Math.floor(Math.random() * 2 ** 32);
  return Array.from(words, (w) => w.toString(36).padStart(7, '0').slice(-4)).join('');
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
