import type { Lifecycle, LifecycleEvent } from './lifecycle.js';

/** The part of `window`/`document` the browser lifecycle listens to. */
interface EventTargetLike {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

/**
 * The browser's lifecycle: `online`/`offline` from `window`, `foreground`/`background` from
 * `document.visibilitychange`. Returns `undefined` where neither exists (Node, React Native:
 * pass an adapter there). `connect()` uses it by default.
 */
export function browserLifecycle(scope: object = globalThis): Lifecycle | undefined {
  const g = scope as { addEventListener?: unknown; document?: { visibilityState?: string } & Partial<EventTargetLike> };
  const win = typeof g.addEventListener === 'function' ? (scope as EventTargetLike) : undefined;
  const doc = g.document && typeof g.document.addEventListener === 'function' ? g.document : undefined;
  if (!win && !doc) return undefined;
  return {
    subscribe(listener: (event: LifecycleEvent) => void): () => void {
      const online = (): void => listener('online');
      const offline = (): void => listener('offline');
      const visibility = (): void => listener(doc?.visibilityState === 'hidden' ? 'background' : 'foreground');
      win?.addEventListener('online', online);
      win?.addEventListener('offline', offline);
      doc?.addEventListener?.('visibilitychange', visibility);
      return () => {
        win?.removeEventListener('online', online);
        win?.removeEventListener('offline', offline);
        doc?.removeEventListener?.('visibilitychange', visibility);
      };
    },
  };
}
