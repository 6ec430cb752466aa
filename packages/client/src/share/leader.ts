import { type ClientFrame, type ErrorCode, type MsgFrame, type ServerFrame, RtError, ancestry } from '@rt/protocol';
import type { ClientTransport, TransportContext, TransportFactory, TransportName } from '../transports/transport.js';
import { type ControlMessage, type SessionMessage, controlChannel, sessionChannel } from './messages.js';
import type { TabWatch } from './watch.js';

/** One tab's virtual connection, as the leader sees it. */
interface TabSession {
  id: string;
  tab: string;
  channel: BroadcastChannel;
  subs: Set<string>;
  joins: Set<string>;
  /** Topic → the prefetch this tab's puller asked for. */
  pulls: Map<string, number>;
  /** Jobs handed to this tab and not yet acknowledged: id → topic. */
  jobs: Map<string, string>;
  /** Presence this tab joined or watches: topic → its member slot (each tab is a member of its own). */
  presence: Map<string, string>;
  /** Topics this tab is recovering (a `sub` with a position, unanswered): gaps of those are its own. */
  recovering: Map<string, number>;
  /**
   * Messages for this tab that arrived while it was recovering. The connection is already
   * subscribed, so live messages may come before the replay the broker sends this tab; handed
   * over in order of their offsets once the replay is done, before the `sub`'s answer, they
   * cannot move the tab's position past messages it has yet to see.
   */
  held: MsgFrame[];
}

/** Where the answer to a frame the leader sent upstream goes. */
type Route = { session: TabSession; ref: number; after?: (answer: ServerFrame) => void } | { session: undefined };

/** The most jobs the shared connection holds for one topic at a time, whatever the tabs ask. */
const MAX_SHARED_PREFETCH = 64;

/**
 * The leader tab's side of a shared connection: one real connection to the broker (opened
 * when the first tab says hello, over the first transport that opens), multiplexed between
 * the tabs' sessions. Subscriptions, joins and pullers are counted per tab and sent upstream
 * once; messages, bus messages, gaps and jobs go to the tabs that asked; a bus message one tab
 * sends reaches the other tabs joined to it here (the broker does not echo it to its sender's
 * connection). When the connection drops, every session is closed: the tabs' clients reconnect
 * and re-establish what they want with their positions, as after any disconnect.
 */
export class Leader {
  private readonly control: BroadcastChannel;
  private readonly sessions = new Map<string, TabSession>();
  private upstream: ClientTransport | undefined;
  private upstreamName: TransportName | undefined;
  private opening: Promise<void> | undefined;
  private preferred = 0;
  private nextRef = 1;
  private readonly routes = new Map<number, Route>();
  /** Jobs that arrived while every tab pulling their topic was busy, by topic. */
  private readonly waiting = new Map<string, { id: string; frame: ServerFrame }[]>();
  private turn = 0;
  private closed = false;

  constructor(
    /** This tab's id. */
    readonly id: string,
    private readonly key: string,
    private readonly factories: readonly TransportFactory[],
    private readonly context: () => TransportContext,
    private readonly tabs: TabWatch,
  ) {
    this.control = new BroadcastChannel(controlChannel(key));
    this.control.onmessage = (event: MessageEvent<ControlMessage>) => {
      const m = event.data;
      // Sessions are addressed: with two leaders at once, each tab's client talks to one.
      if (m.k === 'hello' && m.to === id) this.hello(m.tab, m.session);
    };
  }

  /** Steps down: every session closes (its client reconnects, to the next leader) and so does the connection. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.control.close();
    this.tabs.close();
    this.dropUpstream('the leader tab stepped down');
    this.upstream?.close();
    this.upstream = undefined;
  }

  // ---- sessions -------------------------------------------------------------------------

  private hello(tab: string, id: string): void {
    if (this.closed || this.sessions.has(id)) return;
    const channel = new BroadcastChannel(sessionChannel(this.key, id));
    const session: TabSession = {
      id,
      tab,
      channel,
      subs: new Set(),
      joins: new Set(),
      pulls: new Map(),
      jobs: new Map(),
      presence: new Map(),
      recovering: new Map(),
      held: [],
    };
    this.sessions.set(id, session);
    channel.onmessage = (event: MessageEvent<SessionMessage>) => {
      const m = event.data;
      if (m.k === 'up') this.fromTab(session, m.frame);
      else if (m.k === 'close') this.endSession(session);
    };
    this.watch(tab);
    this.ensureUpstream().then(
      () => {
        if (this.sessions.get(id) !== session) return;
        channel.postMessage({ k: 'welcome', leader: this.id, transport: this.upstreamName! } satisfies SessionMessage);
      },
      (error: unknown) => {
        const code: ErrorCode = error instanceof RtError ? error.code : 'unavailable';
        const message = error instanceof Error ? error.message : String(error);
        channel.postMessage({ k: 'refuse', code, message } satisfies SessionMessage);
        this.forget(session);
      },
    );
  }

  /** When the tab (or worker) `tab` is gone, its sessions end. */
  private watch(tab: string): void {
    if (tab === this.id) return;
    this.tabs.watch(tab, () => {
      for (const s of [...this.sessions.values()]) if (s.tab === tab) this.endSession(s);
    });
  }

  /** A tab's session ended (it closed, or the tab is gone): what only it wanted is undone upstream. */
  private endSession(session: TabSession): void {
    if (!this.forget(session)) return;
    for (const topic of session.subs)
      if (!this.anyone((s) => s.subs.has(topic))) this.internal({ t: 'unsub', ref: 0, topic });
    for (const topic of session.joins)
      if (!this.anyone((s) => s.joins.has(topic))) this.internal({ t: 'leave', ref: 0, topic });
    for (const [topic, member] of session.presence)
      this.internal({ t: 'presence', ref: 0, topic, do: 'leave', member });
    // Its jobs go back to the queue, for another puller (another tab, or another connection).
    for (const id of session.jobs.keys()) this.internal({ t: 'nack', ref: 0, id });
    for (const topic of session.pulls.keys()) {
      if (this.anyone((s) => s.pulls.has(topic))) this.dispatch(topic);
      else {
        for (const job of this.waiting.get(topic) ?? []) this.internal({ t: 'nack', ref: 0, id: job.id });
        this.waiting.delete(topic);
        this.internal({ t: 'unpull', ref: 0, topic });
      }
    }
  }

  private forget(session: TabSession): boolean {
    if (this.sessions.get(session.id) !== session) return false;
    this.sessions.delete(session.id);
    session.channel.close();
    for (const [ref, route] of this.routes) if (route.session === session) this.routes.set(ref, { session: undefined });
    return true;
  }

  private anyone(test: (s: TabSession) => boolean): boolean {
    for (const s of this.sessions.values()) if (test(s)) return true;
    return false;
  }

  /** Hands over the messages held during a recovery, oldest first, each once. */
  private release(session: TabSession): void {
    const held = session.held;
    session.held = [];
    if (held.every((m) => m.off !== undefined)) held.sort((a, b) => a.off! - b.off!);
    let last: number | undefined;
    for (const m of held) {
      if (m.off !== undefined && m.off === last) continue;
      last = m.off;
      this.down(session, m);
    }
  }

  private down(session: TabSession, frame: ServerFrame): void {
    session.channel.postMessage({ k: 'down', frame } satisfies SessionMessage);
  }

  // ---- frames from tabs -----------------------------------------------------------------

  private fromTab(session: TabSession, frame: ClientFrame): void {
    if (!this.upstream) return;
    switch (frame.t) {
      case 'sub':
        if (frame.off !== undefined) {
          session.recovering.set(frame.topic, frame.ref);
          // The broker replays only for a topic the connection does not hold yet. When another
          // tab holds it, the leader lets go of it and takes it again from this tab's position:
          // the replay also brings the other tabs what was published in between (each tab's
          // client drops what it has already seen, by offset).
          if (this.anyone((s) => s !== session && s.subs.has(frame.topic)))
            this.internal({ t: 'unsub', ref: 0, topic: frame.topic });
        }
        session.subs.add(frame.topic);
        // The shared connection takes whole messages: a tab that came later holds no base for a delta.
        this.forward(
          session,
          frame.pace?.delta ? { ...frame, pace: { ...frame.pace, delta: false } } : frame,
          (answer) => {
            if (session.recovering.get(frame.topic) === frame.ref) session.recovering.delete(frame.topic);
            if (answer.t === 'err') session.subs.delete(frame.topic);
            if (session.recovering.size === 0) this.release(session);
          },
        );
        return;
      case 'unsub':
        session.subs.delete(frame.topic);
        this.lastOut(session, frame, (s) => s.subs.has(frame.topic));
        return;
      case 'join':
        session.joins.add(frame.topic);
        this.forward(session, frame, (answer) => {
          if (answer.t === 'err') session.joins.delete(frame.topic);
        });
        return;
      case 'leave':
        session.joins.delete(frame.topic);
        this.lastOut(session, frame, (s) => s.joins.has(frame.topic));
        return;
      case 'bus':
        // The broker sends a bus message to every other connection; the other tabs on this
        // connection are other peers too: they get it from here, once the broker accepted it.
        this.forward(session, frame, (answer) => {
          if (answer.t !== 'ok') return;
          for (const s of this.sessions.values())
            if (s !== session && s.joins.has(frame.topic))
              this.down(s, { t: 'bus', topic: frame.topic, data: frame.data });
        });
        return;
      case 'pull': {
        const first = !this.anyone((s) => s.pulls.has(frame.topic));
        session.pulls.set(frame.topic, frame.prefetch ?? 1);
        if (!first) {
          this.down(session, { t: 'ok', ref: frame.ref });
          this.dispatch(frame.topic);
          return;
        }
        // The connection's prefetch is fixed when it starts pulling; tabs that come later share it.
        let prefetch = 0;
        for (const s of this.sessions.values()) prefetch += s.pulls.get(frame.topic) ?? 0;
        this.forward(session, { ...frame, prefetch: Math.min(prefetch, MAX_SHARED_PREFETCH) }, (answer) => {
          if (answer.t === 'err') session.pulls.delete(frame.topic);
        });
        return;
      }
      case 'unpull': {
        session.pulls.delete(frame.topic);
        for (const [id, topic] of session.jobs)
          if (topic === frame.topic) {
            session.jobs.delete(id);
            this.internal({ t: 'nack', ref: 0, id });
          }
        if (this.anyone((s) => s.pulls.has(frame.topic))) {
          this.down(session, { t: 'ok', ref: frame.ref });
          this.dispatch(frame.topic);
        } else {
          for (const job of this.waiting.get(frame.topic) ?? []) this.internal({ t: 'nack', ref: 0, id: job.id });
          this.waiting.delete(frame.topic);
          this.forward(session, frame);
        }
        return;
      }
      case 'presence': {
        // The broker keeps one member per slot; the events go to the tabs that joined or watch the topic.
        const holds = frame.do === 'join' || frame.do === 'watch';
        if (holds) session.presence.set(frame.topic, frame.member ?? '');
        else if (frame.do === 'leave') session.presence.delete(frame.topic);
        this.forward(session, frame, (answer) => {
          if (holds && answer.t === 'err') session.presence.delete(frame.topic);
        });
        return;
      }
      case 'ack':
      case 'nack': {
        const topic = session.jobs.get(frame.id);
        session.jobs.delete(frame.id);
        this.forward(session, frame);
        if (topic !== undefined) this.dispatch(topic);
        return;
      }
      default:
        this.forward(session, frame);
    }
  }

  /** An `unsub` or `leave` goes upstream from the last tab that had it; the others are answered here. */
  private lastOut(session: TabSession, frame: ClientFrame, holds: (s: TabSession) => boolean): void {
    if (this.anyone(holds)) this.down(session, { t: 'ok', ref: frame.ref });
    else this.forward(session, frame);
  }

  /** Sends a tab's frame upstream under a ref of the connection's; the answer goes back to the tab. */
  private forward(session: TabSession, frame: ClientFrame, after?: (answer: ServerFrame) => void): void {
    const ref = this.nextRef++;
    this.routes.set(ref, after ? { session, ref: frame.ref, after } : { session, ref: frame.ref });
    this.upstream!.send({ ...frame, ref });
  }

  /** A frame of the leader's own (clean-up); its answer is dropped. */
  private internal(frame: ClientFrame): void {
    if (!this.upstream) return;
    const ref = this.nextRef++;
    this.routes.set(ref, { session: undefined });
    this.upstream.send({ ...frame, ref });
  }

  // ---- frames from the broker -----------------------------------------------------------

  private fromBroker(frame: ServerFrame): void {
    switch (frame.t) {
      case 'ok':
      case 'err': {
        const route = frame.ref === undefined ? undefined : this.routes.get(frame.ref);
        if (frame.ref === undefined) {
          for (const s of this.sessions.values()) this.down(s, frame);
          return;
        }
        if (!route) return;
        this.routes.delete(frame.ref);
        if (!route.session) return;
        route.after?.(frame);
        if (this.sessions.get(route.session.id) === route.session)
          this.down(route.session, { ...frame, ref: route.ref });
        return;
      }
      case 'msg': {
        const topics = ancestry(frame.topic);
        for (const s of this.sessions.values()) {
          if (!topics.some((t) => s.subs.has(t))) continue;
          if (s.recovering.size > 0) s.held.push(frame);
          else this.down(s, frame);
        }
        return;
      }
      case 'bus':
        for (const s of this.sessions.values()) if (s.joins.has(frame.topic)) this.down(s, frame);
        return;
      case 'presence':
        for (const s of this.sessions.values()) if (s.presence.has(frame.topic)) this.down(s, frame);
        return;
      case 'gap': {
        if (frame.bus) {
          for (const s of this.sessions.values()) if (s.joins.has(frame.topic)) this.down(s, frame);
          return;
        }
        // A gap found while recovering concerns the tab that asked to recover, not the others.
        const recovering = [...this.sessions.values()].filter((s) => s.recovering.has(frame.topic));
        const to =
          recovering.length > 0 ? recovering : [...this.sessions.values()].filter((s) => s.subs.has(frame.topic));
        for (const s of to) this.down(s, frame);
        return;
      }
      case 'job': {
        let queue = this.waiting.get(frame.topic);
        if (!queue) this.waiting.set(frame.topic, (queue = []));
        queue.push({ id: frame.id, frame });
        this.dispatch(frame.topic);
        return;
      }
      case 'bye':
        for (const s of this.sessions.values()) this.down(s, frame);
        return;
    }
  }

  /** Hands the topic's waiting jobs to the tabs pulling it that have room, taking turns. */
  private dispatch(topic: string): void {
    const queue = this.waiting.get(topic);
    if (!queue) return;
    while (queue.length > 0) {
      const pullers = [...this.sessions.values()].filter((s) => {
        const prefetch = s.pulls.get(topic);
        if (prefetch === undefined) return false;
        let held = 0;
        for (const t of s.jobs.values()) if (t === topic) held++;
        return held < prefetch;
      });
      if (pullers.length === 0) {
        // Nobody pulls it any more: back to the queue. Everybody busy: it waits here.
        if (!this.anyone((s) => s.pulls.has(topic))) {
          for (const job of queue) this.internal({ t: 'nack', ref: 0, id: job.id });
          this.waiting.delete(topic);
        }
        return;
      }
      const job = queue.shift()!;
      const session = pullers[this.turn++ % pullers.length]!;
      session.jobs.set(job.id, topic);
      this.down(session, job.frame);
    }
    this.waiting.delete(topic);
  }

  // ---- the connection -------------------------------------------------------------------

  private ensureUpstream(): Promise<void> {
    if (this.upstream) return Promise.resolve();
    this.opening ??= this.openUpstream().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  /** Each transport in turn, the last one that worked first; rejects with the last failure. */
  private async openUpstream(): Promise<void> {
    const context = this.context();
    const n = this.factories.length;
    let failure: unknown = new RtError('unavailable', 'no transport to try');
    for (let i = 0; i < n; i++) {
      const index = (this.preferred + i) % n;
      const factory = this.factories[index]!;
      const transport = factory.create(context, {
        frame: (frame) => {
          if (this.upstream === transport) this.fromBroker(frame);
        },
        close: (reason) => {
          if (this.upstream !== transport) return;
          this.upstream = undefined;
          this.dropUpstream(reason);
        },
      });
      try {
        await transport.open();
      } catch (error) {
        transport.close();
        failure = error;
        continue;
      }
      if (this.closed) {
        transport.close();
        throw new RtError('unavailable', 'the leader tab stepped down');
      }
      this.preferred = index;
      this.upstream = transport;
      this.upstreamName = factory.name;
      return;
    }
    const code: ErrorCode =
      failure instanceof RtError && (failure.code === 'unauthorized' || failure.code === 'forbidden')
        ? failure.code
        : 'unavailable';
    throw new RtError(
      code,
      `the leader tab could not connect: ${failure instanceof Error ? failure.message : String(failure)}`,
    );
  }

  /** The connection is gone: every session ends; the tabs' clients reconnect and recover. */
  private dropUpstream(reason: string): void {
    for (const session of [...this.sessions.values()]) {
      session.channel.postMessage({ k: 'close', reason } satisfies SessionMessage);
      this.forget(session);
    }
    this.routes.clear();
    this.waiting.clear();
  }
}
