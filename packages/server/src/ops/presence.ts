/**
 * Presence, the operation behind every door's `presence`: who is a member of a topic, with
 * `join`/`leave` events for the connections that watch it. The operations core authorizes it
 * (op `presence`) and calls {@link Presences.run}; the engine's {@link PresenceStore} keeps the
 * members, shared by every node. A connection holds member slots: one per SDK client (several
 * tabs sharing one connection are several members), each a member or a watcher.
 */
import { randomBytes } from 'node:crypto';
import { type JsonObject, type PresenceMember, type PresenceSnapshot, RtError } from '@rt/protocol';
import type { PresenceEvent, PresenceStore } from '../engines/presence.js';
import type { Limits } from '../options.js';
import { Outgoing } from '../outgoing.js';
import type { Identity, Session } from '../session.js';

/** What a presence request asks for (the fields of a `presence` frame). */
export interface PresenceRequest {
  do: 'join' | 'watch' | 'leave' | 'get';
  /** The member slot of the connection (default `''`). */
  member?: string;
  /** For `join`: what the other members see. */
  info?: JsonObject;
}

/** One slot of a session on one topic: a member (with its id) or a watcher. */
interface Slot {
  clientId?: string;
  since?: number;
}

/** The subject the members list shows for an identity: its `sub`, else its `id`. */
function subjectOf(identity: Identity): string | undefined {
  const subject = identity?.sub ?? identity?.id;
  return typeof subject === 'string' || typeof subject === 'number' ? String(subject) : undefined;
}

/** The presence slots of every session, the sessions watching each topic, and the fan-out of events to them. */
export class Presences {
  private readonly slots = new WeakMap<Session, Map<string, Map<string, Slot>>>();
  private readonly watchers = new Map<string, Set<Session>>();

  constructor(
    /** The engine's presence (read when used: an engine may make it when it starts). */
    private readonly storeOf: () => PresenceStore | undefined,
    private readonly limits: Limits,
  ) {}

  /** Carries out an authorized request; resolves with the snapshot for `join`, `watch` and `get`. */
  async run(
    identity: Identity,
    session: Session | undefined,
    topic: string,
    request: PresenceRequest,
  ): Promise<PresenceSnapshot | undefined> {
    const store = this.storeOf();
    if (!store) throw new RtError('unavailable', 'this engine has no presence');
    if (request.do === 'get') return { members: await store.members(topic) };
    if (!session) throw new TypeError('presence join, watch and leave need a session');
    const name = request.member ?? '';
    if (request.do === 'leave') {
      await this.leave(store, session, topic, name);
      return undefined;
    }
    let topics = this.slots.get(session);
    if (!topics) this.slots.set(session, (topics = new Map()));
    let slots = topics.get(topic);
    const fresh = !slots?.has(name);
    if (fresh) this.checkRoom(session, topics);
    if (!slots) topics.set(topic, (slots = new Map()));
    const slot = slots.get(name) ?? {};
    slots.set(name, slot);
    try {
      await this.watch(store, session, topic);
      if (request.do === 'join') {
        // A join again (new `info`) keeps the member's id and its time.
        const member: PresenceMember = {
          clientId: slot.clientId ?? randomBytes(8).toString('hex'),
          since: slot.since ?? Date.now(),
        };
        const subject = subjectOf(identity);
        if (subject !== undefined) member.subject = subject;
        if (request.info !== undefined) member.info = request.info;
        await store.join(topic, member, this.limits.maxPresenceMembers);
        slot.clientId = member.clientId;
        slot.since = member.since;
      }
    } catch (e) {
      if (fresh && this.slotOf(session, topic, name) === slot) this.drop(store, session, topic, name);
      throw e;
    }
    if (this.slotOf(session, topic, name) !== slot) {
      // The connection closed, or left this slot, while the join was under way: its member goes again.
      if (request.do === 'join' && slot.clientId !== undefined)
        await store.leave(topic, slot.clientId).catch(() => undefined);
      throw new RtError('connection_lost', 'the connection closed or left the presence meanwhile');
    }
    const snapshot: PresenceSnapshot = { members: await store.members(topic) };
    if (slot.clientId !== undefined) snapshot.self = slot.clientId;
    return snapshot;
  }

  /** Lets go of every slot of `session` (it closed): its members leave, it watches nothing. */
  release(session: Session): void {
    const topics = this.slots.get(session);
    const store = this.storeOf();
    if (!topics || !store) return;
    this.slots.delete(session);
    for (const [topic, slots] of topics) {
      for (const slot of slots.values())
        if (slot.clientId !== undefined) void store.leave(topic, slot.clientId).catch(() => undefined);
      this.unwatch(store, session, topic);
    }
  }

  /** An event the engine delivers to this node: to every session watching its topic, encoded once. */
  deliver(event: PresenceEvent): void {
    const sessions = this.watchers.get(event.topic);
    if (!sessions) return;
    const out = new Outgoing({ t: 'presence', topic: event.topic, event: event.event, member: event.member });
    for (const session of sessions) session.send(out);
  }

  private slotOf(session: Session, topic: string, name: string): Slot | undefined {
    return this.slots.get(session)?.get(topic)?.get(name);
  }

  private async leave(store: PresenceStore, session: Session, topic: string, name: string): Promise<void> {
    const slot = this.slotOf(session, topic, name);
    if (!slot) return;
    this.drop(store, session, topic, name);
    if (slot.clientId !== undefined) await store.leave(topic, slot.clientId);
  }

  /** Forgets a slot; the session stops watching the topic when it was its last there. */
  private drop(store: PresenceStore, session: Session, topic: string, name: string): void {
    const topics = this.slots.get(session);
    const slots = topics?.get(topic);
    if (!topics || !slots?.delete(name) || slots.size > 0) return;
    topics.delete(topic);
    this.unwatch(store, session, topic);
  }

  private async watch(store: PresenceStore, session: Session, topic: string): Promise<void> {
    let sessions = this.watchers.get(topic);
    if (!sessions) this.watchers.set(topic, (sessions = new Set()));
    sessions.add(session);
    // Every watcher waits until the engine delivers the topic's events (one racing the first one too).
    await store.watch(topic);
  }

  private unwatch(store: PresenceStore, session: Session, topic: string): void {
    const sessions = this.watchers.get(topic);
    if (!sessions?.delete(session) || sessions.size > 0) return;
    this.watchers.delete(topic);
    store.unwatch(topic);
  }

  /** A connection's presence slots count with its subscriptions, joins and pullers against `maxSubscriptions`. */
  private checkRoom(session: Session, topics: Map<string, Map<string, Slot>>): void {
    let held = session.holdings;
    for (const slots of topics.values()) held += slots.size;
    const max = this.limits.maxSubscriptions;
    if (held >= max)
      throw new RtError(
        'too_many_subscriptions',
        `a connection may hold ${max} subscriptions, joins, pullers and presence slots`,
      );
  }
}
