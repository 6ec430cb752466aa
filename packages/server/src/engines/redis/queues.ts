import { RtError, type Payload } from '@rt/protocol';
import type { EngineLimits, EngineStats, Job, PullerHandle, QueueDepth } from '../engine.js';
import { Leases, PushBudget, Turns } from '../queue-rules.js';
import { Alarm, redeliveryDelay } from '../redelivery.js';
import type { Logger } from '../../options.js';
import { decodeJob, encodeJob } from './codec.js';
import { type Connections, Script } from './connection.js';
import { ACK, DEFER, EXPIRE, ORPHANS, PARKED, PUSH, RECLAIM, REQUEUE, TAKE } from './scripts.js';

const push = new Script(PUSH);
const take = new Script(TAKE);
const defer = new Script(DEFER);
const requeue = new Script(REQUEUE);
const reclaim = new Script(RECLAIM);
const ack = new Script(ACK);
const expire = new Script(EXPIRE);
const orphans = new Script(ORPHANS);

/** This node's pullers of one topic, taking strict turns. */
interface Pulled {
  turns: Turns;
  reading: boolean;
  /** Set when a job may be waiting while a read runs: read again after it. */
  again: boolean;
  /** Reads again when a nacked job's delay ends, for the puller that failed it. */
  alarm: Alarm;
}

/** Names of the Redis keys and channels of work queues. */
export interface QueueNames {
  queue(topic: string): string;
  /** The sorted set of the topic's nacked jobs waiting out their redelivery delay. */
  delayed(topic: string): string;
  notify(topic: string): string;
  node(id: string): string;
  /** Where a push's idempotency key is remembered. */
  pushKey(key: string): string;
  /** The bytes of the topic's jobs held in Redis. */
  bytes(topic: string): string;
  /** The hash of every topic's jobs held (`jobs`) and their bytes (`bytes`). */
  totals: string;
  /** The set of topics with a queue. */
  topics: string;
}

/** A job to ack or requeue in Redis: its entry id and the deliveries it had. */
interface Held {
  id: string;
  attempt: number;
}

/** How long a node's heartbeat lives: a node silent for this long is taken for dead. */
const HEARTBEAT_MS = 3000;

/**
 * Push/pull over Redis streams with one consumer group per topic (`rt`) and one consumer per
 * node: a job is read by exactly one node, which hands it to one of its pullers (taking
 * turns); it stays pending until the puller acknowledges it. A puller that leaves puts its
 * jobs back (to another local puller with room first, else first in line for every node). A nack hands the job to another local puller with room, else keeps it pending and
 * puts it in the topic's delayed set: any other puller on any node takes it at once (first in
 * line), the failing puller only after `redeliveryDelayMs`, doubled per delivery up to 10 s.
 * A node that dies stops renewing its heartbeat and the survivors put its pending jobs back,
 * first in line.
 * Jobs wait in Redis while no node has a puller. Each job carries its delivery count
 * (`attempt`) through all of this.
 */
export class RedisQueues {
  private readonly pulled = new Map<string, Pulled>();
  /** Ack deadlines and windows of this node's pullers. */
  private readonly leases = new Leases((puller, job) => void this.expired(puller, job).catch(() => undefined));
  /** Acks and requeues that failed while Redis was unreachable, retried by the sweep (else their jobs would stay pending under this live node). */
  private backlog: { topic: string; op: 'ack' | 'requeue'; jobs: Held[] }[] = [];
  /** Ids of this node's pullers, as the delayed set names the puller that failed a job. */
  private readonly ids = new WeakMap<PullerHandle, string>();
  private nextPuller = 0;
  /** Jobs being given back right now (awaited on close, so a node that shuts down hands its jobs on). */
  private readonly givingBack = new Set<Promise<void>>();
  private sweeper: ReturnType<typeof setInterval> | undefined;
  /** When the sweep last expired waiting jobs (ms). */
  private expiredAt = 0;
  private readonly budget: PushBudget;
  /**
   * Topics this node has read jobs of: the sweep looks there for jobs pending under this node
   * that no puller holds (see {@link ORPHANS}), also after the topic's last local puller left.
   */
  private readonly touched = new Set<string>();
  /** How long a job pending under this node and held by none of its pullers waits before the sweep gives it back (ms). */
  private orphanIdleMs = 5000;

  constructor(
    private readonly conns: Connections,
    private readonly names: QueueNames,
    private readonly nodeId: string,
    private readonly limits: EngineLimits,
    private readonly counters: EngineStats,
    private readonly logger: Logger,
    /** Subscribes this node to a topic's notify channel (or unsubscribes). */
    private readonly watch: (topic: string, on: boolean) => void,
  ) {
    this.budget = new PushBudget(limits);
  }

  /** This node's pullers and the jobs they hold unacknowledged, by topic (the admin page's queue list). */
  local(): Map<string, Pick<QueueDepth, 'pullers' | 'inflight'>> {
    const out = new Map<string, Pick<QueueDepth, 'pullers' | 'inflight'>>();
    for (const [topic, p] of this.pulled) {
      let inflight = 0;
      for (const puller of p.turns) inflight += puller.inflight.size;
      out.set(topic, { pullers: p.turns.size, inflight });
    }
    return out;
  }

  /** Starts the heartbeat and the sweep that reclaims dead nodes' jobs and reads what notifications missed. */
  start(everyMs: number): void {
    this.orphanIdleMs = 5 * everyMs;
    this.sweeper = setInterval(() => void this.sweep(), everyMs);
    this.sweeper.unref();
  }

  /**
   * Stops the sweep, waits for jobs being given back, and removes this node's heartbeat so
   * the other nodes take over whatever it still holds at once.
   */
  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    for (const p of this.pulled.values()) p.alarm.clear();
    this.leases.clear();
    await Promise.all(this.givingBack);
    if (this.conns.up) await this.conns.cmd.del(this.names.node(this.nodeId)).catch(() => undefined);
  }

  /** Queues a job; with `key`, a push repeated within the dedupe window on any node is queued once. Resolves true for such a repeat. */
  async push(topic: string, data: Payload, dataText?: string, key?: string): Promise<boolean> {
    const window = key === undefined ? 0 : (this.limits.dedupeTtlMs ?? 5 * 60_000);
    const { pushQueueSize, pushQueueBytes, pushTotalSize, pushTotalBytes } = this.limits;
    const body = encodeJob(data, dataText);
    const names = this.names;
    const [id, seen, ...held] = (await this.conns.run(
      push,
      [
        names.queue(topic),
        names.delayed(topic),
        names.pushKey(key ?? ''),
        names.bytes(topic),
        names.totals,
        names.topics,
      ],
      [
        pushQueueSize,
        body,
        names.notify(topic),
        window,
        ...[pushQueueBytes, pushTotalSize, pushTotalBytes].map((n) => n ?? Number.MAX_SAFE_INTEGER),
        topic,
      ],
    )) as [string | number, number, ...number[]];
    if (seen === 1) return true;
    if (id === 0) {
      this.counters.pushRejected++;
      const [jobs = 0, bytes = 0, totalJobs = 0, totalBytes = 0] = held;
      throw (
        this.budget.check(topic, { jobs, bytes }, { jobs: totalJobs, bytes: totalBytes }, body.length) ??
        new RtError('queue_full', `the queue of "${topic}" is full`)
      );
    }
    this.counters.pushed++;
    return false;
  }

  add(puller: PullerHandle): void {
    let p = this.pulled.get(puller.topic);
    if (!p) {
      this.pulled.set(
        puller.topic,
        (p = { turns: new Turns(this.leases), reading: false, again: false, alarm: new Alarm() }),
      );
      this.watch(puller.topic, true);
    }
    p.turns.add(puller);
    this.touched.add(puller.topic);
    this.ids.set(puller, `${this.nodeId}.${++this.nextPuller}`);
    this.fill(puller.topic);
  }

  remove(puller: PullerHandle): void {
    const p = this.pulled.get(puller.topic);
    if (!p) return;
    p.turns.delete(puller);
    const held = this.leases.drop(puller);
    if (p.turns.size === 0) {
      p.alarm.clear();
      this.pulled.delete(puller.topic);
      this.watch(puller.topic, false);
    }
    if (held.length > 0) {
      const done = this.giveBack(puller.topic, held, undefined).catch(() => undefined);
      this.givingBack.add(done);
      void done.finally(() => this.givingBack.delete(done));
    } else this.fill(puller.topic);
  }

  async ack(puller: PullerHandle, id: string): Promise<boolean> {
    if (!this.leases.settle(puller, id, true)) return false;
    this.fill(puller.topic);
    await this.apply(puller.topic, 'ack', [{ id, attempt: 0 }]);
    return true;
  }

  /**
   * A job the puller failed: to another local puller with room at once, else into the delayed
   * set (another node's puller may take it at once; this one after the delay).
   */
  async nack(puller: PullerHandle, id: string): Promise<boolean> {
    const job = this.leases.settle(puller, id, false);
    if (!job) return false;
    await this.retry(puller, job);
    return true;
  }

  /** A job its puller did not settle within its ack deadline: as a nack. */
  private expired(puller: PullerHandle, job: Job): Promise<void> {
    this.counters.ackExpired = (this.counters.ackExpired ?? 0) + 1;
    return this.retry(puller, job);
  }

  /** A job `puller` failed: to another local puller with room at once, else into the delayed set. */
  private async retry(puller: PullerHandle, job: Job): Promise<void> {
    this.counters.redelivered++;
    const attempt = job.attempt ?? 1;
    const chosen = this.choose(puller.topic, puller);
    if (chosen) {
      this.leases.hand(chosen, job, attempt + 1);
      return;
    }
    const delay = redeliveryDelay(this.limits.redeliveryDelayMs, attempt);
    await this.defer(puller.topic, job.id, attempt, this.ids.get(puller)!, delay);
  }

  /** Puts a pending job in the delayed set: `puller` (an id) may have it back after `delay` ms, any other puller at once. */
  private async defer(topic: string, id: string, attempt: number, puller: string, delay: number): Promise<void> {
    try {
      await this.conns.run(
        defer,
        [this.names.delayed(topic)],
        [this.names.notify(topic), delay, `${id} ${attempt} ${puller}`],
      );
    } catch (error) {
      // Redis unreachable: the job goes back to the queue when it is back.
      this.backlog.push({ topic, op: 'requeue', jobs: [{ id, attempt }] });
      throw error;
    }
  }

  /** After Redis came back: read what waits for this node's pullers. */
  resume(): void {
    for (const topic of this.pulled.keys()) this.fill(topic);
  }

  /** A notification: a job may be waiting on `topic`. */
  notified(topic: string): void {
    this.fill(topic);
  }

  /** Jobs a puller gave up: to another local puller with room (not `avoid`), else back to Redis for every node. */
  private async giveBack(topic: string, jobs: Job[], avoid: PullerHandle | undefined): Promise<void> {
    const rest: Held[] = [];
    for (const job of jobs) {
      const chosen = this.choose(topic, avoid);
      if (chosen) this.leases.hand(chosen, job, (job.attempt ?? 1) + 1);
      else rest.push({ id: job.id, attempt: job.attempt ?? 1 });
    }
    if (rest.length > 0) await this.apply(topic, 'requeue', rest);
  }

  /** Acks or requeues jobs in Redis; when Redis is unreachable, the sweep tries again later (and the caller hears `unavailable`). */
  private async apply(topic: string, op: 'ack' | 'requeue', jobs: Held[]): Promise<void> {
    const key = this.names.queue(topic);
    try {
      if (op === 'ack')
        await this.conns.run(
          ack,
          [key, this.names.bytes(topic), this.names.totals],
          jobs.map((j) => j.id),
        );
      else
        await this.conns.run(
          requeue,
          [key, this.names.delayed(topic)],
          [this.names.notify(topic), ...jobs.flatMap((j) => [j.id, j.attempt])],
        );
    } catch (error) {
      this.backlog.push({ topic, op, jobs });
      this.logger.warn(
        { err: (error as Error).message, topic, op, jobs: jobs.length },
        'could not update the work queue; retrying when Redis is back',
      );
      throw error;
    }
  }

  /** A local puller of `topic` with room, taking turns, never `avoid` (its job then goes back to Redis, where any node may take it). */
  private choose(topic: string, avoid?: PullerHandle): PullerHandle | undefined {
    return this.pulled.get(topic)?.turns.next(avoid);
  }

  /** Reads as many jobs as this node's pullers of `topic` have room for, and hands them out. */
  private fill(topic: string): void {
    const p = this.pulled.get(topic);
    if (!p) return;
    if (p.reading) {
      p.again = true;
      return;
    }
    void this.read(topic, p);
  }

  private async read(topic: string, p: Pulled): Promise<void> {
    p.reading = true;
    try {
      for (;;) {
        p.again = false;
        const room = p.turns.room();
        if (room === 0 || !this.conns.up || this.pulled.get(topic) !== p) return;
        const roomy = [...p.turns].filter((x) => this.leases.room(x) > 0).map((x) => this.ids.get(x)!);
        const reply = (await this.conns.run(
          take,
          [this.names.queue(topic), this.names.delayed(topic)],
          [this.nodeId, room, ...roomy],
          true,
        )) as (Buffer | number)[];
        const wait = Number(reply[0]);
        if (wait >= 0) this.wake(topic, p, wait);
        const got = (reply.length - 1) / 5;
        for (let i = 1; i + 4 < reply.length; i += 5) {
          this.hand(
            topic,
            reply[i]!.toString(),
            Number(reply[i + 1]),
            reply[i + 2]!.toString(),
            Number(reply[i + 3]),
            reply[i + 4] as Buffer,
          );
        }
        if (got < room && !p.again) return;
      }
    } catch (error) {
      this.logger.warn(
        { err: (error as Error).message, topic },
        'reading the work queue failed; retrying on the next sweep',
      );
    } finally {
      p.reading = false;
    }
  }

  /** Reads `topic` again in `ms` (when a job this node's puller failed becomes due for it), unless a read is due sooner. */
  private wake(topic: string, p: Pulled, ms: number): void {
    p.alarm.set(Date.now() + ms, () => this.fill(topic));
  }

  /**
   * Hands a job read from Redis to a local puller. `from` is '' for a new entry, '-' for a
   * nacked job whose delay is over, else the id of the puller that failed it and must wait
   * `left` ms more.
   */
  private hand(topic: string, id: string, attempt: number, from: string, left: number, body: Buffer): void {
    // A nacked job was queued again by its nack: it does not expire on its way back.
    if (from === '' && this.limits.pushTtlMs > 0 && Date.now() - Number(id.split('-')[0]) > this.limits.pushTtlMs) {
      this.counters.pushExpired++;
      void this.apply(topic, 'ack', [{ id, attempt }]).catch(() => undefined);
      return;
    }
    const decoded = decodeJob(body);
    const job: Job = { id, topic, data: decoded.data, attempt };
    if (decoded.dataText !== undefined) job.dataText = decoded.dataText;
    const p = this.pulled.get(topic);
    const avoid = from === '' || from === '-' || !p ? undefined : [...p.turns].find((x) => this.ids.get(x) === from);
    const chosen = this.choose(topic, avoid);
    if (chosen) this.leases.hand(chosen, job, attempt);
    // The room it was read for went meanwhile: back to the queue, or to the delayed set while the failing puller must still wait.
    else if (avoid) void this.defer(topic, id, attempt - 1, from, left).catch(() => undefined);
    else void this.apply(topic, 'requeue', [{ id, attempt: attempt - 1 }]).catch(() => undefined);
  }

  /** Renews this node's heartbeat, gives back dead nodes' jobs, and reads what waits. */
  private async sweep(): Promise<void> {
    if (!this.conns.up) return;
    try {
      await this.conns.cmd.set(this.names.node(this.nodeId), '1', 'PX', HEARTBEAT_MS);
      const backlog = this.backlog;
      this.backlog = [];
      for (const { topic, op, jobs } of backlog) await this.apply(topic, op, jobs).catch(() => undefined);
      for (const topic of [...this.pulled.keys()]) await this.reclaimDead(topic);
      for (const topic of [...this.touched]) await this.reclaimOrphans(topic);
      for (const topic of [...this.pulled.keys()]) this.fill(topic);
      await this.expireWaiting();
    } catch (error) {
      this.logger.debug({ err: (error as Error).message }, 'work queue sweep failed');
    }
  }

  /**
   * Drops the jobs of every topic that waited past `pushTtlMs` without any node reading them
   * (at most every quarter of the TTL, and every 5 s): topics nobody pulls included.
   */
  private async expireWaiting(): Promise<void> {
    const ttl = this.limits.pushTtlMs;
    const now = Date.now();
    if (ttl <= 0 || now - this.expiredAt < Math.min(ttl / 4, 5000)) return;
    this.expiredAt = now;
    const names = this.names;
    for (const topic of (await this.conns.cmd.smembers(names.topics)) as string[]) {
      const n = (await this.conns.run(
        expire,
        [names.queue(topic), names.bytes(topic), names.totals, names.topics],
        [now - ttl, topic, 1000],
      )) as number;
      this.counters.pushExpired += n;
    }
  }

  /**
   * Gives back, first in line, the jobs pending under this node that none of its pullers holds
   * and that are idle for {@link orphanIdleMs}: their TAKE ran in Redis but its reply was lost
   * (the connection dropped, or Redis was killed after running it and came back with its AOF).
   * A topic with no local puller left and nothing pending under this node is forgotten.
   */
  private async reclaimOrphans(topic: string): Promise<void> {
    const p = this.pulled.get(topic);
    const keep = p ? [...p.turns].flatMap((x) => [...x.inflight.keys()]) : [];
    for (const b of this.backlog) if (b.topic === topic) for (const j of b.jobs) keep.push(j.id);
    const [n, left] = (await this.conns.run(
      orphans,
      [this.names.queue(topic), this.names.node(this.nodeId), this.names.delayed(topic)],
      [this.names.notify(topic), this.nodeId, this.orphanIdleMs, ...keep],
    )) as [number, number];
    if (n > 0) {
      this.counters.redelivered += n;
      this.logger.warn({ topic, jobs: n }, 'gave back jobs read from Redis whose reply was lost');
    }
    if (!p && left === 0) this.touched.delete(topic);
  }

  private async reclaimDead(topic: string): Promise<void> {
    const key = this.names.queue(topic);
    let consumers: unknown[];
    try {
      consumers = (await this.conns.cmd.call('XINFO', 'CONSUMERS', key, 'rt')) as unknown[];
    } catch {
      return; // no queue yet
    }
    for (const c of consumers) {
      const fields = c as (string | number)[];
      const name = String(fields[fields.indexOf('name') + 1]);
      // A consumer whose heartbeat expired: its pending jobs go back, and the consumer goes.
      if (name === this.nodeId || name === PARKED) continue;
      const n = (await this.conns.run(
        reclaim,
        [key, this.names.node(name), this.names.delayed(topic)],
        [this.names.notify(topic), name],
      )) as number;
      if (n > 0) {
        this.counters.redelivered += n;
        this.logger.warn({ topic, node: name, jobs: n }, 'gave back the unacknowledged jobs of a node that is gone');
      }
    }
  }

  /** Writes the heartbeat now (at start and after a reconnect). */
  async beat(): Promise<void> {
    await this.conns.cmd.set(this.names.node(this.nodeId), '1', 'PX', HEARTBEAT_MS).catch(() => undefined);
  }
}
