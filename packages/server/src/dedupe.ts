/**
 * Idempotency keys: a request sent again with the same key (a client resending a publish
 * after a reconnect, a backend retrying an HTTP POST) gets the first attempt's outcome
 * instead of being carried out twice. Keys are remembered for `ttlMs` and at most `max` of
 * them (the oldest go first); a failed attempt is forgotten at once, so a retry can succeed.
 * Expired keys are pruned on a timer that runs only while keys are remembered (so an idle
 * broker, or a closed one, holds neither keys nor a timer past the window).
 */
export class Dedupe<T> {
  private readonly seen = new Map<string, Remembered<T>>();
  /**
   * The keys in the order they were remembered, oldest first from {@link head} (entries a failed
   * attempt removed from {@link seen} stay until their turn). Pruning walks this, not
   * {@link seen}: a Map iterated from its start skips every entry deleted since its last rehash,
   * which made each publish at the size bound cost about 100 µs (100,000 keys).
   */
  private order: Remembered<T>[] = [];
  private head = 0;
  /** Entries of {@link order} no longer in {@link seen} (their attempt failed). */
  private stale = 0;
  private hits = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** How often expired keys are pruned, in ms: a key is forgotten at most this long after its window. */
  private readonly everyMs: number;

  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
  ) {
    this.everyMs = Math.min(Math.max(ttlMs, 100), 10_000);
  }

  /** Runs `attempt` unless `key` was seen within the window; then returns that outcome. */
  run(key: string, attempt: () => Promise<T>): Promise<T> {
    const now = Date.now();
    this.prune(now);
    const known = this.seen.get(key)?.outcome;
    if (known) {
      this.hits++;
      return known;
    }
    const outcome = attempt();
    const entry: Remembered<T> = { key, at: now, outcome };
    this.seen.set(key, entry);
    this.order.push(entry);
    outcome.catch(() => {
      if (this.seen.get(key) !== entry) return;
      this.seen.delete(key);
      // What the failure holds (its error's stack, with the request's payload) goes now, not at the entry's turn.
      entry.outcome = undefined;
      // Many failed attempts within the window: their entries go at once, not at their turn.
      if (++this.stale > this.seen.size + 1024) this.compact();
    });
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.prune(Date.now()), this.everyMs);
      this.timer.unref?.();
    }
    return outcome;
  }

  /** Requests answered from memory instead of being carried out again. */
  get duplicates(): number {
    return this.hits;
  }

  /** Keys remembered now. */
  get size(): number {
    return this.seen.size;
  }

  private prune(now: number): void {
    const order = this.order;
    while (this.head < order.length) {
      const entry = order[this.head]!;
      if (this.seen.size <= this.max && now - entry.at <= this.ttlMs) break;
      this.head++;
      if (this.seen.get(entry.key) === entry) this.seen.delete(entry.key);
      else this.stale--;
    }
    if (this.head === order.length) {
      this.order = [];
      this.head = 0;
      this.stale = 0;
    } else if (this.head >= 1024 && this.head * 2 >= order.length) {
      this.order = order.slice(this.head);
      this.head = 0;
    }
    if (this.seen.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Drops the entries of failed attempts from {@link order}. */
  private compact(): void {
    this.order = this.order.slice(this.head).filter((entry) => this.seen.get(entry.key) === entry);
    this.head = 0;
    this.stale = 0;
  }
}

/** A key remembered, with its first attempt's outcome. */
interface Remembered<T> {
  key: string;
  at: number;
  /** Unset once the attempt failed (the entry then waits in the queue, forgotten). */
  outcome: Promise<T> | undefined;
}
