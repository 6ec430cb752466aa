import type { ClientFrame, JsonObject, OkFrame, Pace, Payload, SubFrame } from '@rt/protocol';
import type { GapEvent, JobMeta, MessageMeta } from './meta.js';
import type { PresenceSink } from './presence.js';

/** What the client calls on every handle of an interest (a `Subscription`, `Bus` or `Puller`). */
export interface Handle {
  /** The broker confirmed the interest (no argument), or it cannot be established now (an error): settles `ready`. */
  settle(error?: Error): void;
  /** The broker refused the interest for good (e.g. `forbidden`): the handle ends and tells the app. */
  refuse(error: Error): void;
}

/** A subscription handle, as the client sees it. */
export interface SubscriptionSink extends Handle {
  deliver(data: Payload, meta: MessageMeta): void;
  gap(event: GapEvent): void;
}

/** A bus handle, as the client sees it. */
export interface BusSink extends Handle {
  deliver(data: Payload): void;
  gap(event: GapEvent): void;
}

/** A puller handle, as the client sees it. */
export interface PullerSink extends Handle {
  readonly prefetch: number;
  /** How long the broker waits for each job's ack before handing it to another puller, in ms (absent: its default). */
  readonly ackTimeoutMs?: number | undefined;
  readonly isActive: boolean;
  /** Runs the job handler; its result (or promise) decides ack or nack. */
  run(data: Payload, meta: JobMeta): unknown;
}

/** The kinds of state the app wants kept on the broker, named by the frame that establishes each. */
export type InterestKind = 'sub' | 'join' | 'pull' | 'presence';

/**
 * One thing the app wants the broker to keep for this connection, on one topic: a
 * subscription (with its recovery position), a bus join, or a puller. Re-established after
 * every reconnect; the handles the app holds share it.
 */
export class Interest<H extends Handle = Handle> {
  /** The handles that share this interest. */
  readonly handles = new Set<H>();
  /** Confirmed by the broker on the current connection. */
  confirmed = false;
  /** Consecutive transient refusals (`unavailable`…), for the retry backoff. */
  attempt = 0;
  /** A scheduled retry after a transient refusal. */
  retry: ReturnType<typeof setTimeout> | undefined;
  /** Subscriptions: the epoch and offset of the last message seen, for recovery. */
  ep: string | undefined;
  off: number | undefined;
  /** Subscriptions: the pace asked for (see `Topic.subscribe`). */
  pace: Pace | undefined;
  /** Subscriptions: a delta could not be rebuilt; taken again from its position, it takes nothing meanwhile. */
  resyncing = false;
  /** Presence: this client's member slot on the connection, and whether it joins (else it only watches) with what info. */
  member = '';
  joins = false;
  info: JsonObject | undefined;

  constructor(
    readonly kind: InterestKind,
    readonly topic: string,
    /** Pullers: jobs held unacknowledged at a time. */
    readonly prefetch = 1,
    /** Pullers: the ack deadline asked for, in ms. */
    readonly ackTimeoutMs?: number,
  ) {}

  /** The frame that (re-)establishes this interest on the broker. */
  establish(): ClientFrame {
    switch (this.kind) {
      case 'sub': {
        const frame: SubFrame =
          this.ep !== undefined && this.off !== undefined
            ? { t: 'sub', ref: 0, topic: this.topic, ep: this.ep, off: this.off }
            : { t: 'sub', ref: 0, topic: this.topic };
        if (this.pace !== undefined) frame.pace = this.pace;
        return frame;
      }
      case 'join':
        return { t: 'join', ref: 0, topic: this.topic };
      case 'pull': {
        const frame: ClientFrame = { t: 'pull', ref: 0, topic: this.topic, prefetch: this.prefetch };
        if (this.ackTimeoutMs !== undefined) frame.ackTimeoutMs = this.ackTimeoutMs;
        return frame;
      }
      case 'presence':
        // The members are read again: events from now on go on top of the answer.
        for (const h of this.handles) (h as Handle as PresenceSink).resync();
        return this.joins
          ? {
              t: 'presence',
              ref: 0,
              topic: this.topic,
              do: 'join',
              member: this.member,
              ...(this.info === undefined ? {} : { info: this.info }),
            }
          : { t: 'presence', ref: 0, topic: this.topic, do: 'watch', member: this.member };
    }
  }

  /** The frame that removes it from the broker. */
  teardown(): ClientFrame {
    if (this.kind === 'presence') return { t: 'presence', ref: 0, topic: this.topic, do: 'leave', member: this.member };
    const t = this.kind === 'sub' ? 'unsub' : this.kind === 'join' ? 'leave' : 'unpull';
    return { t, ref: 0, topic: this.topic };
  }

  /** The broker confirmed it: a subscription takes the topic's position, every handle settles. */
  accept(answer: OkFrame): void {
    if (this.kind === 'sub' && answer.ep !== undefined && answer.off !== undefined) {
      // Messages may have arrived before the answer: keep the furthest position seen.
      if (this.ep === undefined || answer.ep === this.ep) this.off = Math.max(this.off ?? answer.off, answer.off);
      else this.off = answer.off;
      this.ep = answer.ep;
    }
    if (this.kind === 'presence') for (const h of this.handles) (h as Handle as PresenceSink).answered(answer);
    this.confirmed = true;
    this.attempt = 0;
    for (const h of this.handles) h.settle();
  }

  /** Stops a scheduled retry. */
  cancelRetry(): void {
    clearTimeout(this.retry);
    this.retry = undefined;
  }
}

/**
 * Everything the app wants kept on the broker, one {@link Interest} per kind and topic, with
 * typed lookups for routing what the broker sends (messages, bus messages, jobs).
 */
export class Interests {
  private readonly subs = new Map<string, Interest<SubscriptionSink>>();
  private readonly joins = new Map<string, Interest<BusSink>>();
  private readonly pulls = new Map<string, Interest<PullerSink>>();
  private readonly presences = new Map<string, Interest<PresenceSink>>();

  /** How many interests there are (what the broker counts against `maxSubscriptions`). */
  get size(): number {
    return this.subs.size + this.joins.size + this.pulls.size + this.presences.size;
  }

  /** Every interest, subscriptions first. */
  all(): Interest[] {
    return [...this.subs.values(), ...this.joins.values(), ...this.pulls.values(), ...this.presences.values()];
  }

  /** The presence interest on `topic`. */
  presence(topic: string): Interest<PresenceSink> | undefined {
    return this.presences.get(topic);
  }

  /** See {@link addSub}. The interest joins once one of its handles does, with that handle's info. */
  addPresence(
    topic: string,
    handle: PresenceSink,
    member: string,
  ): { interest: Interest<PresenceSink>; created: boolean } {
    const { interest, created } = add(this.presences, 'presence', topic, handle);
    if (created) interest.member = member;
    if (handle.joins && !interest.joins) {
      interest.joins = true;
      interest.info = handle.info;
    }
    return { interest, created };
  }

  /** The subscription interest on exactly `topic`. */
  sub(topic: string): Interest<SubscriptionSink> | undefined {
    return this.subs.get(topic);
  }

  /** The bus interest on `topic`. */
  join(topic: string): Interest<BusSink> | undefined {
    return this.joins.get(topic);
  }

  /** The puller interest on `topic`. */
  pull(topic: string): Interest<PullerSink> | undefined {
    return this.pulls.get(topic);
  }

  /** Adds `handle` to the interest of its kind on `topic`; `created` when the interest is new. */
  addSub(topic: string, handle: SubscriptionSink): { interest: Interest<SubscriptionSink>; created: boolean } {
    return add(this.subs, 'sub', topic, handle);
  }

  /** See {@link addSub}. */
  addJoin(topic: string, handle: BusSink): { interest: Interest<BusSink>; created: boolean } {
    return add(this.joins, 'join', topic, handle);
  }

  /** See {@link addSub}. A puller is alone on its topic (checked by the caller). */
  addPull(topic: string, handle: PullerSink): { interest: Interest<PullerSink>; created: boolean } {
    return add(this.pulls, 'pull', topic, handle, handle.prefetch, handle.ackTimeoutMs);
  }

  /** True while `interest` is the registered one for its kind and topic. */
  holds(interest: Interest): boolean {
    return this.mapOf(interest.kind).get(interest.topic) === interest;
  }

  /**
   * Removes `handle` from the interest of `kind` on `topic`. Returns the interest when that was
   * its last handle (it is then gone from the registry: tear it down on the broker).
   */
  release(kind: InterestKind, topic: string, handle: Handle): Interest | undefined {
    const map = this.mapOf(kind);
    const interest = map.get(topic);
    if (!interest?.handles.delete(handle) || interest.handles.size > 0) return undefined;
    map.delete(topic);
    interest.cancelRetry();
    return interest;
  }

  /** Removes `interest` whatever its handles (refused for good). */
  drop(interest: Interest): void {
    if (this.holds(interest)) this.mapOf(interest.kind).delete(interest.topic);
    interest.cancelRetry();
  }

  private mapOf(kind: InterestKind): Map<string, Interest> {
    if (kind === 'presence') return this.presences;
    return kind === 'sub' ? this.subs : kind === 'join' ? this.joins : this.pulls;
  }
}

function add<H extends Handle>(
  map: Map<string, Interest<H>>,
  kind: InterestKind,
  topic: string,
  handle: H,
  prefetch?: number,
  ackTimeoutMs?: number,
): { interest: Interest<H>; created: boolean } {
  const existing = map.get(topic);
  if (existing) {
    existing.handles.add(handle);
    return { interest: existing, created: false };
  }
  const interest = new Interest<H>(kind, topic, prefetch, ackTimeoutMs);
  interest.handles.add(handle);
  map.set(topic, interest);
  return { interest, created: true };
}
