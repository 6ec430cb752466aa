/** How long a nacked job waits before it goes back to the puller that failed it, at most. */
const MAX_REDELIVERY_DELAY_MS = 10_000;

/**
 * The wait before attempt `attempt + 1` of a job goes back to the puller that failed it:
 * `redeliveryDelayMs`, doubled per attempt, at most {@link MAX_REDELIVERY_DELAY_MS}. Every
 * engine uses it, so the delay is the same whichever engine runs.
 */
export function redeliveryDelay(redeliveryDelayMs: number, attempt: number): number {
  return Math.min(redeliveryDelayMs * 2 ** Math.max(0, attempt - 1), MAX_REDELIVERY_DELAY_MS);
}

/**
 * One timer that fires at the earliest time it was asked for: asking for a later time while
 * an earlier one is set changes nothing. Used to dispatch again when a delayed job is due.
 */
export class Alarm {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private at = Infinity;

  /** Calls `fire` at `when` (ms since the epoch), unless the alarm already rings sooner. */
  set(when: number, fire: () => void): void {
    if (when >= this.at) return;
    clearTimeout(this.timer);
    this.at = when;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.at = Infinity;
        fire();
      },
      Math.max(0, when - Date.now()),
    );
    this.timer.unref();
  }

  /** Cancels the alarm. */
  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.at = Infinity;
  }
}
