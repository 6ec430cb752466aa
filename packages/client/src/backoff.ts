/** Reconnect settings. */
export interface BackoffOptions {
  /** Delay before the first reconnect attempt, in ms. Default 250. */
  initialDelayMs?: number;
  /** Longest delay between attempts, in ms. Default 10,000. */
  maxDelayMs?: number;
  /** Attempts before giving up and closing (`Infinity`: never give up). Default `Infinity`. */
  maxAttempts?: number;
}

/**
 * The delay before reconnect attempt `attempt` (0 for the first): exponential growth from
 * `initialDelayMs`, capped at `maxDelayMs`, with jitter over the upper half of that window
 * so that clients dropped together do not all come back at once. `random` is injectable for
 * tests.
 */
export function backoffDelay(
  attempt: number,
  initialDelayMs: number,
  maxDelayMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
