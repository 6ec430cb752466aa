import type { JsonObject, OkFrame, PresenceEventFrame, PresenceMember } from '@rt/protocol';
import { Emitter } from './emitter.js';
import { readyLatch } from './latch.js';

/** One member of a topic's presence, with `info` typed as the app set it. */
export interface Member<I extends JsonObject = JsonObject> {
  /** The broker's id of this member: one per connection and client (each tab is its own); a reconnect makes a new one. */
  clientId: string;
  /** The member's identity subject (its token's `sub`, else `id`), when it authenticated. */
  subject?: string;
  /** What the member set at join (`topic.presence({ info })`, or `connect(url, { presence: { info } })`). */
  info?: I;
  /** When it joined, in ms since the epoch. */
  since: number;
}

/** Options of `topic.presence()`. */
export interface PresenceOptions<I extends JsonObject = JsonObject> {
  /**
   * What the other members see of this client (a JSON object of at most 2,048 bytes). Default:
   * `connect()`'s `presence.info`, else none.
   */
  info?: I;
  /** `false`: only watch the members, without becoming one. Default `true`. */
  join?: boolean;
}

/** Events of a {@link Presence}. */
export interface PresenceEvents<I extends JsonObject = JsonObject> {
  /** A member joined (or changed its `info`); also each member found when the presence is (re-)established. */
  join: { topic: string; member: Member<I> };
  /** A member left (its client left or closed, its connection dropped, or its broker died); also members gone while this client was disconnected. */
  leave: { topic: string; member: Member<I> };
  /** The broker refused the presence (`forbidden`, `too_many_members`…); it is over. */
  error: { error: Error };
}

/** What the client does for a presence (implemented by the client). */
export interface PresenceHost {
  presenceLeave(presence: PresenceSink & { readonly topic: string }): Promise<void>;
}

/** A presence handle, as the client sees it. */
export interface PresenceSink {
  /** True when this handle makes the client a member (not only a watcher). */
  readonly joins: boolean;
  readonly info: JsonObject | undefined;
  settle(error?: Error): void;
  refuse(error: Error): void;
  /** The broker is asked for the members again: events from now on go on top of its answer. */
  resync(): void;
  /** The broker's answer: the members now. */
  answered(answer: OkFrame): void;
  /** A `join` or `leave` from the broker. */
  event(frame: PresenceEventFrame): void;
}

/**
 * The presence of one topic: who is on it (`members`), kept current by `join` and `leave`
 * events, with this client as a member (unless `join: false`). Survives reconnects like a
 * subscription: the client joins again and the members are read again, and the events say
 * what changed meanwhile.
 */
export class Presence<I extends JsonObject = JsonObject> extends Emitter<PresenceEvents<I>> implements PresenceSink {
  /** Settles when the broker has confirmed the presence (`members` is then complete); rejects when it refused it. */
  readonly ready: Promise<void>;
  /** @internal */ readonly settle: (error?: Error) => void;
  private active = true;
  private view = new Map<string, Member<I>>();
  /** Events since the last request for the members (applied on top of its answer). */
  private since: PresenceEventFrame[] = [];
  private selfId: string | undefined;

  /** @internal */
  constructor(
    /** The topic (exactly: presence has no hierarchy). */
    readonly topic: string,
    /** @internal */ readonly info: I | undefined,
    /** @internal */ readonly joins: boolean,
    private readonly host: PresenceHost,
  ) {
    super();
    ({ ready: this.ready, settle: this.settle } = readyLatch());
  }

  /** The members now, oldest first (complete once `ready`; this client among them once joined). */
  get members(): Member<I>[] {
    return [...this.view.values()].sort((a, b) => a.since - b.since);
  }

  /** This client's `clientId` on this topic, once joined (changes with each reconnect). */
  get self(): string | undefined {
    return this.selfId;
  }

  /** True until `leave()` (or a refusal). */
  get isActive(): boolean {
    return this.active;
  }

  /** Leaves (this client is no member any more) and stops watching. */
  leave(): Promise<void> {
    if (!this.active) return Promise.resolve();
    this.active = false;
    return this.host.presenceLeave(this);
  }

  /** @internal */
  refuse(error: Error): void {
    this.active = false;
    this.settle(error);
    this.emit('error', { error });
  }

  /** @internal */
  resync(): void {
    this.since = [];
  }

  /** @internal */
  answered(answer: OkFrame): void {
    const data = answer.data as { members?: unknown; self?: unknown } | undefined;
    const members = Array.isArray(data?.members) ? (data.members as PresenceMember[]) : [];
    if (typeof data?.self === 'string') this.selfId = data.self;
    const next = new Map<string, Member<I>>();
    for (const m of members) next.set(m.clientId, m as Member<I>);
    for (const e of this.since) apply(next, e);
    this.since = [];
    const before = this.view;
    this.view = next;
    if (!this.active) return;
    for (const [id, m] of before) if (!next.has(id)) this.emit('leave', { topic: this.topic, member: m });
    for (const [id, m] of next) if (!same(before.get(id), m)) this.emit('join', { topic: this.topic, member: m });
  }

  /** @internal */
  event(frame: PresenceEventFrame): void {
    this.since.push(frame);
    const had = this.view.get(frame.member.clientId);
    apply(this.view, frame);
    if (!this.active) return;
    const member = frame.member as Member<I>;
    if (frame.event === 'leave' && had) this.emit('leave', { topic: this.topic, member: had });
    else if (frame.event === 'join' && !same(had, member)) this.emit('join', { topic: this.topic, member });
  }
}

function apply<I extends JsonObject>(view: Map<string, Member<I>>, frame: PresenceEventFrame): void {
  if (frame.event === 'join') view.set(frame.member.clientId, frame.member as Member<I>);
  else view.delete(frame.member.clientId);
}

/** True when `a` is `b` as far as the app can tell (a join of a known member repeated). */
function same(a: Member | undefined, b: Member): boolean {
  return a !== undefined && a.since === b.since && JSON.stringify(a.info) === JSON.stringify(b.info);
}
