import { type ClientFrame, RtError } from '@rt/protocol';
import type {
  ClientTransport,
  TransportContext,
  TransportEvents,
  TransportFactory,
  TransportName,
} from '../transports/transport.js';
import { Election } from './election.js';
import { Leader } from './leader.js';
import { RollCall, lockWatch } from './watch.js';
import { type ControlMessage, type SessionMessage, controlChannel, sessionChannel, tabLock } from './messages.js';

/** The option of `connect()` that turns cross-tab sharing off. */
export interface ShareOptions {
  /**
   * Share one connection between the tabs (and workers) of this browser that connect to the
   * same broker with the same credentials: one of them, the leader, holds the connection and
   * the others' clients go through it. Default `true` where the browser has `BroadcastChannel`
   * and Web Crypto (every current browser, on https or localhost; the leader is chosen with
   * the Web Locks API, or over `BroadcastChannel` where it is missing); `false` gives this
   * client a connection of its own.
   */
  share?: boolean;
}

/** How long a tab stays in a group nobody in it uses any more, in ms (a reconnect reuses it). */
const LINGER_MS = 10_000;

/** The Web Locks API, when this browser has it. */
function webLocks(): LockManager | undefined {
  const g = globalThis as { navigator?: { locks?: { request?: unknown } | null } };
  return typeof g.navigator?.locks?.request === 'function' ? (g.navigator.locks as LockManager) : undefined;
}

/** True when `connect()` should share: a browser (page or worker) with the APIs, and not opted out. */
export function shouldShare(options: ShareOptions): boolean {
  if (options.share === false) return false;
  const g = globalThis as {
    document?: unknown;
    WorkerGlobalScope?: unknown;
    crypto?: { subtle?: unknown; randomUUID?: unknown };
    process?: { versions?: { node?: unknown } };
  };
  // A DOM emulated in Node (jsdom, happy-dom) is not a browser: each client keeps its own connection there.
  const browser =
    (typeof g.document === 'object' || typeof g.WorkerGlobalScope === 'function') && !g.process?.versions?.node;
  return (
    browser &&
    typeof BroadcastChannel === 'function' &&
    typeof g.crypto?.subtle === 'object' &&
    typeof g.crypto.randomUUID === 'function'
  );
}

/**
 * This tab's (or worker's) id, and the lock it holds for its life so leaders can tell when it
 * is gone (without Web Locks, `held` is at once: the leader's roll call tells instead).
 */
let self: { id: string; held: Promise<void> } | undefined;

function thisTab(): { id: string; held: Promise<void> } {
  if (self) return self;
  const id = randomId();
  const locks = webLocks();
  const held = locks
    ? new Promise<void>((resolve) => {
        void locks
          .request(tabLock(id), () => {
            resolve();
            return new Promise<void>(() => undefined);
          })
          .catch(() => resolve());
      })
    : Promise.resolve();
  // Without Web Locks, nothing tells the others a page went away: it says so itself.
  if (!locks)
    globalThis.addEventListener?.('pagehide', () => {
      for (const group of groups.values()) group.leave();
    });
  self = { id, held };
  return self;
}

/** The groups this tab takes part in, by key (broker URL, prefix, transports and credentials). */
const groups = new Map<string, Group>();

/**
 * This tab's part in one group of tabs that share a connection: it takes part in choosing the
 * leader (and leads when chosen), and knows which tab leads.
 */
class Group {
  readonly tab = thisTab();
  private leading: Leader | undefined;
  private election: Election | undefined;
  private readonly control: BroadcastChannel;
  private closed = false;
  private users = 0;
  private linger: ReturnType<typeof setTimeout> | undefined;
  /** Open or opening transports of this tab in the group. */
  readonly members = new Set<TabTransport>();

  constructor(
    readonly key: string,
    makeLeader: (id: string) => Leader,
  ) {
    const locks = webLocks();
    this.control = new BroadcastChannel(controlChannel(key));
    this.control.onmessage = (event: MessageEvent<ControlMessage>) => {
      const m = event.data;
      // The leader's roll call (without Web Locks): this tab is still here.
      if (m.k === 'roll') {
        if (m.id === this.leader) this.post({ k: 'here', tab: this.tab.id });
      } else this.election?.hear(m);
    };
    void this.tab.held.then(() => {
      if (this.closed) return;
      this.election = new Election(this.tab.id, key, this.control, locks, {
        lead: () => {
          this.leading = makeLeader(this.tab.id);
        },
        stepDown: () => {
          this.leading?.close();
          this.leading = undefined;
        },
        leader: (id) => {
          for (const member of [...this.members]) member.leaderChanged(id);
        },
      });
    });
  }

  /** The tab that leads the group, as far as this tab knows. */
  get leader(): string | undefined {
    return this.election?.leader;
  }

  /** True while this tab leads the group. */
  get isLeader(): boolean {
    return this.leading !== undefined;
  }

  hello(session: string, to: string): void {
    this.post({ k: 'hello', tab: this.tab.id, session, to });
  }

  /** The page goes away: the leader ends this tab's sessions now, and another tab leads if this one did. */
  leave(): void {
    this.election?.resign();
    this.post({ k: 'gone', tab: this.tab.id });
  }

  use(): void {
    this.users++;
    if (this.linger) clearTimeout(this.linger);
    this.linger = undefined;
  }

  /** Not used by this tab any more: after a while it leaves the group (and stops leading it). */
  release(): void {
    if (--this.users > 0) return;
    this.linger = setTimeout(() => {
      if (this.users > 0) return;
      groups.delete(this.key);
      this.closed = true;
      this.election?.close();
      this.control.close();
    }, LINGER_MS);
  }

  private post(m: ControlMessage): void {
    if (!this.closed) this.control.postMessage(m);
  }
}

/** A client's connection through the group's leader (its own, when this tab leads). */
class TabTransport implements ClientTransport {
  name: TransportName;
  private group: Group | undefined;
  private channel: BroadcastChannel | undefined;
  /** The leader this session was opened with (asked, until it welcomes). */
  private leader: string | undefined;
  private done = false;
  private settle: ((error?: Error) => void) | undefined;

  constructor(
    private readonly factory: SharedFactory,
    private readonly context: TransportContext,
    private readonly events: TransportEvents,
  ) {
    this.name = factory.name;
  }

  async open(): Promise<void> {
    const group = await this.factory.group(this.context);
    if (this.done) throw new RtError('closed', 'closed while opening');
    this.group = group;
    group.use();
    await group.tab.held;
    if (this.done) throw new RtError('closed', 'closed while opening');
    const opened = new Promise<void>((resolve, reject) => {
      this.settle = (error) => (error ? reject(error) : resolve());
    });
    group.members.add(this);
    // With no leader known yet, the session opens once one says it leads.
    if (group.leader !== undefined) this.hello(group.leader);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new RtError('timeout', `no tab opened the shared connection within ${this.context.openTimeoutMs} ms`)),
        this.context.openTimeoutMs,
      );
    });
    try {
      await Promise.race([opened, late]);
    } finally {
      clearTimeout(timer);
      this.settle = undefined;
    }
  }

  /**
   * Asks the leader `leader` for a session, on a channel of its own: only that leader answers
   * and serves it, so a tab never gets frames from two leaders (two can lead for a while).
   */
  private hello(leader: string): void {
    this.channel?.close();
    const session = randomId();
    const channel = new BroadcastChannel(sessionChannel(this.group!.key, session));
    channel.onmessage = (event: MessageEvent<SessionMessage>) => {
      if (this.channel === channel) this.onMessage(event.data);
    };
    this.channel = channel;
    this.leader = leader;
    this.group!.hello(session, leader);
  }

  private onMessage(m: SessionMessage): void {
    if (this.done) return;
    switch (m.k) {
      case 'welcome':
        this.name = m.transport;
        this.factory.name = m.transport;
        this.settle?.();
        return;
      case 'refuse':
        this.end();
        this.settle?.(new RtError(m.code, m.message));
        return;
      case 'down':
        if (!this.settle) this.events.frame(m.frame);
        return;
      case 'close':
        this.end();
        if (this.settle) this.settle(new RtError('unavailable', m.reason));
        else this.events.close(m.reason);
        return;
    }
  }

  /** The tab this one follows changed: a session with another one is over (that tab is gone, or a better one leads). */
  leaderChanged(id: string | undefined): void {
    if (this.done || id === this.leader) return;
    if (this.settle) {
      // Not welcomed yet: ask the new leader instead.
      if (id !== undefined) this.hello(id);
      return;
    }
    this.close();
    this.events.close('the leader tab changed');
  }

  send(frame: ClientFrame): void {
    if (!this.done) this.channel?.postMessage({ k: 'up', frame } satisfies SessionMessage);
  }

  close(): void {
    if (this.done) return;
    this.channel?.postMessage({ k: 'close', reason: 'closed by the client' } satisfies SessionMessage);
    this.end();
  }

  private end(): void {
    if (this.done) return;
    this.done = true;
    this.channel?.close();
    if (this.group) {
      this.group.members.delete(this);
      this.group.release();
    }
  }
}

/** The one transport of a shared client: a session with the group's leader, whatever transport it uses. */
class SharedFactory implements TransportFactory {
  /** The transport the leader's connection uses (what the client reports as its `transport`). */
  name: TransportName = 'websocket';
  /** The group of the latest connection attempt. */
  current: Group | undefined;

  constructor(private readonly factories: readonly TransportFactory[]) {}

  available(): boolean {
    return true;
  }

  create(context: TransportContext, events: TransportEvents): ClientTransport {
    return new TabTransport(this, context, events);
  }

  /** The group of tabs with this broker and these credentials. */
  async group(context: TransportContext): Promise<Group> {
    // Clients that ask for other transports or other credentials do not share. Headers are
    // credentials too where the browser sends them (long-polling's requests, SSE's POSTs).
    const transports = this.factories.map((f) => f.name).join(',');
    const headers = Object.entries(context.headers ?? {})
      .map(([name, value]) => `${name.toLowerCase()}: ${value}`)
      .sort()
      .join('\n');
    const key = await digest(`${context.url}\n${context.prefix}\n${transports}\n${context.token ?? ''}\n${headers}`);
    let group = groups.get(key);
    if (!group) {
      const available = this.factories.filter((f) => f.available(context));
      const locks = webLocks();
      group = new Group(
        key,
        (id) => new Leader(id, key, available, () => context, locks ? lockWatch(locks) : new RollCall(id, key)),
      );
      groups.set(key, group);
    }
    this.current = group;
    return group;
  }
}

/** The shared transport of each client that shares its connection. */
const sharing = new WeakMap<object, SharedFactory>();

/**
 * The transport of a client that shares its connection: one virtual transport through the
 * leader tab, which connects with `factories` (the client's own choice of transports).
 * `register` ties it to its client, for {@link shareRole}.
 */
export function sharedTransport(factories: readonly TransportFactory[]): {
  factory: TransportFactory;
  register(client: object): void;
} {
  const factory = new SharedFactory(factories);
  return { factory, register: (client) => sharing.set(client, factory) };
}

/**
 * This tab's part in the connection `client` goes through: `leader` when this tab (or worker)
 * holds it for the tabs of this browser, `follower` when it goes through another tab's,
 * `undefined` when the client has a connection of its own (`share: false`, or no support).
 */
export function shareRole(client: object): 'leader' | 'follower' | undefined {
  const factory = sharing.get(client);
  if (!factory) return undefined;
  return factory.current?.isLeader ? 'leader' : 'follower';
}

/** SHA-256 of `text` in hex: group keys name channels and locks, and must not show the token. */
async function digest(text: string): Promise<string> {
  const bytes = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');
}

function randomId(): string {
  return crypto.randomUUID();
}
