/**
 * Idempotency keys: a request sent again with the same key (a client resending a publish
 * after a reconnect, a backend retrying an HTTP POST) gets the first attempt's outcome
 * instead of being carried out twice. Keys are remembered for `ttlMs` and at most `max` of
 * them (the oldest go first); a failed attempt is forgotten at once, so a retry can succeed.
 * Expired keys are pruned on a timer that runs only while keys are remembered (so an idle
 * broker, or a closed one, holds neither keys nor a timer past the window).
 */
export class Dedupe<T> {
  private readonly seen = new Map<string, { at: number; outcome: Promise<T> }>();
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
    const known = this.seen.get(key);
    if (known) {
      this.hits++;
      return known.outcome;
    }
    const outcome = attempt();
    this.seen.set(key, { at: now, outcome });
    outcome.catch(() => {
      if (this.seen.get(key)?.outcome === outcome) this.seen.delete(key);
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
    // A Map iterates in insertion order: the oldest entries come first.
    for (const [key, entry] of this.seen) {
      if (this.seen.size <= this.max && now - entry.at <= this.ttlMs) break;
      this.seen.delete(key);
    }
    if (this.seen.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
