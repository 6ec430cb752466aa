import type { ByeFrame } from '@rt/protocol';
import type { Outgoing } from './outgoing.js';
import type { PullerHandle } from './engines/engine.js';

/** The name of the transport a session came in on. */
export type TransportName = 'websocket' | 'polling' | 'sse' | 'raw' | (string & {});

/**
 * What a transport gives a session: a way to write frames to one connection and to close
 * it. Sessions know nothing else of transports.
 */
export interface Wire {
  /** The transport's name, as `client.transport` reports it. */
  readonly transport: TransportName;
  /** Writes frames, in order. Called with every frame that is waiting, so a wire can batch them into one write. */
  write(batch: readonly Outgoing[]): void;
  /** Closes the connection, after sending `bye` when the transport can. */
  close(bye?: ByeFrame): void;
  /** Frames or bytes the transport holds that the peer has not taken yet (for backpressure), if it can tell. */
  buffered?(): number;
}

/** Who is on the other end, as authentication established it (`null` when anonymous). */
export type Identity = Record<string, unknown> | null;

let nextSessionId = 1;

/**
 * One client connection, whatever its transport: its identity, what it listens to, and its
 * outbound queue. Frames are queued and written together once per event-loop turn by the
 * {@link Flusher}, so a burst of messages to one connection becomes one write while an idle
 * connection still gets each message at once.
 */
export class Session {
  /** Unique within this broker process. */
  readonly id: string;
  readonly wire: Wire;
  /** Called whenever {@link identity} is set (the broker arms the token's expiry). */
  onIdentity: ((session: Session) => void) | undefined;
  /**
   * Frames of this session waiting on an async authorization, in order: while set, later
   * frames queue behind it so that no frame overtakes an earlier one. Unset on the hot path.
   */
  backlog: Promise<void> | undefined;
  private identityValue: Identity = null;
  /** Pub/sub subscriptions (topics). */
  readonly subscriptions = new Set<string>();
  private joinsSet: Set<string> | undefined;
  private pullsMap: Map<string, PullerHandle> | undefined;
  /** Set by the hub while it fans one message out, so a session covered twice gets it once. */
  stamp = 0;
  closed = false;
  private pending: Outgoing[] = [];
  private held: Outgoing[] | null = null;
  private holds = 0;

  constructor(wire: Wire, private readonly flusher: Flusher) {
    this.id = `s${nextSessionId++}`;
    this.wire = wire;
  }

  /** Who is on the other end, as authentication established it (`null`: anonymous). */
  get identity(): Identity {
    return this.identityValue;
  }

  set identity(identity: Identity) {
    this.identityValue = identity;
    this.onIdentity?.(this);
  }

  /** Bus joins (topics). Made on first use: most connections never join a bus, and idle connections are many. */
  get joins(): Set<string> {
    return (this.joinsSet ??= new Set());
  }

  /** Pullers by topic (made on first use, as {@link joins}). */
  get pulls(): Map<string, PullerHandle> {
    return (this.pullsMap ??= new Map());
  }

  /** Subscriptions, bus joins and pullers held, together (without making what is not used yet). */
  get holdings(): number {
    return this.subscriptions.size + (this.joinsSet?.size ?? 0) + (this.pullsMap?.size ?? 0);
  }

  /** Queues a frame for this connection. */
  send(out: Outgoing): void {
    if (this.closed) return;
    if (this.held !== null && out.frame.t === 'msg') {
      this.held.push(out);
      return;
    }
    this.pending.push(out);
    if (this.pending.length === 1) this.flusher.schedule(this);
  }

  /** Queues a frame even while messages are held (used to send a recovery replay ahead of live messages). */
  sendNow(out: Outgoing): void {
    if (this.closed) return;
    this.pending.push(out);
    if (this.pending.length === 1) this.flusher.schedule(this);
  }

  /**
   * Holds live messages back until {@link release}: while a subscription recovers, live
   * messages must follow the replay, never overtake it.
   */
  hold(): void {
    if (this.holds++ === 0) this.held = [];
  }

  /** Ends one {@link hold}; when the last ends, the held messages are queued in order. */
  release(): void {
    if (this.holds === 0 || --this.holds > 0) return;
    const held = this.held ?? [];
    this.held = null;
    for (const out of held) this.send(out);
  }

  /** Writes what is queued. Called by the flusher. */
  flush(): void {
    if (this.pending.length === 0 || this.closed) return;
    const batch = this.pending;
    this.pending = [];
    this.wire.write(batch);
  }

  /** Frames queued and not yet written. */
  get queued(): number {
    return this.pending.length;
  }
}

/**
 * Writes every session that has frames waiting, once per event-loop turn (`setImmediate`):
 * one timer for the whole broker, not one per session or per message.
 */
export class Flusher {
  private dirty: Session[] = [];
  private scheduled = false;

  schedule(session: Session): void {
    this.dirty.push(session);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  /** Writes everything now (used on close). */
  readonly run = (): void => {
    this.scheduled = false;
    const dirty = this.dirty;
    this.dirty = [];
    for (const session of dirty) session.flush();
  };
}
