/**
 * The session registry: every open session of this node, its outbound bound, the expiry of
 * its token, and what an epoch change tells it. Doors open and close sessions here; what a
 * session holds is let go of through the operations core.
 */
import type { GapReason } from '@rt/protocol';
import { Outgoing } from './outgoing.js';
import { type OpsCounters, doorOf } from './metrics/counters.js';
import type { Operations } from './ops/operations.js';
import type { Limits, Logger } from './options.js';
import type { Policy } from './policy/policy.js';
import { Flusher, type Outbound, Session, type SlowConsumerPolicy, type Wire } from './session.js';

/** The longest delay `setTimeout` takes (about 24.8 days); later expiries re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Counters of the registry, for `broker.stats()`. */
export interface RegistryCounts {
  /** Messages dropped from the queues of connections that could not keep up. */
  outboundDropped: number;
  /** Connections dropped because they could not keep up. */
  slowDisconnects: number;
}

/** Sessions of one broker node. */
export class SessionRegistry {
  readonly flusher: Flusher;
  readonly counts: RegistryCounts = { outboundDropped: 0, slowDisconnects: 0 };
  private readonly sessions = new Set<Session>();
  private readonly expiries = new Map<Session, ReturnType<typeof setTimeout>>();
  private readonly outbound: Outbound;
  /** Why the broker is closing a session, set before it closes the wire (whose transport reports its own reason). */
  private readonly endings = new WeakMap<Session, string>();

  constructor(
    private readonly ops: Operations,
    private readonly policy: Policy,
    limits: Limits,
    slowConsumer: SlowConsumerPolicy,
    private readonly logger: Logger,
    private readonly counters: OpsCounters,
  ) {
    this.flusher = new Flusher((flushable, error) => {
      this.logger.error({ err: error }, 'a connection failed to write: closing it');
      if (flushable instanceof Session) this.drop(flushable);
    });
    this.outbound = {
      maxBytes: limits.maxOutboundBytes > 0 ? limits.maxOutboundBytes : Infinity,
      policy: slowConsumer,
      epoch: () => this.ops.epoch(),
      dropped: (session, frames) => {
        if (this.counts.outboundDropped === 0)
          this.logger.warn(
            { conn: session.id, door: doorOf(session.wire), frames },
            'a connection cannot keep up: dropping its oldest messages',
          );
        this.counts.outboundDropped += frames;
      },
      giveUp: (session) => {
        this.counts.slowDisconnects++;
        this.logger.warn(
          { conn: session.id, door: doorOf(session.wire) },
          'a connection cannot keep up: disconnecting it',
        );
        this.endings.set(session, 'slow_consumer');
        this.drop(session, {
          t: 'bye',
          code: 'slow_consumer',
          message: 'the connection could not keep up',
          reconnect: true,
        });
      },
      wrote: (session, batch) => this.counters.wrote(session.wire, batch),
    };
  }

  /** Sessions open now. */
  get size(): number {
    return this.sessions.size;
  }

  /** Bytes queued for sessions and not yet written, all together. */
  get queuedBytes(): number {
    let sum = 0;
    for (const s of this.sessions) sum += s.queuedBytes;
    return sum;
  }

  /** Opens a session for a new connection. */
  open(wire: Wire): Session {
    const session = new Session(wire, this.flusher, this.outbound);
    session.onIdentity = (s) => this.armExpiry(s);
    this.sessions.add(session);
    this.counters.open(wire);
    this.logger.info(
      { conn: session.id, door: doorOf(wire), transport: wire.transport, remote: wire.remote },
      'connection opened',
    );
    return session;
  }

  /** The open sessions (read-only: for metrics and the admin page). */
  get all(): ReadonlySet<Session> {
    return this.sessions;
  }

  /**
   * Ends a session: its subscriptions, bus joins and pullers go; jobs it held go to other
   * pullers. `reason` (the transport's; the registry's own, `slow_consumer`, `token_expired`
   * or `shutdown`, wins) goes to the log line.
   */
  close(session: Session, reason = 'closed'): void {
    if (!this.sessions.delete(session)) return;
    const wire = session.wire;
    this.counters.close(wire);
    this.logger.info(
      {
        conn: session.id,
        door: doorOf(wire),
        transport: wire.transport,
        remote: wire.remote,
        reason: this.endings.get(session) ?? reason,
      },
      'connection closed',
    );
    session.closed = true;
    const expiry = this.expiries.get(session);
    if (expiry) clearTimeout(expiry);
    this.expiries.delete(session);
    this.ops.release(session);
  }

  /** Drops a connection at once (a peer that does not read would never receive a `bye`), then closes its session. */
  private drop(session: Session, bye?: Parameters<Wire['close']>[0]): void {
    try {
      if (session.wire.destroy) session.wire.destroy();
      else session.wire.close(bye);
    } catch (e) {
      this.logger.warn({ err: e, conn: session.id, door: doorOf(session.wire) }, 'closing a connection failed');
    }
    this.close(session);
  }

  /** Writes what is queued, says `bye` (restart) to every session and closes them (broker shutdown). */
  closeAll(): void {
    const bye = { t: 'bye', code: 'restart', message: 'the broker is shutting down', reconnect: true } as const;
    this.flusher.run();
    for (const session of [...this.sessions]) {
      // Whatever was accepted for this connection goes out before the goodbye.
      session.flush(true);
      this.endings.set(session, 'shutdown');
      session.wire.close(bye);
      this.close(session);
    }
  }

  /** History was lost: every subscription on this node learns of the gap and where to continue from. */
  epochChanged(ep: string): void {
    this.logger.warn({ ep }, 'history was lost (new epoch): subscribers are told of the gap');
    for (const session of this.sessions) {
      for (const topic of session.subscriptions)
        session.send(new Outgoing({ t: 'gap', topic, reason: 'epoch', ep, off: 0 }));
    }
  }

  /** The engine could not deliver nor replay some messages of `topic` here: its subscribers learn of the gap. */
  missed(topic: string, reason: GapReason, ep: string, off: number): void {
    this.logger.warn({ topic, reason }, 'messages could not reach this node: subscribers are told of the gap');
    for (const session of this.sessions) {
      if (session.subscriptions.has(topic)) session.send(new Outgoing({ t: 'gap', topic, reason, ep, off }));
    }
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
        this.endings.set(session, 'token_expired');
        session.wire.close({
          t: 'bye',
          code: 'token_expired',
          message: 'the token expired: reconnect with a fresh one',
          reconnect: true,
        });
        this.close(session);
      },
      Math.max(0, Math.min(wait, MAX_TIMER_MS)),
    );
    timer.unref();
    this.expiries.set(session, timer);
  }
}
