/**
 * One Mercure subscriber: an SSE response, its selectors, what its token allows, and the
 * timers that keep it open (heartbeat) or end it (token expiry).
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Flusher } from '../session.js';
import { type Selector, matchesAny } from './selectors.js';
import type { MercureGrant } from './tokens.js';
import type { Update } from './update.js';

/** Longest delay `setTimeout` accepts; later expiries are re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Settings a subscriber needs from the hub. */
export interface SubscriberSettings {
  heartbeatMs: number;
  maxBufferedBytes: number;
  dispatchTimeoutMs: number;
  /** The broker's flusher: a burst of updates becomes one write per connection. */
  flusher: Flusher;
  /** Called once when the subscriber ends, whatever the reason. */
  onClose(subscriber: MercureSubscriber): void;
}

/** A subscriber connection. */
export class MercureSubscriber {
  /** `urn:uuid:` + UUIDv4, the same for all of this subscriber's subscriptions. */
  readonly id = `urn:uuid:${randomUUID()}`;
  closed = false;
  /** While true, live updates wait (a replay from history goes first). */
  private replaying = true;
  private held: Update[] = [];
  /** The replay still to write (entries are let go of once written), and the position it reaches. */
  private replay: (Update | undefined)[] = [];
  private replayAt = 0;
  private upTo = 0;
  private pending = '';
  private heartbeat: ReturnType<typeof setTimeout> | undefined;
  private expiry: ReturnType<typeof setTimeout> | undefined;
  private stall: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly res: ServerResponse,
    /** What the subscriber asked for (`topic`, `match`, `match_urlpattern`). */
    readonly selectors: readonly Selector[],
    /** What its token allows; `null` for an anonymous subscriber. */
    readonly grant: MercureGrant | null,
    private readonly settings: SubscriberSettings,
  ) {
    res.on('close', () => this.close());
    if (grant?.expiresAt !== undefined) this.armExpiry(grant.expiresAt);
  }

  /**
   * True when this subscriber receives `update`: one of its selectors matches one of the
   * update's topics, and a private update also needs a `mercure.subscribe` selector of its
   * token that matches one of the update's topics (they may differ from the routing ones).
   */
  wants(update: Update): boolean {
    if (!matchesAny(this.selectors, update.topics)) return false;
    return !update.private || (this.grant !== null && matchesAny(this.grant.subscribe, update.topics));
  }

  /** Offers a live update. */
  offer(update: Update): void {
    if (this.closed || !this.wants(update)) return;
    if (this.replaying) this.held.push(update);
    else this.enqueue(update.sse());
  }

  /**
   * Sends the headers (and a `:` comment, flushed at once so `EventSource.onopen` fires), then
   * the replay, then the live updates that arrived meanwhile and came after position `upTo`.
   * The replay is written in chunks of about `maxBufferedBytes`, the next once the socket
   * drained: a subscriber that does not read holds at most about that much of it here, and is
   * cut off when it has not drained within `dispatchTimeoutMs`.
   */
  start(headers: Record<string, string>, replay: readonly Update[], upTo: number): void {
    if (this.closed) return;
    this.res.writeHead(200, headers);
    this.res.write(':\n\n');
    this.replay = replay.filter((update) => this.wants(update));
    this.upTo = upTo;
    this.pumpReplay();
  }

  /** Writes the replay chunk by chunk, then goes live. */
  private pumpReplay(): void {
    const { maxBufferedBytes, dispatchTimeoutMs } = this.settings;
    while (this.replayAt < this.replay.length) {
      if (this.closed) return;
      let chunk = '';
      while (this.replayAt < this.replay.length && chunk.length < maxBufferedBytes) {
        chunk += this.replay[this.replayAt]!.sse();
        this.replay[this.replayAt++] = undefined;
      }
      const flowing = this.res.write(chunk);
      if (!flowing || this.res.writableLength > maxBufferedBytes) {
        const stall = setTimeout(() => this.cut(), dispatchTimeoutMs);
        stall.unref();
        this.res.once('drain', () => {
          clearTimeout(stall);
          this.pumpReplay();
        });
        return;
      }
    }
    if (this.closed) return;
    this.replay = [];
    for (const update of this.held) if (update.off > this.upTo) this.pending += update.sse();
    this.held = [];
    this.replaying = false;
    if (this.pending) this.flush();
    else this.armHeartbeat();
  }

  /** Writes what is waiting. Called by the flusher. */
  flush(): void {
    if (this.closed || this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    this.res.write(text);
    this.checkBuffer();
    this.armHeartbeat();
  }

  /**
   * A subscriber that does not read is cut off (past `maxBufferedBytes`, if it has not drained
   * within `dispatchTimeoutMs`; at once past 8 times that): it reconnects with Last-Event-ID
   * and recovers from history instead of growing this process's memory.
   */
  private checkBuffer(): void {
    const { maxBufferedBytes, dispatchTimeoutMs } = this.settings;
    const buffered = this.res.writableLength;
    if (buffered > maxBufferedBytes * 8) this.cut();
    else if (buffered > maxBufferedBytes && !this.stall) {
      this.stall = setTimeout(() => {
        this.stall = undefined;
        if (this.res.writableLength > maxBufferedBytes) this.cut();
      }, dispatchTimeoutMs);
      this.stall.unref();
    }
  }

  private cut(): void {
    this.res.destroy();
    this.close();
  }

  /** Ends the stream (token expiry, broker shutdown) and forgets the subscriber. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.heartbeat);
    clearTimeout(this.expiry);
    clearTimeout(this.stall);
    this.held = [];
    this.replay = [];
    this.pending = '';
    if (!this.res.writableEnded) this.res.end();
    this.settings.onClose(this);
  }

  private enqueue(text: string): void {
    const first = this.pending === '';
    this.pending += text;
    if (first) this.settings.flusher.schedule(this);
  }

  private armHeartbeat(): void {
    if (this.settings.heartbeatMs <= 0 || this.closed) return;
    if (this.heartbeat) this.heartbeat.refresh();
    else {
      this.heartbeat = setTimeout(() => {
        this.heartbeat = undefined;
        if (this.closed) return;
        this.res.write(':\n\n');
        this.armHeartbeat();
      }, this.settings.heartbeatMs);
      this.heartbeat.unref();
    }
  }

  private armExpiry(at: number): void {
    const left = at - Date.now();
    this.expiry = setTimeout(
      () => (left > MAX_TIMER_MS ? this.armExpiry(at) : this.close()),
      Math.max(0, Math.min(left, MAX_TIMER_MS)),
    );
    this.expiry.unref();
  }
}
