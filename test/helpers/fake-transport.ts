/**
 * A fake broker connection for unit tests of the client (as centrifuge-js tests against a fake
 * server): a `TransportFactory` whose transports open, fail, answer and drop when the test says.
 */
import type { ClientFrame, ServerFrame } from '@rt/protocol';
import type { ClientTransport, TransportContext, TransportEvents, TransportFactory, TransportName } from '@rt/client';
import { deadline } from './index.ts';

/** One connection attempt the client made through the fake. */
export class FakeConnection implements ClientTransport {
  readonly sent: ClientFrame[] = [];
  closed = false;
  private opening: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private waiters: { match: (f: ClientFrame) => boolean; resolve: (f: ClientFrame) => void }[] = [];

  constructor(
    readonly name: TransportName,
    readonly context: TransportContext,
    private readonly events: TransportEvents,
    private readonly fake: FakeBroker,
  ) {}

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.opening = { resolve, reject };
      this.fake.opened(this);
    });
  }

  send(frame: ClientFrame): void {
    this.sent.push(frame);
    if (frame.t === 'hello' && this.fake.autoHello) {
      queueMicrotask(() => this.deliver({ t: 'ok', ref: frame.ref, data: { limits: this.fake.limits } }));
      return;
    }
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(frame)) return true;
      w.resolve(frame);
      return false;
    });
  }

  close(): void {
    this.closed = true;
  }

  /** Lets `open()` resolve. */
  accept(): void {
    this.opening?.resolve();
  }

  /** Makes `open()` reject. */
  refuse(error: Error): void {
    this.opening?.reject(error);
  }

  /** A frame from the "broker". */
  deliver(frame: ServerFrame): void {
    if (!this.closed) this.events.frame(frame);
  }

  /** The connection drops (as a transport reports it). */
  drop(reason = 'fake: dropped'): void {
    this.closed = true;
    this.events.close(reason);
  }

  /** The next frame sent (or already sent and not yet taken) that `match`es. */
  next(match: (f: ClientFrame) => boolean, what = 'a frame'): Promise<ClientFrame> {
    const found = this.sent.find((f) => match(f) && !this.taken.has(f));
    if (found) {
      this.taken.add(found);
      return Promise.resolve(found);
    }
    return deadline(
      new Promise<ClientFrame>((resolve) =>
        this.waiters.push({
          match,
          resolve: (f) => {
            this.taken.add(f);
            resolve(f);
          },
        }),
      ),
      5000,
      what,
    );
  }

  private readonly taken = new Set<ClientFrame>();

  /** Answers every `hello` sent and not yet taken by {@link next}. */
  answerHellos(): void {
    for (const f of this.sent)
      if (f.t === 'hello' && !this.taken.has(f)) {
        this.taken.add(f);
        this.deliver({ t: 'ok', ref: f.ref });
      }
  }

  /** Answers the next frame of op `t` with `ok` (plus `extra`); returns that frame. */
  async ok(t: ClientFrame['t'], extra: Record<string, unknown> = {}): Promise<ClientFrame> {
    const frame = await this.next((f) => f.t === t, `a "${t}" frame`);
    this.deliver({ t: 'ok', ref: frame.ref, ...extra });
    return frame;
  }

  /** Answers the next frame of op `t` with `err`. */
  async err(
    t: ClientFrame['t'],
    code: 'forbidden' | 'unavailable' | 'invalid_topic',
    message = code,
  ): Promise<ClientFrame> {
    const frame = await this.next((f) => f.t === t, `a "${t}" frame`);
    this.deliver({ t: 'err', ref: frame.ref, code, message });
    return frame;
  }
}

/** The fake broker: every connection attempt, and a way to wait for the next one. */
export class FakeBroker {
  readonly connections: FakeConnection[] = [];
  /** Answer the client's `hello` at once (with {@link limits}). */
  autoHello = true;
  limits: Record<string, number> = { maxPayloadBytes: 1024 * 1024, maxSubscriptions: 1000 };
  private waiters: (() => void)[] = [];

  readonly factory: TransportFactory = {
    name: 'websocket',
    available: () => true,
    create: (context, events) => new FakeConnection('websocket', context, events, this),
  };

  /** @internal */
  opened(connection: FakeConnection): void {
    this.connections.push(connection);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** The connection attempt number `n` (0-based), once the client made it. */
  attempt(n: number): Promise<FakeConnection> {
    const have = this.connections[n];
    if (have) return Promise.resolve(have);
    return deadline(
      new Promise<FakeConnection>((resolve) => {
        const wait = (): void => {
          const got = this.connections[n];
          if (got) resolve(got);
          else this.waiters.push(wait);
        };
        this.waiters.push(wait);
      }),
      5000,
      `connection attempt ${n}`,
    );
  }

  /** Waits for attempt `n` and lets it open. */
  async accept(n: number): Promise<FakeConnection> {
    const c = await this.attempt(n);
    c.accept();
    return c;
  }
}
