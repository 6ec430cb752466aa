/**
 * `@rt/react`: rt as React hooks, for React 18+ on the web and in React Native.
 *
 * ```tsx
 * import { RtProvider, useTopicValue, useConnectionState } from '@rt/react';
 *
 * function Temperature() {
 *   const reading = useTopicValue<{ celsius: number }>('home/kitchen/temp');
 *   const state = useConnectionState();
 *   return <p>{reading ? `${reading.celsius} °C` : '…'} ({state})</p>;
 * }
 * export const App = () => <RtProvider url="http://localhost:4000"><Temperature /></RtProvider>;
 * ```
 *
 * Hooks on the same client and topic share one subscription (bus join, puller): the broker
 * sees one, whatever the number of components. It is released when the last of them unmounts
 * (a turn later, so StrictMode's unmount-and-mount again keeps it).
 * @packageDocumentation
 */
import {
  type ReactNode,
  createContext,
  createElement,
  useCallback,
  useContext,
  useEffect,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
} from 'react';
import {
  type Client,
  type ConnectOptions,
  type ConnectionState,
  type GapEvent,
  type JobHandler,
  type Payload,
  type PullOptions,
  connect,
} from '@rt/client';
import { type Received, type SubscriptionStatus, busStore, pullerStore, topicStore } from './stores.js';

export type { Received, SubscriptionStatus } from './stores.js';

const RtContext = createContext<Client | null>(null);

/** Props of {@link RtProvider}: a client made by the app, or a URL to connect to. */
export type RtProviderProps = { children?: ReactNode } & (
  | { client: Client; url?: never; options?: never }
  | { url: string; options?: ConnectOptions; client?: never }
);

/**
 * Gives the components below it an rt client. With `client`, the app owns the client (and
 * closes it). With `url` (and `options`, read when it connects), the provider connects when it
 * mounts, closes the client when it unmounts, connects anew when `url` changes, and renders its
 * children once the client exists (right after its first commit).
 */
export function RtProvider(props: RtProviderProps): ReactNode {
  const { client: given, url, options, children } = props;
  const [owned, setOwned] = useState<Client | null>(null);
  const optionsRef = useLatest(options);
  // Made in an effect, not during render: a render React throws away (concurrent rendering)
  // must not leave a connection open. A layout effect, so the children appear before paint.
  useIsomorphicLayoutEffect(() => {
    if (given || url === undefined) return;
    const client = connect(url, optionsRef.current);
    setOwned(client);
    return () => {
      client.close();
      setOwned(null);
    };
  }, [given, url]);
  const client = given ?? owned;
  if (!client) return null;
  return createElement(RtContext.Provider, { value: client }, children);
}

const useIsomorphicLayoutEffect = typeof document === 'undefined' ? useEffect : useLayoutEffect;

/**
 * A ref to the latest committed `value`: callbacks given to hooks need not be stable, and a
 * render React throws away (concurrent rendering) never replaces the committed one.
 */
function useLatest<T>(value: T): { readonly current: T } {
  const ref = useRef(value);
  useIsomorphicLayoutEffect(() => {
    ref.current = value;
  });
  return ref;
}

/** The client of the nearest {@link RtProvider}. Throws outside of one. */
export function useClient(): Client {
  const client = useContext(RtContext);
  if (!client) throw new Error('useClient: no <RtProvider> above this component');
  return client;
}

/** The client's connection state (`client.state`), re-rendering on every change. */
export function useConnectionState(): ConnectionState {
  const client = useClient();
  const subscribe = useCallback((onChange: () => void) => client.on('state', onChange), [client]);
  const state = (): ConnectionState => client.state;
  return useSyncExternalStore(subscribe, state, state);
}

/** Options of {@link useSubscription}. */
export interface UseSubscriptionOptions<T> {
  /** Called with each message (the latest function given is called; it need not be stable). */
  onMessage?: (data: T, message: Received<T>) => void;
  /** Messages were lost (history too short, broker restarted): refetch what you derive from the topic. */
  onGap?: (event: GapEvent) => void;
}

/** The shared store of `topic`, held while the component is mounted, and its snapshot. */
function useTopic<T, S>(
  topic: string,
  limit: number,
  snapshot: (store: ReturnType<typeof topicStore<T>>) => S,
  callbacks?: UseSubscriptionOptions<T>,
): S {
  const client = useClient();
  const store = useMemo(() => topicStore<T>(client, topic), [client, topic]);
  const latest = useLatest(callbacks);
  const subscribe = useCallback(
    (onChange: () => void) =>
      store.listen(
        onChange,
        limit,
        (message) => latest.current?.onMessage?.(message.data, message),
        (event) => latest.current?.onGap?.(event),
      ),
    [store, limit],
  );
  const get = (): S => snapshot(store);
  return useSyncExternalStore(subscribe, get, get);
}

/**
 * Subscribes to `topic` (and its descendants) while the component is mounted; `onMessage` is
 * called with each message. Returns the subscription's status: `pending` until the broker
 * confirms it, `ready`, or `error` (refused: `status.error` says why).
 */
export function useSubscription<T = unknown>(
  topic: string,
  options: UseSubscriptionOptions<T> = {},
): SubscriptionStatus {
  return useTopic<T, SubscriptionStatus>(topic, 1, (store) => store.status, options);
}

/**
 * The latest message's payload on `topic` (or a descendant), `undefined` until one arrives.
 * Components on the same topic share it: one mounted later starts from the latest message.
 */
export function useTopicValue<T = unknown>(topic: string): T | undefined {
  return useTopic<T, T | undefined>(topic, 1, (store) => store.messages.at(-1)?.data);
}

/** Options of {@link useMessages}. */
export interface UseMessagesOptions {
  /** How many of the latest messages to keep. Default 100. */
  limit?: number;
}

/** The latest messages on `topic` (and its descendants), oldest first, at most `limit`. */
export function useMessages<T = unknown>(topic: string, options: UseMessagesOptions = {}): readonly Received<T>[] {
  const limit = options.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError('useMessages: limit must be a positive integer');
  const all = useTopic<T, readonly Received<T>[]>(topic, limit, (store) => store.messages);
  return useMemo(() => (all.length > limit ? all.slice(all.length - limit) : all), [all, limit]);
}

/** What {@link useBus} returns. */
export interface BusHandle<T> {
  /** Sends to every other peer on the bus; resolves when the broker accepted it. */
  send(data: T & Payload): Promise<void>;
  /** True once the broker confirmed the join. */
  joined: boolean;
}

/** Joins the bus of `topic` while the component is mounted; `onMessage` gets the other peers' messages. */
export function useBus<T = unknown>(topic: string, options: { onMessage?: (data: T) => void } = {}): BusHandle<T> {
  const client = useClient();
  const store = useMemo(() => busStore<T>(client, topic), [client, topic]);
  const latest = useLatest(options.onMessage);
  const subscribe = useCallback(
    (onChange: () => void) => store.listen(onChange, (data) => latest.current?.(data)),
    [store],
  );
  const joined = useSyncExternalStore(
    subscribe,
    () => store.joined,
    () => false,
  );
  const send = useCallback((data: T & Payload) => store.send(data), [store]);
  return useMemo(() => ({ send, joined }), [send, joined]);
}

/**
 * Pulls jobs of `topic` while the component is mounted: `handler` (the latest given) runs each,
 * and the job is acknowledged when it returns or resolves, requeued when it throws or rejects.
 * Components pulling the same topic share one puller and take turns. The options (`prefetch`,
 * `ackTimeoutMs`: see `Topic.pull`) apply when the puller starts (the first component's); a
 * change of them starts it again.
 */
export function usePuller<T = unknown>(topic: string, handler: JobHandler<T>, options: PullOptions = {}): void {
  const client = useClient();
  const latest = useLatest(handler);
  const prefetch = options.prefetch ?? 1;
  const { ackTimeoutMs } = options;
  useEffect(() => {
    const store = pullerStore<T>(client, topic, ackTimeoutMs === undefined ? { prefetch } : { prefetch, ackTimeoutMs });
    return store.listen((data, job) => latest.current(data, job));
  }, [client, topic, prefetch, ackTimeoutMs]);
}

/** `client.call`, for event handlers: `const call = useCall(); await call('name', payload)`. */
export function useCall(): <R = unknown>(name: string, payload?: Payload) => Promise<R> {
  const client = useClient();
  return useCallback(<R = unknown>(name: string, payload: Payload = null) => client.call<R>(name, payload), [client]);
}
