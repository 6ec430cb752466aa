import { type ClientFrame, type OkFrame, RtError, type ServerFrame } from '@rt/protocol';

/** A frame as the queue takes it: its `ref` is chosen when it is sent. */
type Unsent = ClientFrame;

interface Pending {
  frame: Unsent;
  resolve: (frame: OkFrame) => void;
  reject: (error: RtError) => void;
  timer?: ReturnType<typeof setTimeout> | undefined;
  slow?: ReturnType<typeof setTimeout> | undefined;
  timeoutMs: number;
  sentAt?: number;
}

/** Settings of a {@link RequestQueue}. */
export interface RequestQueueOptions {
  /** How long a sent request may wait for its answer, in ms. */
  requestTimeoutMs: number;
  /** Requests that may wait while disconnected; past it they reject with `queue_overflow`. */
  queueLimit: number;
  /** Called when a sent request timed out (the client decides whether the connection is dead). */
  onTimeout?(frame: ClientFrame): void;
  /** After how long without an answer a sent request counts as slow, in ms (see `onSlow`). */
  slowMs?: number;
  /** Called when a sent request has waited `slowMs` for its answer. */
  onSlow?(frame: ClientFrame): void;
  /** Called with every answer and how long it took, in ms. */
  onAnswer?(frame: ClientFrame, ms: number): void;
}

/** How a request behaves while the connection is down. */
export type WhenOffline =
  /** Waits in the queue (bounded by `queueLimit`) and goes out on the next open. */
  | 'queue'
  /** Rejects at once with `connection_lost` (the caller replays it from its own state). */
  | 'reject';

/**
 * The client's requests: each gets a `ref`, waits for the `ok`/`err` frame carrying it back
 * (or times out), and settles its promise. While disconnected, calls wait in a bounded queue;
 * on a disconnect, requests sent and not answered either go back to the front of that queue
 * (publishes and pushes: they carry an idempotency key, so the broker carries them out once)
 * or reject with `connection_lost` (everything else: their outcome is unknown).
 */
export class RequestQueue {
  private readonly pending = new Map<number, Pending>();
  private queue: Pending[] = [];
  private sender: ((frame: ClientFrame) => void) | undefined;
  private refs = 1;

  constructor(private readonly options: RequestQueueOptions) {}

  /** True while a connection takes frames. */
  get connected(): boolean {
    return this.sender !== undefined;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Requests waiting for a connection. */
  get waiting(): number {
    return this.queue.length;
  }

  /** A fresh `ref`, for a frame sent outside the queue (the handshake). */
  nextRef(): number {
    return this.refs++;
  }

  /** Sends `frame` (or queues it while disconnected); resolves with the `ok` frame, rejects with the `err`'s code. */
  request(frame: Unsent, offline: WhenOffline = 'queue', timeoutMs?: number): Promise<OkFrame> {
    return new Promise((resolve, reject) => {
      const p: Pending = { frame, resolve, reject, timeoutMs: timeoutMs ?? this.options.requestTimeoutMs };
      if (this.sender) this.transmit(p, this.sender);
      else if (offline === 'reject') reject(new RtError('connection_lost', 'not connected'));
      else if (this.queue.length >= this.options.queueLimit)
        reject(
          new RtError('queue_overflow', `${this.options.queueLimit} calls are already waiting for the connection`),
        );
      else this.queue.push(p);
    });
  }

  /** A connection opened: requests go through `send` from now on (call {@link flush} next). */
  attach(send: (frame: ClientFrame) => void): void {
    this.sender = send;
  }

  /**
   * Sends what waited for the connection, in order, except what `check` refuses (rejected
   * with its error, e.g. a payload larger than the broker takes).
   */
  flush(check?: (frame: ClientFrame) => RtError | undefined): void {
    const send = this.sender;
    if (!send) return;
    const queued = this.queue;
    this.queue = [];
    for (const p of queued) {
      const problem = check?.(p.frame);
      if (problem) p.reject(problem);
      else this.transmit(p, send);
    }
  }

  /** The connection dropped: keyed publishes and pushes wait to go again; other sent requests reject. */
  detach(): void {
    this.sender = undefined;
    const resend: Pending[] = [];
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      clearTimeout(p.slow);
      p.timer = undefined;
      p.slow = undefined;
      if ((p.frame.t === 'pub' || p.frame.t === 'push') && p.frame.key !== undefined) resend.push(p);
      else p.reject(new RtError('connection_lost', `the connection dropped before "${p.frame.t}" was answered`));
    }
    this.pending.clear();
    this.queue = [...resend, ...this.queue];
  }

  /** Rejects every request, sent or waiting, with `error` (the client closed or gave up). */
  failAll(error: RtError): void {
    this.sender = undefined;
    const all = [...this.pending.values(), ...this.queue];
    this.pending.clear();
    this.queue = [];
    for (const p of all) {
      clearTimeout(p.timer);
      clearTimeout(p.slow);
      p.reject(error);
    }
  }

  /** Settles the request an `ok`/`err` frame answers; false when none waits for it. */
  answer(frame: ServerFrame): boolean {
    if ((frame.t !== 'ok' && frame.t !== 'err') || frame.ref === undefined) return false;
    const p = this.pending.get(frame.ref);
    if (!p) return false;
    this.pending.delete(frame.ref);
    clearTimeout(p.timer);
    clearTimeout(p.slow);
    this.options.onAnswer?.(p.frame, Date.now() - (p.sentAt ?? Date.now()));
    if (frame.t === 'ok') p.resolve(frame);
    else p.reject(new RtError(frame.code, frame.message));
    return true;
  }

  private transmit(p: Pending, send: (frame: ClientFrame) => void): void {
    const ref = this.nextRef();
    p.frame = { ...p.frame, ref };
    this.pending.set(ref, p);
    p.sentAt = Date.now();
    const { slowMs, onSlow } = this.options;
    if (slowMs !== undefined && onSlow && slowMs < p.timeoutMs)
      p.slow = setTimeout(() => {
        if (this.pending.get(ref) === p) onSlow(p.frame);
      }, slowMs);
    p.timer = setTimeout(() => {
      clearTimeout(p.slow);
      if (!this.pending.delete(ref)) return;
      p.reject(new RtError('timeout', `no answer to "${p.frame.t}" within ${p.timeoutMs} ms`));
      this.options.onTimeout?.(p.frame);
    }, p.timeoutMs);
    send(p.frame);
  }
}
