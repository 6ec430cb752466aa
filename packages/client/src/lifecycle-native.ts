import type { Lifecycle, LifecycleEvent } from './lifecycle.js';

/** The part of React Native's `AppState` the adapter uses. */
export interface AppStateLike {
  /** `active`, `background`, `inactive` (iOS, in between), `unknown` or `extension`. */
  readonly currentState: string | null | undefined;
  addEventListener(type: 'change', listener: (state: string) => void): { remove(): void };
}

/** What `NetInfo` reports (the fields the adapter reads). */
export interface NetInfoStateLike {
  isConnected: boolean | null;
  isInternetReachable?: boolean | null;
}

/** The part of `@react-native-community/netinfo`'s default export the adapter uses. */
export interface NetInfoLike {
  /** Calls `listener` with the current state at once, then on every change; returns the unsubscribe. */
  addEventListener(listener: (state: NetInfoStateLike) => void): () => void;
}

/** Options of {@link reactNativeLifecycle}. */
export interface ReactNativeLifecycleOptions {
  /** `AppState` from `react-native`. */
  AppState: AppStateLike;
  /** `NetInfo` from `@react-native-community/netinfo`; without it, only the app state is followed. */
  NetInfo?: NetInfoLike;
}

/**
 * The React Native {@link Lifecycle}: `AppState` says foreground/background, `NetInfo` says
 * online/offline. Give it to `connect()`:
 *
 * ```ts
 * import { AppState } from 'react-native';
 * import NetInfo from '@react-native-community/netinfo';
 * const client = connect(url, { lifecycle: reactNativeLifecycle({ AppState, NetInfo }) });
 * ```
 *
 * `active` is the foreground and `background` the background; iOS's passing `inactive` (the
 * app switcher, a system dialog) changes nothing. Offline is `isConnected === false` or
 * `isInternetReachable === false`; an unknown (`null`) reachability is not offline. Each event
 * is reported once per change. An app that starts in the background (a headless task) is
 * reported as such at once.
 */
export function reactNativeLifecycle({ AppState, NetInfo }: ReactNativeLifecycleOptions): Lifecycle {
  return {
    subscribe(listener: (event: LifecycleEvent) => void): () => void {
      let foreground: boolean | undefined;
      let online: boolean | undefined;
      const onAppState = (state: string | null | undefined): void => {
        const now = state === 'active' ? true : state === 'background' ? false : undefined;
        if (now === undefined || now === foreground) return;
        // The first state known is only news when it is the background: the client starts in the foreground.
        const first = foreground === undefined;
        foreground = now;
        if (!first || !now) listener(now ? 'foreground' : 'background');
      };
      const onNetInfo = (state: NetInfoStateLike): void => {
        if (state.isConnected === null && state.isInternetReachable == null) return;
        const now = state.isConnected !== false && state.isInternetReachable !== false;
        if (now === online) return;
        const first = online === undefined;
        online = now;
        if (!first || !now) listener(now ? 'online' : 'offline');
      };
      onAppState(AppState.currentState);
      const appState = AppState.addEventListener('change', onAppState);
      const stopNetInfo = NetInfo?.addEventListener(onNetInfo);
      return () => {
        appState.remove();
        stopNetInfo?.();
      };
    },
  };
}
