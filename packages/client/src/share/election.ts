import { BEAT_MS, CLAIM_MS, type ControlMessage, DEAD_MS, leaderLock } from './messages.js';

/** What an {@link Election} tells its tab. */
export interface ElectionEvents {
  /** This tab leads now: it opens the connection for the group's tabs. */
  lead(): void;
  /** This tab does not lead any more: its sessions close (their clients reconnect to the next leader). */
  stepDown(): void;
  /** The tab this one follows changed (its own id when it leads; `undefined`: none known yet). */
  leader(id: string | undefined): void;
}

/**
 * Which tab of a group leads, as this tab takes part in choosing it.
 *
 * The leader says it is alive on the group's control channel (a `beat` every {@link BEAT_MS},
 * and in answer to a follower's `ping`). A follower that has not heard it for two beats pings;
 * one that gets no answer within {@link DEAD_MS} takes it for gone (closed, crashed, frozen or
 * hung) and stands: it says `claim`, and leads if no lower id claimed within {@link CLAIM_MS}.
 *
 * - With the Web Locks API (`locks`), leading is holding the group's lock: the browser grants it
 *   to one waiting tab when the leader's tab closes or crashes, and a follower that wins a claim
 *   takes it with `steal` from a leader that stopped answering (a frozen tab keeps its lock).
 *   The stale leader, once it runs again, finds its lock stolen (and hears the new leader's
 *   beat) and steps down.
 * - Without it, the claim alone decides, and a leader that goes away says `resign` first
 *   (`pagehide`).
 *
 * Two leaders can lead at once for a while (a frozen or cut-off leader and the one elected
 * meanwhile, or claims that crossed): each beat carries its leader's term (when it started
 * leading, later than any term its tab had heard); on hearing a better leader (higher term,
 * or the same and a lower id), a leader steps down and a follower moves to it. Each tab's
 * client talks to one leader at a time (its session is addressed to that leader), so moving is
 * a reconnect: the client re-establishes everything with its positions and drops what it
 * already saw by offset, and nothing reaches the app twice or goes missing unreported.
 */
export class Election {
  /** The tab this one follows (its own id while it leads). */
  leader: string | undefined;
  /** True while this tab leads. */
  leading = false;
  /** The followed leader's term (this tab's own while it leads). */
  private term = 0;
  /** The highest term heard. */
  private seen = 0;
  /** When the followed leader was last heard. */
  private heardAt = 0;
  /** When this tab pinged without an answer since, if it did. */
  private pingedAt: number | undefined;
  private claim: ReturnType<typeof setTimeout> | undefined;
  /** The lock request waiting its turn. */
  private queued: AbortController | undefined;
  /** The lock this tab holds while it leads; releasing it ends that lease. */
  private lease: { release(): void } | undefined;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly first: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    private readonly id: string,
    private readonly key: string,
    private readonly control: BroadcastChannel,
    private readonly locks: LockManager | undefined,
    private readonly events: ElectionEvents,
  ) {
    this.timer = setInterval(() => this.tick(), BEAT_MS);
    this.ping();
    if (locks) this.request(false);
    // Without locks, a tab that hears no leader soon after it starts stands at once: it is
    // the first tab (or the leader is busy, and then the leader's higher term wins over the
    // newcomer's first one).
    else this.first = setTimeout(() => this.leader === undefined && this.stand(), 2 * CLAIM_MS);
  }

  /** A message of the group's control channel. */
  hear(m: ControlMessage): void {
    if (this.closed) return;
    switch (m.k) {
      case 'beat':
        this.beatFrom(m.id, m.term);
        return;
      case 'ping':
        if (this.leading) this.beat();
        return;
      case 'claim':
        if (this.leading) this.beat();
        else if (this.claim && m.id < this.id) {
          // A lower id stands: wait for its beat (and stand again if none comes).
          clearTimeout(this.claim);
          this.claim = undefined;
          this.pingedAt = Date.now();
        }
        return;
      case 'resign':
        if (m.id !== this.leader || this.leading) return;
        this.follow(undefined);
        this.heardAt = 0;
        // With locks, the browser hands the lock to a waiting tab, whose beat says so.
        if (!this.locks) this.stand();
        return;
      default:
    }
  }

  /** Leaves the group: a leader steps down and says so. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.first);
    clearTimeout(this.claim);
    this.queued?.abort();
    this.stepDown(true);
  }

  /** Leaves the lead (the page goes away): another tab takes it at once. */
  resign(): void {
    if (!this.leading) return;
    this.stepDown(true);
    this.follow(undefined);
  }

  private beatFrom(id: string, term: number): void {
    if (id === this.id) return;
    this.seen = Math.max(this.seen, term);
    const mine = this.leading ? this.id : this.leader;
    const better =
      mine === undefined || (id === mine && !this.leading) || term > this.term || (term === this.term && id < mine);
    if (!better) {
      // A worse leader (a stale one, or a newcomer that did not hear this one): it hears this one and steps down.
      if (this.leading) this.beat();
      return;
    }
    if (this.leading) this.stepDown(false);
    clearTimeout(this.claim);
    this.claim = undefined;
    this.heardAt = Date.now();
    this.pingedAt = undefined;
    this.term = term;
    this.follow(id);
  }

  private tick(): void {
    if (this.leading) {
      this.beat();
      return;
    }
    if (this.claim) return;
    const now = Date.now();
    if (this.leader !== undefined && now - this.heardAt < 2 * BEAT_MS) return;
    if (this.pingedAt === undefined) {
      this.ping();
      return;
    }
    if (now - this.pingedAt >= DEAD_MS) this.stand();
  }

  private ping(): void {
    this.pingedAt = Date.now();
    this.post({ k: 'ping', tab: this.id });
  }

  private stand(): void {
    if (this.closed || this.leading || this.claim) return;
    this.post({ k: 'claim', id: this.id });
    this.claim = setTimeout(() => {
      this.claim = undefined;
      if (this.closed || this.leading) return;
      if (!this.locks) this.becomeLeader();
      else {
        // The holder stopped answering (a frozen tab keeps its lock): take the lock from it.
        this.queued?.abort();
        this.queued = undefined;
        this.request(true);
      }
    }, CLAIM_MS);
  }

  /** Asks for the leader lock: in turn, or taken from its holder (`steal`). */
  private request(steal: boolean): void {
    const locks = this.locks!;
    const abort = steal ? undefined : new AbortController();
    if (abort) this.queued = abort;
    let lease: { release(): void } | undefined;
    locks
      .request(leaderLock(this.key), abort ? { signal: abort.signal } : { steal: true }, () => {
        if (this.queued === abort) this.queued = undefined;
        if (this.closed || this.leading) return undefined;
        return new Promise<void>((release) => {
          lease = { release };
          this.becomeLeader(lease);
        });
      })
      .catch(() => undefined)
      .then(() => {
        if (abort && this.queued === abort) this.queued = undefined;
        // Released, or stolen by a tab that found this one unresponsive (it learns it now).
        if (lease && this.lease === lease) {
          this.stepDown(true);
          this.follow(undefined);
        }
        if (!this.closed && !this.leading && !this.queued) this.request(false);
      });
  }

  private becomeLeader(lease?: { release(): void }): void {
    clearTimeout(this.claim);
    this.claim = undefined;
    this.leading = true;
    this.lease = lease;
    // A tab that never heard a leader starts low: an existing leader it missed wins over it.
    this.term = this.seen === 0 ? 1 : Math.max(Date.now(), this.seen + 1);
    this.seen = Math.max(this.seen, this.term);
    this.events.lead();
    this.beat();
    this.follow(this.id);
  }

  private stepDown(resign: boolean): void {
    if (!this.leading) return;
    this.leading = false;
    const lease = this.lease;
    this.lease = undefined;
    this.events.stepDown();
    if (resign) this.post({ k: 'resign', id: this.id });
    lease?.release();
  }

  private follow(id: string | undefined): void {
    if (id === this.leader) return;
    this.leader = id;
    this.events.leader(id);
  }

  private beat(): void {
    this.post({ k: 'beat', id: this.id, term: this.term });
  }

  private post(m: ControlMessage): void {
    if (!this.closed || m.k === 'resign') this.control.postMessage(m);
  }
}
