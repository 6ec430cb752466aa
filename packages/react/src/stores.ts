import type {
  Bus,
  Client,
  GapEvent,
  JobHandler,
  JobMeta,
  MessageMeta,
  Payload,
  PullOptions,
  Puller,
  Subscription,
} from '@rt/client';

/** Where a subscription stands: waiting for the broker, confirmed, or refused (then `error`). */
export interface SubscriptionStatus {
  state: 'pending' | 'ready' | 'error';
  error?: Error;
}

/** A message as the hooks keep it: its payload and where it came from. */
export interface Received<T> extends MessageMeta {
  data: T;
}

/**
 * Something several components share on one client and topic (a subscription, a bus join, a
 * puller): opened by its first holder, closed a turn after its last holder lets go, so that
 * StrictMode's unmount-and-mount again, or a component moving in the tree, keeps it open
 * instead of closing and reopening it on the broker.
 */
abstract class Shared {
  private holders = 0;
  private closing: ReturnType<typeof setTimeout> | undefined;
  private opened = false;

  constructor(
    private readonly registry: Map<string, Shared>,
    private readonly key: string,
  ) {}

  /** Holds it open; returns the release. */
  hold(): () => void {
    this.holders++;
    if (this.closing !== undefined) {
      clearTimeout(this.closing);
      this.closing = undefined;
    }
    if (!this.opened) {
      this.opened = true;
      // Released earlier and taken up again by a render that still had it: it is the shared one again.
      if (!this.registry.has(this.key)) this.registry.set(this.key, this);
      this.open();
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.holders > 0) return;
      this.closing = setTimeout(() => {
        this.closing = undefined;
        if (this.holders > 0 || !this.opened) return;
        this.opened = false;
        if (this.registry.get(this.key) === this) this.registry.delete(this.key);
        this.close();
      }, 0);
    };
  }

  protected abstract open(): void;
  protected abstract close(): void;
}

/** One client's shared things, by kind and topic. */
const registries = new WeakMap<Client, Map<string, Shared>>();

/** The `kind` thing of `key` on `client`, made by `make` unless one is open or about to close. */
function shared<S extends Shared>(
  client: Client,
  key: string,
  kind: abstract new (...args: never[]) => S,
  make: (registry: Map<string, Shared>) => S,
): S {
  let registry = registries.get(client);
  if (!registry) registries.set(client, (registry = new Map()));
  const found = registry.get(key);
  if (found instanceof kind) return found;
  const made = make(registry);
  registry.set(key, made);
  return made;
}

/**
 * One subscription to a topic, shared by every hook on it: the latest messages (as many as
 * the most any holder asked for), the subscription's status, and the message callbacks.
 * Snapshots are immutable, for `useSyncExternalStore`.
 */
export class TopicStore<T> extends Shared {
  messages: readonly Received<T>[] = [];
  status: SubscriptionStatus = { state: 'pending' };
  private subscription: Subscription<T> | undefined;
  private readonly changed = new Set<() => void>();
  private readonly handlers = new Set<(message: Received<T>) => void>();
  private readonly gapHandlers = new Set<(event: GapEvent) => void>();
  private readonly limits = new Map<symbol, number>();

  constructor(
    private readonly client: Client,
    readonly topic: string,
    registry: Map<string, Shared>,
  ) {
    super(registry, `sub:${topic}`);
  }

  /** Listens to changes of the snapshots; `limit` is how many messages this holder keeps. */
  listen(
    onChange: () => void,
    limit: number,
    onMessage?: (message: Received<T>) => void,
    onGap?: (event: GapEvent) => void,
  ): () => void {
    const id = Symbol('holder');
    this.limits.set(id, limit);
    this.changed.add(onChange);
    if (onMessage) this.handlers.add(onMessage);
    if (onGap) this.gapHandlers.add(onGap);
    const release = this.hold();
    return () => {
      this.limits.delete(id);
      this.changed.delete(onChange);
      if (onMessage) this.handlers.delete(onMessage);
      if (onGap) this.gapHandlers.delete(onGap);
      release();
    };
  }

  protected open(): void {
    this.setStatus({ state: 'pending' });
    let subscription: Subscription<T>;
    try {
      subscription = this.client.topic<T>(this.topic).subscribe((data, meta) => this.receive({ ...meta, data }));
    } catch (error) {
      this.setStatus({ state: 'error', error: error instanceof Error ? error : new Error(String(error)) });
      return;
    }
    this.subscription = subscription;
    subscription.on('gap', (event) => {
      for (const handler of [...this.gapHandlers]) handler(event);
    });
    subscription.ready.then(
      () => {
        if (this.subscription === subscription) this.setStatus({ state: 'ready' });
      },
      (error: Error) => {
        if (this.subscription === subscription) this.setStatus({ state: 'error', error });
      },
    );
  }

  protected close(): void {
    const subscription = this.subscription;
    this.subscription = undefined;
    this.messages = [];
    this.status = { state: 'pending' };
    // Offline, the unsubscribe settles at once; a refusal has nowhere to go once nobody listens.
    subscription?.unsubscribe().catch(() => undefined);
  }

  private receive(message: Received<T>): void {
    const keep = Math.max(1, ...this.limits.values());
    const next = [...this.messages, message];
    this.messages = next.length > keep ? next.slice(next.length - keep) : next;
    for (const handler of [...this.handlers]) handler(message);
    this.notify();
  }

  private setStatus(status: SubscriptionStatus): void {
    this.status = status;
    this.notify();
  }

  private notify(): void {
    for (const onChange of [...this.changed]) onChange();
  }
}

/** The store of `topic` on `client`, made on first use. */
export function topicStore<T>(client: Client, topic: string): TopicStore<T> {
  return shared(client, `sub:${topic}`, TopicStore<T>, (registry) => new TopicStore<T>(client, topic, registry));
}

/** One bus join on a topic, shared by every `useBus` on it. */
export class BusStore<T> extends Shared {
  joined = false;
  private bus: Bus<T> | undefined;
  private readonly changed = new Set<() => void>();
  private readonly handlers = new Set<(data: T) => void>();

  constructor(
    private readonly client: Client,
    readonly topic: string,
    registry: Map<string, Shared>,
  ) {
    super(registry, `bus:${topic}`);
  }

  listen(onChange: () => void, onMessage: (data: T) => void): () => void {
    this.changed.add(onChange);
    this.handlers.add(onMessage);
    const release = this.hold();
    return () => {
      this.changed.delete(onChange);
      this.handlers.delete(onMessage);
      release();
    };
  }

  /** Sends to the other peers on the bus. Rejects before the bus is joined (the component has not mounted). */
  send(data: T & Payload): Promise<void> {
    if (!this.bus) return Promise.reject(new Error(`useBus("${this.topic}"): send() before the component mounted`));
    return this.bus.send(data);
  }

  protected open(): void {
    const bus = this.client.topic<T>(this.topic).bus();
    this.bus = bus;
    bus.on('message', ({ data }) => {
      for (const handler of [...this.handlers]) handler(data);
    });
    bus.ready.then(
      () => {
        if (this.bus !== bus) return;
        this.joined = true;
        for (const onChange of [...this.changed]) onChange();
      },
      () => undefined,
    );
  }

  protected close(): void {
    const bus = this.bus;
    this.bus = undefined;
    this.joined = false;
    bus?.leave().catch(() => undefined);
  }
}

/** The bus store of `topic` on `client`, made on first use. */
export function busStore<T>(client: Client, topic: string): BusStore<T> {
  return shared(client, `bus:${topic}`, BusStore<T>, (registry) => new BusStore<T>(client, topic, registry));
}

/**
 * One puller of a topic (a client pulls a topic once), shared by every `usePuller` on it:
 * jobs go to their handlers in turn.
 */
export class PullerStore<T> extends Shared {
  private puller: Puller<T> | undefined;
  private readonly handlers: JobHandler<T>[] = [];
  private turn = 0;

  constructor(
    private readonly client: Client,
    readonly topic: string,
    private readonly options: PullOptions,
    registry: Map<string, Shared>,
  ) {
    super(registry, `pull:${topic}`);
  }

  listen(handler: JobHandler<T>): () => void {
    this.handlers.push(handler);
    const release = this.hold();
    return () => {
      const i = this.handlers.indexOf(handler);
      if (i >= 0) this.handlers.splice(i, 1);
      release();
    };
  }

  protected open(): void {
    this.puller = this.client
      .topic<T>(this.topic)
      .pull((data: T, job: JobMeta) => this.dispatch(data, job), this.options);
  }

  private dispatch(data: T, job: JobMeta): unknown {
    const n = this.handlers.length;
    // No handler mounted (between StrictMode's unmount and mount): the job goes back to the queue.
    if (n === 0) throw new Error('no handler');
    const handler = this.handlers[this.turn++ % n]!;
    return handler(data, job);
  }

  protected close(): void {
    const puller = this.puller;
    this.puller = undefined;
    puller?.stop().catch(() => undefined);
  }
}

/** The puller store of `topic` on `client`, made on first use. */
export function pullerStore<T>(client: Client, topic: string, options: PullOptions): PullerStore<T> {
  return shared(client, `pull:${topic}`, PullerStore<T>, (r) => new PullerStore<T>(client, topic, options, r));
}
