/**
 * Idempotency keys: a request sent again with the same key (a client resending a publish
 * after a reconnect, a backend retrying an HTTP POST) gets the first attempt's outcome
 * instead of being carried out twice. Keys are remembered for `ttlMs` and at most `max` of
 * them (the oldest go first); a failed attempt is forgotten at once, so a retry can succeed.
 */
export class Dedupe<T> {
  private readonly seen = new Map<string, { at: number; outcome: Promise<T> }>();
  private hits = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
  ) {}

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
    return outcome;
  }

  /** Requests answered from memory instead of being carried out again. */
  get duplicates(): number {
    return this.hits;
  }

  private prune(now: number): void {
    // A Map iterates in insertion order: the oldest entries come first.
    for (const [key, entry] of this.seen) {
      if (this.seen.size <= this.max && now - entry.at <= this.ttlMs) break;
      this.seen.delete(key);
    }
  }
}
