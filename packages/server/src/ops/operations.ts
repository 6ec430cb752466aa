/**
 * The operations core: every door (socket.io and SDK SSE frames, plain SSE, raw WebSocket and
 * HTTP endpoints, HTTP publish, the Mercure hub, `broker.publish`) reaches the broker through
 * these methods, and each rule lives here once: authorization (the policy, with the topic
 * hierarchy), payload and topic limits, idempotency scoped to the caller, private messages
 * kept from rt callers live and on replay, bounded replays, and the counters of `stats()`.
 */
import { OpsCounters } from '../metrics/counters.js';
import {
  type ClientOp,
  type Pace,
  type Payload,
  type PresenceSnapshot,
  RtError,
  checkPayload,
  paceFromQuery,
  isBinary,
  topicProblem,
  utf8Length,
} from '@rt/protocol';
import type { BusMessage, Engine, Job, PullerHandle, Recovery, StoredMessage } from '../engines/engine.js';
import type { PresenceEvent } from '../engines/presence.js';
import { Dedupe } from '../dedupe.js';
import { DeltaBook } from '../delta.js';
import type { ActionHandler } from '../broker-options.js';
import type { Limits } from '../options.js';
import { Outgoing, busOutgoing, messageOutgoing } from '../outgoing.js';
import { type Policy, isThenable } from '../policy/policy.js';
import type { Session } from '../session.js';
import type { TopicIndex } from '../topic-index.js';
import { type PresenceRequest, Presences } from './presence.js';
import { streamReplay } from './replay.js';
import { RetainPatterns, missedRetained, retainedOf, retainedOutgoing } from './retain.js';
import type { Caller, Position } from './types.js';

/** A payload as a door hands it over; `dataText` is its JSON text when the door already has it. */
export interface Data {
  data: Payload;
  dataText?: string;
}

/** What a puller asks for (see `Operations.pull`). */
export interface PullOptions {
  /** Jobs held unacknowledged at a time (default 1, at most `maxPrefetch`). */
  prefetch?: number;
  /** How long a job may stay unacknowledged, in ms (default `ackTimeoutMs`, at most `maxAckTimeoutMs`). */
  ackTimeoutMs?: number;
}

/** Options of a publish. */
export interface PublishOptions {
  /**
   * Idempotency key: a publish repeated with the same key by the same caller (see
   * {@link idempotencyScope}), operation and topic within the dedupe window is carried out once.
   */
  key?: string;
  /** Attributes a protocol bridge attaches (Mercure: private, id, type); private messages never reach rt callers. */
  meta?: StoredMessage['meta'];
  /** Keep it as the topic's latest value (`null` clears it); see `ops/retain.ts`. Topics matching the broker's `retain` patterns always do. */
  retain?: boolean;
}

/** What a subscription asks for. */
export interface SubscribeRequest {
  /** One topic, or several merged into one stream by offset (plain SSE). */
  topics: readonly string[];
  /** Replay what the topics received after this position (recovery); without it, go on from now. */
  from?: Position;
  /** How the subscriber takes the topics' live messages (default: every one). */
  pace?: Pace;
  /**
   * Called once the position is known and before the replay is queued (plain SSE writes its
   * `ready` event there). `retained`: how many retained values come first (see `ops/retain.ts`).
   */
  before?(position: Position, retained: number): void;
  /** Called after the replay is queued and before the live messages held meanwhile (the SDK's `ok`). */
  after?(position: Position): void;
}

/**
 * The pace asked for in a plain SSE or raw `/sub` URL (`mode`, `key`, `maxRate`, `maxQueue`),
 * or `undefined`; throws `bad_frame` when invalid.
 */
export function queryPace(url: URL): Pace | undefined {
  const pace = paceFromQuery(url.searchParams);
  if (typeof pace === 'string') throw new RtError('bad_frame', pace);
  return pace;
}

/** Counters of the operations, for `broker.stats()`. */
export interface OperationCounts {
  /** Messages left out of replays because the caller could not take them within the outbound bound. */
  replayDropped: number;
}

/** Everything the operations need from the broker. */
export interface OperationsDeps {
  engine: Engine;
  index: TopicIndex;
  policy: Policy;
  limits: Limits;
  actions: ReadonlyMap<string, ActionHandler>;
  /** Resolves once the engine started. */
  ready: Promise<void>;
  /** Counters for metrics (refused operations, settled jobs). */
  counters?: OpsCounters;
  /** Topics that keep their last message without asking (see {@link RetainPatterns}). */
  retain?: readonly string[];
}

/**
 * The idempotency scope of a caller: its identity's subject (`sub`, else `id`) when
 * authenticated; the application, the Mercure hub and open HTTP publishing each have their
 * own. Anonymous callers share one scope: they hold the same rights and cannot be told apart
 * across reconnects (the SDK's keys start with a random id of the client, so they never meet),
 * and a resend after a reconnect must still be recognised.
 */
function idempotencyScope(caller: Caller): string {
  if (caller.trusted) return caller.trusted;
  const identity = caller.identity;
  if (identity !== null) {
    const subject = identity.sub ?? identity.id;
    if (typeof subject === 'string' || typeof subject === 'number') return `sub:${subject}`;
    return `identity:${JSON.stringify(identity)}`;
  }
  return 'anonymous';
}

/** An operation checked and started, see `Operations.gateNow`. */
interface Gated<T> {
  result: Promise<T>;
  started?: Promise<unknown>;
}

function lost(): RtError {
  return new RtError('connection_lost', 'the connection closed');
}

/** Starts an operation's body: a check inside it that throws becomes its rejection. */
function start<T>(body: () => Promise<T>): Promise<T> {
  try {
    return body();
  } catch (e) {
    return Promise.reject(e);
  }
}

/** An action's failure as callers get it: an {@link RtError} as thrown, anything else as `action_failed`. */
function actionFailed(e: unknown): RtError {
  if (e instanceof RtError) return e;
  return new RtError('action_failed', e instanceof Error ? e.message : String(e));
}

/** The typed in-process operations every door calls. */
export class Operations {
  private readonly engine: Engine;
  private readonly index: TopicIndex;
  private readonly policy: Policy;
  private readonly limits: Limits;
  private readonly actions: ReadonlyMap<string, ActionHandler>;
  private readonly ready: Promise<void>;
  private started = false;
  /** Publishes and pushes by scoped idempotency key, so a resend is not carried out twice. */
  private readonly dedupe: Dedupe<{ off?: number }>;
  private readonly topicLimits: { maxLength: number; maxDepth: number };
  readonly counts: OperationCounts = { replayDropped: 0 };
  private readonly counters: OpsCounters;
  private readonly presences: Presences;
  private readonly retain: RetainPatterns;
  /** Delta subscriptions on this node (see `delta.ts`). */
  private readonly deltas = new DeltaBook();

  constructor(deps: OperationsDeps) {
    this.retain = new RetainPatterns(deps.retain);
    this.engine = deps.engine;
    this.index = deps.index;
    this.policy = deps.policy;
    this.limits = deps.limits;
    this.actions = deps.actions;
    this.counters = deps.counters ?? new OpsCounters();
    this.ready = deps.ready.then(() => {
      this.started = true;
    });
    this.ready.catch(() => undefined);
    this.dedupe = new Dedupe(this.limits.dedupeTtlMs, this.limits.dedupeSize);
    this.topicLimits = { maxLength: this.limits.maxTopicLength, maxDepth: this.limits.maxTopicDepth };
    this.presences = new Presences(() => this.engine.presence, this.limits);
  }

  /** The refusal of `op` on `topic`, counted. */
  private forbidden(op: ClientOp, topic: string): RtError {
    this.counters.refusedOperation();
    return new RtError('forbidden', `not allowed to ${op} on "${topic}"`);
  }

  /** Publishes and pushes answered from memory instead of being carried out again. */
  get deduplicated(): number {
    return this.dedupe.duplicates;
  }

  /** Idempotency keys remembered now. */
  get idempotencyKeys(): number {
    return this.dedupe.size;
  }

  // ---- the gate: ordering, readiness, limits and authorization, for every operation ----

  /**
   * Runs `run` once `caller` may do `op` on `topic`: the topic passes the limits and the
   * policy allows it (trusted callers skip the policy). Operations of one session start in
   * the order they were asked for: while one waits for an async authorization (or the engine
   * to start), later ones queue behind it; the hot path (synchronous policy) never waits.
   */
  private gate<T>(caller: Caller, op: ClientOp, topic: string | undefined, run: () => Promise<T>): Promise<T> {
    return this.gateAll(caller, op, topic === undefined ? [] : [topic], run);
  }

  /** {@link gate} for an operation on several topics at once: each must pass. */
  private gateAll<T>(caller: Caller, op: ClientOp, topics: readonly string[], body: () => Promise<T>): Promise<T> {
    const session = caller.session;
    const backlog = session?.backlog;
    if (backlog === undefined) {
      const gated = this.gateNow(caller, op, topics, body);
      if (gated.started && session) this.queue(session, gated.started);
      return gated.result;
    }
    let inner!: Gated<T>;
    const started = backlog.then(() => {
      inner = this.gateNow(caller, op, topics, body);
      return inner.started;
    });
    this.queue(session!, started);
    return started.then(() => inner.result);
  }

  /**
   * Checks and starts an operation now. `started` is set when it has to wait (async
   * authorization, engine not started yet): it resolves once the operation started, never rejects.
   */
  private gateNow<T>(caller: Caller, op: ClientOp, topics: readonly string[], body: () => Promise<T>): Gated<T> {
    const session = caller.session;
    if (session?.closed) return { result: Promise.reject(lost()) };
    if (!this.started) {
      let inner: Gated<T> = { result: Promise.reject(new RtError('unavailable', 'the engine did not start')) };
      const started = this.ready.then(
        () => {
          inner = this.gateNow(caller, op, topics, body);
          return inner.started;
        },
        () => undefined,
      );
      return { result: started.then(() => inner.result), started };
    }
    // The hot path (a synchronous policy) allocates no list of waits and starts the operation now.
    let waits: Promise<boolean>[] | undefined;
    for (const topic of topics) {
      const problem = topicProblem(topic, this.topicLimits);
      if (problem !== null) return { result: Promise.reject(new RtError('invalid_topic', problem)) };
      const verdict = caller.trusted ? true : this.policy.allows(caller.identity, op, topic, session);
      if (verdict === false) return { result: Promise.reject(this.forbidden(op, topic)) };
      if (verdict !== true)
        (waits ??= []).push(verdict.then((allowed) => (allowed ? true : Promise.reject(this.forbidden(op, topic)))));
    }
    if (waits === undefined) return { result: start(body) };
    let result!: Promise<T>;
    const started = Promise.all(waits).then(
      () => {
        result = session?.closed ? Promise.reject(lost()) : start(body);
      },
      (e: unknown) => {
        result = Promise.reject(e);
      },
    );
    return { result: started.then(() => result), started };
  }

  /** Makes later operations of `session` wait for `step` (until it started, not until it is done). */
  private queue(session: Session, step: Promise<unknown>): void {
    const marker: Promise<void> = step.then(
      () => undefined,
      () => undefined,
    );
    session.backlog = marker;
    void marker.then(() => {
      if (session.backlog === marker) session.backlog = undefined;
    });
  }

  /** Checks a payload against `maxPayloadBytes`; cheap when the door already has its JSON text. */
  private payload(input: Data): Data {
    const { data, dataText } = input;
    if (dataText === undefined || isBinary(data)) {
      const checked = checkPayload(data, this.limits.maxPayloadBytes);
      if (!checked.ok) throw new RtError(checked.code, checked.message);
      return checked.dataText === undefined
        ? { data: checked.data }
        : { data: checked.data, dataText: checked.dataText };
    }
    const max = this.limits.maxPayloadBytes;
    // A UTF-8 byte is at most 3 per UTF-16 unit: short texts need no count.
    if (dataText.length * 3 > max && utf8Length(dataText) > max)
      throw new RtError('payload_too_large', `payload is ${utf8Length(dataText)} bytes, more than ${max}`);
    return input;
  }

  /** The key an idempotent request is remembered under: the caller's scope, the operation, the topic and the key. */
  private scopedKey(caller: Caller, op: 'pub' | 'push', topic: string, key: string): string {
    return `${idempotencyScope(caller)}\u0000${op}\u0000${topic}\u0000${key}`;
  }

  /**
   * Runs `attempt` once per scoped key. Not `async` on purpose: the answer of a resend keeps
   * its place among a connection's other answers (a resent publish's must not come after a later push's).
   */
  private once(scoped: string | undefined, attempt: (engineKey: string | undefined) => Promise<{ off?: number }>) {
    if (scoped === undefined) return attempt(undefined);
    // An engine that remembers keys across nodes gets the scoped key too (a resend landing elsewhere).
    return this.dedupe.run(scoped, () => attempt(this.engine.dedupes ? scoped : undefined));
  }

  /**
   * Checks that `caller` may do `op` on `topic` (limits and policy) without doing it: for
   * doors that refuse at their handshake what every later operation would be refused (a raw
   * `/pub` socket). The operations themselves check again.
   */
  check(caller: Caller, op: ClientOp, topic: string): Promise<void> {
    return this.gate(caller, op, topic, () => Promise.resolve());
  }

  // ---- pub/sub ----

  /** Publishes `data` on `topic`: subscribers of it and of its ancestors receive it. Resolves with its offset. */
  publish(caller: Caller, topic: string, input: Data, options: PublishOptions = {}): Promise<{ off: number }> {
    return this.gate(caller, 'pub', topic, () => {
      const { data, dataText } = this.payload(input);
      const key = options.key;
      if (key !== undefined && (typeof key !== 'string' || key.length === 0 || key.length > 128))
        throw new RtError('bad_frame', 'an idempotency key must be 1 to 128 characters');
      const scoped = key === undefined ? undefined : this.scopedKey(caller, 'pub', topic, key);
      // Private messages are never retained: a retained value goes to every rt subscriber.
      const retain = (options.retain === true || this.retain.matches(topic)) && !options.meta?.private;
      return this.once(scoped, (engineKey) =>
        this.engine
          .publish(topic, data, { dataText, key: engineKey, meta: options.meta, retain })
          .then((m) => ({ off: m.off })),
      ).then((r) => ({ off: r.off ?? 0 }));
    });
  }

  /**
   * Subscribes `caller.session` to `req.topics` (each authorized), with recovery when
   * `req.from` is given. Live messages of the topics are held from before the engine listens
   * until the replay is queued; replay and live merge by offset, with no hole and no
   * duplicate. The replay leaves out private messages and is written in chunks within the
   * outbound bound (past it, the slow-consumer policy applies). A topic the session already
   * holds is not replayed again: the answer is the current position.
   */
  subscribe(caller: Caller, req: SubscribeRequest): Promise<Position> {
    const session = this.needSession(caller);
    const topics = [...new Set(req.topics)];
    if (topics.length === 0) return Promise.reject(new RtError('bad_frame', 'no topic to subscribe to'));
    return this.gateAll(caller, 'sub', topics, () => this.doSubscribe(session, topics, req));
  }

  private async doSubscribe(session: Session, topics: string[], req: SubscribeRequest): Promise<Position> {
    const fresh = topics.filter((t) => !session.subscriptions.has(t));
    const recovering = req.from !== undefined && fresh.length > 0;
    // Held from before the index sees the session: a live message through an ancestor's
    // channel must not overtake the replay (or a new subscription's retained values).
    let holding = fresh.length > 0;
    if (holding) session.hold();
    try {
      const added: string[] = [];
      let values: StoredMessage[] = [];
      let started: Position | undefined;
      try {
        for (const topic of fresh) {
          this.checkRoom(session);
          session.subscriptions.add(topic);
          this.index.subscribe(session, topic);
          added.push(topic);
        }
        // A subscription asked again with another pace takes the new one.
        for (const topic of topics) {
          session.setPace(topic, req.pace);
          this.deltas.want(session, topic, req.pace?.delta === true);
        }
        // Every new subscription waits until the engine delivers the topic (one racing the first one too).
        await Promise.all(added.map((t) => this.engine.listen(t)));
        // Read after listening: a value published meanwhile is read, or held as a live message.
        if (!recovering && holding && !session.closed) values = await retainedOf(this.engine, fresh);
        if (!recovering) {
          started = await this.engine.position();
          // The client takes the answer's position as had: every message up to it must reach the
          // session first. On Redis, one published just before the position was read may still be
          // on its way to this node (on another connection than the answer's).
          await this.engine.caughtUp?.();
        }
      } catch (e) {
        for (const topic of added) {
          session.setPace(topic, undefined);
          this.deltas.want(session, topic, false);
          session.subscriptions.delete(topic);
          if (this.index.unsubscribe(session, topic)) void Promise.resolve(this.engine.unlisten(topic)).catch(() => {});
        }
        throw e;
      }
      if (!recovering || session.closed) {
        const position = started ?? (await this.engine.position());
        req.before?.(position, values.length);
        // The retained values and the live messages held meanwhile go out before the answer, as
        // live messages did before it without them.
        session.retain(values.map(retainedOutgoing));
        if (holding) session.release();
        holding = false;
        // A paced subscription's values must not wait past the answer (the client would take them for old ones).
        if (values.length > 0) session.settlePaces();
        req.after?.(position);
        return position;
      }
      const from = req.from!;
      const recoveries = await Promise.all(fresh.map((t) => this.engine.recover(t, from.ep, from.off)));
      const position = latest(recoveries);
      const replay = merge(recoveries);
      const gap = recoveries.some((r) => r.gap !== undefined);
      const missed = await missedRetained(this.engine, fresh, from, position, replay, gap);
      req.before?.(position, missed.length);
      for (let i = 0; i < fresh.length; i++) {
        const r = recoveries[i]!;
        if (r.gap) session.sendNow(new Outgoing({ t: 'gap', topic: fresh[i]!, reason: r.gap, ep: r.ep, off: r.off }));
      }
      const all = missed.length === 0 ? replay : [...missed, ...replay].sort((a, b) => a.off - b.off);
      const dropped = await streamReplay(session, all, fresh[0]!, position.off, new Set(missed));
      this.counts.replayDropped += dropped;
      session.settlePaces();
      for (const topic of fresh) session.floor(topic, position.off);
      req.after?.(position);
      return position;
    } finally {
      if (holding) session.release();
    }
  }

  /** Ends a subscription. */
  unsubscribe(caller: Caller, topic: string): Promise<void> {
    const session = this.needSession(caller);
    return this.gate(caller, 'unsub', topic, async () => {
      session.setPace(topic, undefined);
      this.deltas.want(session, topic, false);
      if (session.subscriptions.delete(topic) && this.index.unsubscribe(session, topic))
        await this.engine.unlisten(topic);
    });
  }

  /**
   * Every message delivered to this node from now on, whatever its topic, reaches the taps (the
   * Mercure hub, whose selectors and alternate topics do not follow rt's hierarchy). For
   * trusted bridges only; undo with {@link unwatchAll}.
   */
  watchAll(caller: Caller): Promise<void> {
    if (!caller.trusted) return Promise.reject(new RtError('forbidden', 'only a bridge may watch every topic'));
    return this.engine.listen('');
  }

  /** Ends a {@link watchAll}. */
  unwatchAll(): void {
    void Promise.resolve(this.engine.unlisten('')).catch(() => undefined);
  }

  /**
   * Every topic's history after `from`, in publish order, private messages included: for a
   * trusted bridge that filters them itself per subscriber (the Mercure hub, by its tokens).
   * Bounded like every history (`historySize`, `historyTtlMs`).
   */
  historyOfAll(caller: Caller, from: Position): Promise<Recovery> {
    if (!caller.trusted) return Promise.reject(new RtError('forbidden', 'only a bridge may read every topic'));
    return this.gate(caller, 'sub', undefined, () => this.engine.recover('', from.ep, from.off));
  }

  /** The current position (for a subscriptions listing and the like). */
  position(): Promise<Position> {
    return this.engine.position();
  }

  /** This node's epoch (changes when history is lost). */
  epoch(): string {
    return this.engine.epoch();
  }

  // ---- bus ----

  /** Joins the bus of exactly `topic`. */
  join(caller: Caller, topic: string): Promise<void> {
    const session = this.needSession(caller);
    return this.gate(caller, 'join', topic, async () => {
      if (session.joins.has(topic)) return;
      this.checkRoom(session);
      session.joins.add(topic);
      this.index.join(session, topic);
      try {
        // Every join waits until the engine delivers the topic's bus (a join racing the first one too).
        await this.engine.listenBus(topic);
      } catch (e) {
        session.joins.delete(topic);
        this.index.leave(session, topic);
        throw e;
      }
    });
  }

  /** Leaves the bus of `topic`. */
  leave(caller: Caller, topic: string): Promise<void> {
    const session = this.needSession(caller);
    return this.gate(caller, 'leave', topic, async () => {
      if (session.joins.delete(topic) && this.index.leave(session, topic)) await this.engine.unlistenBus(topic);
    });
  }

  /** Sends a bus message to every other peer of exactly `topic` (`from`: the sender's id, not echoed back to it). */
  sendBus(caller: Caller, topic: string, input: Data): Promise<void> {
    return this.gate(caller, 'bus', topic, () => {
      const { data, dataText } = this.payload(input);
      const message: BusMessage = { topic, data, from: caller.session?.id ?? '' };
      if (dataText !== undefined) message.dataText = dataText;
      return this.engine.sendBus(message);
    });
  }

  // ---- push/pull ----

  /** Queues a job on `topic` for one puller; with `key`, carried out once per caller, topic and key. */
  push(caller: Caller, topic: string, input: Data, options: { key?: string } = {}): Promise<void> {
    return this.gate(caller, 'push', topic, () => {
      const { data, dataText } = this.payload(input);
      const key = options.key;
      const scoped = key === undefined ? undefined : this.scopedKey(caller, 'push', topic, key);
      return this.once(scoped, (engineKey) => this.engine.push(topic, data, dataText, engineKey).then(() => ({}))).then(
        () => undefined,
      );
    });
  }

  /**
   * Makes `caller.session` a puller of `topic`, holding at most `prefetch` unacknowledged jobs
   * (cut to `maxPrefetch`), each for at most `ackTimeoutMs` (default and cap: the limits of
   * the same names) before it goes back to another puller. Jobs are delivered as `job`
   * frames. `accepted` runs once the puller is accepted and before any job is handed to it
   * (the SDK's `ok` goes out ahead of the first job).
   */
  pull(caller: Caller, topic: string, options: PullOptions = {}, accepted?: () => void): Promise<void> {
    const session = this.needSession(caller);
    return this.gate(caller, 'pull', topic, async () => {
      if (session.pulls.has(topic)) {
        accepted?.();
        return;
      }
      this.checkRoom(session);
      const { maxPrefetch, ackTimeoutMs, maxAckTimeoutMs } = this.limits;
      const prefetch = Math.max(1, Math.min(options.prefetch ?? 1, maxPrefetch));
      const deadline = Math.max(1, Math.min(options.ackTimeoutMs ?? ackTimeoutMs, maxAckTimeoutMs));
      const puller = pullerOf(session, topic, prefetch, deadline);
      session.pulls.set(topic, puller);
      accepted?.();
      this.engine.addPuller(puller);
    });
  }

  /** Stops pulling `topic`; the jobs it held go to other pullers. */
  unpull(caller: Caller, topic: string): Promise<void> {
    const session = this.needSession(caller);
    return this.gate(caller, 'unpull', topic, async () => {
      const puller = session.pulls.get(topic);
      if (!puller) return;
      session.pulls.delete(topic);
      this.engine.removePuller(puller);
    });
  }

  /** Marks a job this session holds done (`ack`) or gives it back (`nack`). */
  settle(caller: Caller, op: 'ack' | 'nack', id: string): Promise<void> {
    const session = this.needSession(caller);
    return this.gate(caller, op, undefined, async () => {
      for (const puller of session.pulls.values()) {
        if (puller.inflight.has(id)) {
          if (op === 'ack') await this.engine.ack(puller, id);
          else await this.engine.nack(puller, id);
          this.counters[op === 'ack' ? 'acked' : 'nacked']++;
          return;
        }
      }
      throw new RtError('not_found', `no job "${id}" is held by this connection`);
    });
  }

  // ---- actions ----

  /** Calls the action `name` registered with `broker.action`; resolves with its result. */
  call(caller: Caller, name: string, data: Payload | undefined): Promise<unknown> {
    const session = this.needSession(caller);
    return this.gate(caller, 'call', undefined, () => {
      const action = this.actions.get(name);
      if (!action) throw new RtError('unknown_action', `no action "${name}"`);
      let result: unknown;
      try {
        result = action({ identity: caller.identity, sessionId: session.id }, data);
      } catch (e) {
        throw actionFailed(e);
      }
      // An action that answers at once is answered without a promise step of its own (not `async`: two more).
      if (!isThenable(result)) return Promise.resolve(result);
      return Promise.resolve(result).then(undefined, (e: unknown) => Promise.reject(actionFailed(e)));
    });
  }

  // ---- presence ----

  /** Presence of exactly `topic` (see `ops/presence.ts`): join, watch, leave, or get the members. */
  presence(caller: Caller, topic: string, request: PresenceRequest): Promise<PresenceSnapshot | undefined> {
    return this.gate(caller, 'presence', topic, () =>
      this.presences.run(caller.identity, caller.session, topic, request),
    );
  }

  /** A presence event the engine delivers to this node. */
  deliverPresence(event: PresenceEvent): void {
    this.presences.deliver(event);
  }

  // ---- sessions ----

  /** Lets go of everything `session` holds: subscriptions, bus joins and pullers (its jobs go to other pullers). */
  release(session: Session): void {
    for (const topic of session.subscriptions)
      if (this.index.unsubscribe(session, topic)) void Promise.resolve(this.engine.unlisten(topic)).catch(() => {});
    for (const topic of session.joins)
      if (this.index.leave(session, topic)) void Promise.resolve(this.engine.unlistenBus(topic)).catch(() => {});
    for (const puller of session.pulls.values()) this.engine.removePuller(puller);
    this.presences.release(session);
    session.clearPaces();
    this.deltas.drop(session);
    session.subscriptions.clear();
    session.joins.clear();
    session.pulls.clear();
  }

  private needSession(caller: Caller): Session {
    // A programming error of a door, not a client's: every stateful door has a session.
    if (!caller.session) throw new TypeError('this operation needs a session');
    return caller.session;
  }

  private checkRoom(session: Session): void {
    if (session.holdings >= this.limits.maxSubscriptions) {
      throw new RtError(
        'too_many_subscriptions',
        `a connection may hold ${this.limits.maxSubscriptions} subscriptions, joins and pullers`,
      );
    }
  }

  // ---- delivery (the engine's host) ----

  /** A message the engine delivers to this node: to every subscriber on it, unless private. */
  deliverMessage(m: StoredMessage): void {
    if (m.meta?.private) return;
    const out = messageOutgoing(m.topic, m.data, m.off, m.dataText);
    this.deltas.link(out, m.topic, m.off, m.dataText);
    this.index.publish(m.topic, out);
  }

  /** A bus message the engine delivers to this node. */
  deliverBus(m: BusMessage): void {
    this.index.bus(m.topic, busOutgoing(m.topic, m.data, m.dataText), m.from);
  }
}

/** The position after every recovery: the furthest one (they share the epoch of now). */
function latest(recoveries: readonly Recovery[]): Position {
  let best = recoveries[0]!;
  for (const r of recoveries) if (r.ep === best.ep && r.off > best.off) best = r;
  return { ep: best.ep, off: best.off };
}

/** The replays of several topics as one, in offset order, each message once, private ones left out. */
function merge(recoveries: readonly Recovery[]): StoredMessage[] {
  if (recoveries.length === 1) return recoveries[0]!.messages.filter((m) => !m.meta?.private);
  const byOff = new Map<number, StoredMessage>();
  for (const r of recoveries) for (const m of r.messages) if (!m.meta?.private) byOff.set(m.off, m);
  return [...byOff.values()].sort((a, b) => a.off - b.off);
}

/** A session's puller of `topic`: jobs go out as `job` frames. */
function pullerOf(session: Session, topic: string, prefetch: number, ackTimeoutMs: number): PullerHandle {
  return {
    topic,
    prefetch,
    ackTimeoutMs,
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
