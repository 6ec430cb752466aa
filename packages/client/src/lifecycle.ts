/**
 * What the app's host tells the client about its own life: in the foreground or not, online
 * or not. Browsers have these signals built in (`visibilitychange`, `online`/`offline`); React
 * Native apps pass an adapter over `AppState` and `NetInfo`. The client reacts: it closes the
 * connection after a grace period in the background, and reconnects at once (backoff reset,
 * with recovery) on `foreground` or `online`.
 */
export type LifecycleEvent = 'foreground' | 'background' | 'online' | 'offline';

/** A source of {@link LifecycleEvent}s, given to `connect()` as `lifecycle`. */
export interface Lifecycle {
  /** Starts listening; returns a function that stops. */
  subscribe(listener: (event: LifecycleEvent) => void): () => void;
}
