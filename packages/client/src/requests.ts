import { type ClientFrame, type OkFrame, RtError, type ServerFrame } from '@rt/protocol';

/** A frame as the queue takes it: its `ref` is chosen when it is sent. */
type Unsent = ClientFrame;

interface Pending {
  frame: Unsent;
  resolve: (frame: OkFrame) => void;
  reject: (error: RtError) => void;
  timeoutMs: number;
  /** When it was sent (see {@link now}). */
  sentAt: number;
  /** `onSlow` is still to be called once it waited `slowMs`. */
  slow: boolean;
}

/** A monotonic clock in ms where there is one (a wall-clock jump must not move deadlines). */
const now: () => number =
  typeof performance !== 'undefined' && typeof performance.now === 'function'
    ? () => performance.now()
    : () => Date.now();

type Timer = ReturnType<typeof setTimeout>;

/** Lets a Node timer keep the process alive or not (browsers' timers have no such thing). */
function refTimer(timer: Timer, ref: boolean): void {
  const t = timer as { ref?: () => unknown; unref?: () => unknown };
  if (ref) t.ref?.();
  else t.unref?.();
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
  /**
   * One timer for every request sent (not two per request: making and clearing timers was a
   * tenth of the client's CPU per request): it fires at the earliest deadline it was set for,
   * settles what is due (slow, timed out) and is set again for the next one.
   */
  private timer: Timer | undefined;
  /** When {@link timer} fires (see {@link now}). */
  private timerAt = Infinity;
  /** {@link timer} keeps a Node process alive: only while requests wait for their answer. */
  private timerRefed = false;

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
      const p: Pending = {
        frame,
        resolve,
        reject,
        timeoutMs: timeoutMs ?? this.options.requestTimeoutMs,
        sentAt: 0,
        slow: false,
      };
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
    this.stopTimer();
    const resend: Pending[] = [];
    for (const p of this.pending.values()) {
      if ((p.frame.t === 'pub' || p.frame.t === 'push') && p.frame.key !== undefined) resend.push(p);
      else p.reject(new RtError('connection_lost', `the connection dropped before "${p.frame.t}" was answered`));
    }
    this.pending.clear();
    this.queue = [...resend, ...this.queue];
  }

  /** Rejects every request, sent or waiting, with `error` (the client closed or gave up). */
  failAll(error: RtError): void {
    this.sender = undefined;
    this.stopTimer();
    const all = [...this.pending.values(), ...this.queue];
    this.pending.clear();
    this.queue = [];
    for (const p of all) p.reject(error);
  }

  /** Settles the request an `ok`/`err` frame answers; false when none waits for it. */
  answer(frame: ServerFrame): boolean {
    if ((frame.t !== 'ok' && frame.t !== 'err') || frame.ref === undefined) return false;
    const p = this.pending.get(frame.ref);
    if (!p) return false;
    this.pending.delete(frame.ref);
    // Nothing left to wait for: the timer no longer keeps a Node process alive (it fires once more, finds nothing and stops).
    if (this.pending.size === 0 && this.timerRefed && this.timer !== undefined) {
      this.timerRefed = false;
      refTimer(this.timer, false);
    }
    this.options.onAnswer?.(p.frame, now() - p.sentAt);
    if (frame.t === 'ok') p.resolve(frame);
    else p.reject(new RtError(frame.code, frame.message));
    return true;
  }

  private transmit(p: Pending, send: (frame: ClientFrame) => void): void {
    const ref = this.nextRef();
    p.frame = { ...p.frame, ref };
    this.pending.set(ref, p);
    const sentAt = now();
    p.sentAt = sentAt;
    const { slowMs, onSlow } = this.options;
    p.slow = slowMs !== undefined && onSlow !== undefined && slowMs < p.timeoutMs;
    this.arm(p.slow ? sentAt + slowMs! : sentAt + p.timeoutMs);
    send(p.frame);
  }

  /** Makes the timer fire at `at` at the latest. */
  private arm(at: number): void {
    if (this.timer !== undefined) {
      if (!this.timerRefed) {
        this.timerRefed = true;
        refTimer(this.timer, true);
      }
      // A deadline later than the timer's is looked at when it fires.
      if (this.timerAt <= at) return;
      clearTimeout(this.timer);
    }
    this.timerAt = at;
    this.timerRefed = true;
    this.timer = setTimeout(this.sweep, Math.max(0, at - now()));
  }

  private stopTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    this.timerRefed = false;
  }

  /** The timer fired: what waited `slowMs` is reported slow, what waited its timeout rejects with `timeout`. */
  private readonly sweep = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    this.timerRefed = false;
    const { slowMs, onSlow, onTimeout } = this.options;
    const at = now();
    let next = Infinity;
    // A snapshot: the callbacks may send requests (a probe).
    for (const [ref, p] of [...this.pending]) {
      if (this.pending.get(ref) !== p) continue;
      if (p.slow && at >= p.sentAt + slowMs!) {
        p.slow = false;
        onSlow!(p.frame);
        if (this.pending.get(ref) !== p) continue;
      }
      if (at >= p.sentAt + p.timeoutMs) {
        this.pending.delete(ref);
        p.reject(new RtError('timeout', `no answer to "${p.frame.t}" within ${p.timeoutMs} ms`));
        onTimeout?.(p.frame);
        continue;
      }
      next = Math.min(next, p.sentAt + (p.slow ? slowMs! : p.timeoutMs));
    }
    if (next !== Infinity && this.pending.size > 0) this.arm(next);
  };
}
