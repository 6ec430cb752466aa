import { BEAT_MS, type ControlMessage, DEAD_MS, controlChannel, tabLock } from './messages.js';

/** Tells the leader when a tab (or worker) with sessions is gone, so it ends them (and gives back their jobs). */
export interface TabWatch {
  /** Calls `gone` once the tab `tab` is gone. */
  watch(tab: string, gone: () => void): void;
  close(): void;
}

/** With Web Locks: every tab holds a lock of its own for its life, which the browser grants the leader once the tab is gone. */
export function lockWatch(locks: LockManager): TabWatch {
  const watched = new Set<string>();
  const abort = new AbortController();
  return {
    watch(tab, gone) {
      if (watched.has(tab)) return;
      watched.add(tab);
      void locks
        .request(tabLock(tab), { signal: abort.signal }, () => {
          watched.delete(tab);
          gone();
        })
        .catch(() => undefined);
    },
    close: () => abort.abort(),
  };
}

/**
 * Without Web Locks: the leader calls the roll every {@link BEAT_MS} on the control channel and
 * each tab answers `here` from its message handler (which timer throttling in background tabs
 * does not slow down). A tab that has not answered a roll call made {@link DEAD_MS} ago or more
 * is gone (closed, crashed or frozen); a page that goes away says `gone` itself (`pagehide`).
 */
export class RollCall implements TabWatch {
  private readonly channel: BroadcastChannel;
  private readonly timer: ReturnType<typeof setInterval>;
  /** When the roll calls not yet judged were made. */
  private readonly rolls: number[] = [];
  private readonly tabs = new Map<string, { seen: number; gone: () => void }>();

  constructor(
    private readonly id: string,
    key: string,
  ) {
    this.channel = new BroadcastChannel(controlChannel(key));
    this.channel.onmessage = (event: MessageEvent<ControlMessage>) => {
      const m = event.data;
      if (m.k === 'here' || m.k === 'ping' || m.k === 'hello') {
        const tab = this.tabs.get(m.tab);
        if (tab) tab.seen = Date.now();
      } else if (m.k === 'gone') this.end(m.tab);
    };
    this.timer = setInterval(() => this.roll(), BEAT_MS);
  }

  watch(tab: string, gone: () => void): void {
    if (tab !== this.id && !this.tabs.has(tab)) this.tabs.set(tab, { seen: Date.now(), gone });
  }

  close(): void {
    clearInterval(this.timer);
    this.channel.close();
  }

  private roll(): void {
    const now = Date.now();
    let due: number | undefined;
    while (this.rolls.length > 0 && now - this.rolls[0]! >= DEAD_MS) due = this.rolls.shift();
    if (due !== undefined) for (const [tab, { seen }] of [...this.tabs]) if (seen < due) this.end(tab);
    this.rolls.push(now);
    this.channel.postMessage({ k: 'roll', id: this.id } satisfies ControlMessage);
  }

  private end(tab: string): void {
    const watched = this.tabs.get(tab);
    if (!watched) return;
    this.tabs.delete(tab);
    watched.gone();
  }
}
