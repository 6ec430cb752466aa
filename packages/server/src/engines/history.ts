/**
 * The embedded engine's recovery history, bounded four ways: messages per topic
 * (`historySize`), age (`historyTtlMs`), bytes of all topics together (`maxHistoryBytes`: the
 * oldest messages broker-wide go first) and topics with a history (`maxHistoryTopics`: the
 * least recently published topic's history goes first). Whatever is dropped is remembered by
 * offset, so a recovery reaching back past it gets a `history` gap, never silence.
 */
import { type Payload, ancestry, isBinary } from '@rt/protocol';
import { DEFAULT_LIMITS } from '../options.js';
import type { EngineLimits, EngineStats, MessageMeta, Recovery, StoredMessage } from './engine.js';

/** What one history message costs besides its payload and topic (the object, its list links, its slots in the histories), in bytes. */
const HELD_OVERHEAD = 128;

/**
 * One stored message, held once however many histories list it (its topic's, each ancestor's,
 * the root's): a JSON payload as its JSON text only (parsed again on recovery), a binary one
 * as its bytes. Messages held by any history form one list in publish order, so the oldest
 * can be evicted broker-wide.
 */
class Held {
  /** Histories listing this message; at 0 it leaves the list and its bytes are freed. */
  refs = 0;
  prev: Held | undefined;
  next: Held | undefined;
  readonly size: number;

  constructor(
    readonly topic: string,
    readonly off: number,
    readonly at: number,
    readonly body: string | Uint8Array,
    readonly meta: MessageMeta | undefined,
  ) {
    const payload = typeof body === 'string' ? body.length : body.byteLength;
    this.size = payload + topic.length + (meta ? JSON.stringify(meta).length : 0) + HELD_OVERHEAD;
  }

  /** The message as recovery returns it: a JSON payload is parsed from its text when read, each time (nothing kept). */
  message(): StoredMessage {
    const { topic, off, body, meta } = this;
    const message: StoredMessage =
      typeof body === 'string'
        ? {
            topic,
            off,
            dataText: body,
            get data(): Payload {
              return JSON.parse(body) as Payload;
            },
          }
        : { topic, off, data: body };
    if (meta !== undefined) message.meta = meta;
    return message;
  }
}

/** One topic's bounded history: the newest messages of the topic and its subtree. */
class History {
  entries: Held[] = [];
  /** Neighbours in the order of last publish (see `HistoryStore.lru`). */
  older: History | undefined;
  newer: History | undefined;

  /** `floor`: the offset of the newest message this history (or an earlier one of the topic) dropped (0: none). */
  constructor(
    readonly topic: string,
    public floor: number,
  ) {}
}

/** What the history holds, for `broker.stats()`. */
type HistoryStats = Required<
  Pick<EngineStats, 'historyTopics' | 'historyMessages' | 'historyBytes' | 'historyEvicted' | 'historyTopicsEvicted'>
>;

/** Every topic's history in one process (see the module comment). */
export class HistoryStore {
  private readonly histories = new Map<string, History>();
  /** The least and the most recently published history: a list, so that finding the one to evict costs nothing. */
  private lru: History | undefined;
  private mru: History | undefined;
  /**
   * The newest offset of each history removed whole (expired or evicted), the latest removal
   * last, at most about `maxHistoryTopics` of them (trimmed in batches when twice that): a
   * recovery of that topic, or its next history, knows what was lost.
   */
  private readonly removed = new Map<string, number>();
  /** The highest offset forgotten from {@link removed}: a recovery of a topic without history from before it may have lost messages. */
  private forgotten = 0;
  private oldest: Held | undefined;
  private newest: Held | undefined;
  private bytes = 0;
  private messages = 0;
  private evicted = 0;
  private topicsEvicted = 0;
  private readonly maxBytes: number;
  private readonly maxTopics: number;

  constructor(private readonly limits: EngineLimits) {
    this.maxBytes = limits.maxHistoryBytes ?? DEFAULT_LIMITS.maxHistoryBytes;
    this.maxTopics = limits.maxHistoryTopics ?? DEFAULT_LIMITS.maxHistoryTopics;
  }

  /** Keeps `message` in the history of its topic, of each ancestor and of the root `''`, then enforces the budgets. */
  add(message: StoredMessage, now: number): void {
    const size = this.limits.historySize;
    if (size <= 0) return;
    const { topic, data } = message;
    const body = isBinary(data)
      ? data instanceof Uint8Array
        ? data
        : new Uint8Array(data)
      : (message.dataText ?? JSON.stringify(data));
    const held = new Held(topic, message.off, now, body, message.meta);
    if (this.newest) this.newest.next = held;
    else this.oldest = held;
    held.prev = this.newest;
    this.newest = held;
    this.bytes += held.size;
    this.messages++;
    for (const t of ['', ...ancestry(topic)]) {
      let history = this.histories.get(t);
      if (history) this.unlist(history);
      else {
        history = new History(t, this.removed.get(t) ?? this.forgotten);
        this.removed.delete(t);
        this.histories.set(t, history);
      }
      history.older = this.mru;
      if (this.mru) this.mru.newer = history;
      else this.lru = history;
      this.mru = history;
      history.entries.push(held);
      held.refs++;
      if (history.entries.length > size) this.drop(history, history.entries.length - size);
    }
    // The least recently published topics go first, never those of this publish.
    while (this.histories.size > this.maxTopics && this.lru && this.lru.entries.at(-1) !== held) {
      this.remove(this.lru);
      this.topicsEvicted++;
    }
    while (this.bytes > this.maxBytes && this.oldest) {
      this.evictOldest();
      this.evicted++;
    }
  }

  /** Drops the messages older than `historyTtlMs`. */
  expire(now: number): void {
    while (this.oldest && now - this.oldest.at > this.limits.historyTtlMs) this.evictOldest();
  }

  /** What `topic`'s subtree published after (`ep`, `off`), `epoch` being the current epoch (see `Engine.recover`). */
  recover(topic: string, epoch: string, ep: string, off: number, now: number): Omit<Recovery, 'ep' | 'off'> {
    this.expire(now);
    const history = this.histories.get(topic);
    // The client's position is from a history that is gone (this process restarted): what is
    // lost is lost, but what this epoch published before the resubscribe is replayed.
    if (ep !== epoch) return { messages: history ? history.entries.map((h) => h.message()) : [], gap: 'epoch' };
    if (!history)
      return off < (this.removed.get(topic) ?? this.forgotten) ? { messages: [], gap: 'history' } : { messages: [] };
    const messages = history.entries.filter((h) => h.off > off).map((h) => h.message());
    return off < history.floor ? { messages, gap: 'history' } : { messages };
  }

  stats(): HistoryStats {
    return {
      historyTopics: this.histories.size,
      historyMessages: this.messages,
      historyBytes: this.bytes,
      historyEvicted: this.evicted,
      historyTopicsEvicted: this.topicsEvicted,
    };
  }

  /** Drops the oldest message held from every history that lists it (it is first in each). */
  private evictOldest(): void {
    const held = this.oldest!;
    for (const t of ['', ...ancestry(held.topic)]) {
      const history = this.histories.get(t);
      if (history?.entries[0] === held) this.drop(history, 1);
    }
    if (held.refs > 0) this.unlink(held);
  }

  /** Drops the `n` oldest entries of `history`; an emptied history is removed. */
  private drop(history: History, n: number): void {
    const entries = history.entries;
    // shift(), not splice(): V8 moves the array's start instead of copying the rest.
    for (let i = 0; i < n; i++) {
      const held = entries.shift()!;
      history.floor = held.off;
      this.release(held);
    }
    if (entries.length === 0) this.remove(history);
  }

  /** Removes a history whole, remembering the newest offset it had. */
  private remove(history: History): void {
    const topic = history.topic;
    this.histories.delete(topic);
    this.unlist(history);
    for (const held of history.entries) this.release(held);
    this.removed.delete(topic);
    this.removed.set(topic, history.entries.at(-1)?.off ?? history.floor);
    // In batches: a Map is slow to take its first entry again and again after many deletes.
    if (this.removed.size >= 2 * this.maxTopics) {
      for (const [t, last] of this.removed) {
        if (this.removed.size <= this.maxTopics) break;
        this.forgotten = Math.max(this.forgotten, last);
        this.removed.delete(t);
      }
    }
  }

  /** Takes `history` out of the order of last publish. */
  private unlist(history: History): void {
    if (history.older) history.older.newer = history.newer;
    else if (this.lru === history) this.lru = history.newer;
    if (history.newer) history.newer.older = history.older;
    else if (this.mru === history) this.mru = history.older;
    history.older = history.newer = undefined;
  }

  private release(held: Held): void {
    if (--held.refs === 0) this.unlink(held);
  }

  private unlink(held: Held): void {
    held.refs = 0;
    if (held.prev) held.prev.next = held.next;
    else this.oldest = held.next;
    if (held.next) held.next.prev = held.prev;
    else this.newest = held.prev;
    held.prev = held.next = undefined;
    this.bytes -= held.size;
    this.messages--;
  }
}
