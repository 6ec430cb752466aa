import { RtError, type Payload } from '@rt/protocol';
import type { EngineLimits, EngineStats, Job, PullerHandle } from '../engine.js';
import type { Logger } from '../../options.js';
import { decodeJob, encodeJob } from './codec.js';
import { type Connections, Script } from './connection.js';
import { ACK, PUSH, RECLAIM, REQUEUE } from './scripts.js';

const push = new Script(PUSH);
const requeue = new Script(REQUEUE);
const reclaim = new Script(RECLAIM);
const ack = new Script(ACK);

/** This node's pullers of one topic, taking turns. */
interface Pulled {
  pullers: PullerHandle[];
  turn: number;
  reading: boolean;
  /** Set when a job may be waiting while a read runs: read again after it. */
  again: boolean;
}

/** Names of the Redis keys and channels of work queues. */
export interface QueueNames {
  queue(topic: string): string;
  notify(topic: string): string;
  node(id: string): string;
}

/** How long a node's heartbeat lives: a node silent for this long is taken for dead. */
const HEARTBEAT_MS = 3000;

/** XREADGROUP's answer for one stream: `[key, entries]` (RESP3), or `[[key, entries]]` (RESP2). */
type Entries = [Buffer, Buffer[]][];
type StreamReply = [Buffer, Entries] | [[Buffer, Entries]] | null;

/**
 * Push/pull over Redis streams with one consumer group per topic (`rt`) and one consumer per
 * node: a job is read by exactly one node, which hands it to one of its pullers (taking
 * turns); it stays pending until the puller acknowledges it. A nack or a puller that leaves
 * puts its jobs back (to another local puller with room first, else at the end of the queue
 * for every node); a node that dies stops renewing its heartbeat and the survivors put its
 * pending jobs back. Jobs wait in Redis while no node has a puller.
 */
export class RedisQueues {
  private readonly pulled = new Map<string, Pulled>();
  /** Acks and requeues that failed while Redis was unreachable, retried by the sweep (else their jobs would stay pending under this live node). */
  private backlog: { topic: string; op: 'ack' | 'requeue'; ids: string[] }[] = [];
  /** Jobs being given back right now (awaited on close, so a node that shuts down hands its jobs on). */
  private readonly givingBack = new Set<Promise<void>>();
  private sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly conns: Connections,
    private readonly names: QueueNames,
    private readonly nodeId: string,
    private readonly limits: EngineLimits,
    private readonly counters: EngineStats,
    private readonly logger: Logger,
    /** Subscribes this node to a topic's notify channel (or unsubscribes). */
    private readonly watch: (topic: string, on: boolean) => void,
  ) {}

  /** Starts the heartbeat and the sweep that reclaims dead nodes' jobs and reads what notifications missed. */
  start(everyMs: number): void {
    this.sweeper = setInterval(() => void this.sweep(), everyMs);
    this.sweeper.unref();
  }

  /**
   * Stops the sweep, waits for jobs being given back, and removes this node's heartbeat so
   * the other nodes take over whatever it still holds at once.
   */
  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await Promise.all(this.givingBack);
    if (this.conns.up) await this.conns.cmd.del(this.names.node(this.nodeId)).catch(() => undefined);
  }

  async push(topic: string, data: Payload, dataText?: string): Promise<void> {
    const id = await this.conns.run(push, [this.names.queue(topic)], [this.limits.pushQueueSize, encodeJob(data, dataText), this.names.notify(topic)]);
    if (id === 0) {
      this.counters.pushRejected++;
      throw new RtError('queue_full', `the queue of "${topic}" holds ${this.limits.pushQueueSize} waiting items`);
    }
    this.counters.pushed++;
  }

  add(puller: PullerHandle): void {
    let p = this.pulled.get(puller.topic);
    if (!p) {
      this.pulled.set(puller.topic, (p = { pullers: [], turn: 0, reading: false, again: false }));
      this.watch(puller.topic, true);
    }
    p.pullers.push(puller);
    this.fill(puller.topic);
  }

  remove(puller: PullerHandle): void {
    const p = this.pulled.get(puller.topic);
    if (!p) return;
    p.pullers = p.pullers.filter((x) => x !== puller);
    const held = [...puller.inflight.values()];
    puller.inflight.clear();
    if (p.pullers.length === 0) {
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
    if (!puller.inflight.delete(id)) return false;
    this.fill(puller.topic);
    await this.apply(puller.topic, 'ack', [id]);
    return true;
  }

  async nack(puller: PullerHandle, id: string): Promise<boolean> {
    const job = puller.inflight.get(id);
    if (!job) return false;
    puller.inflight.delete(id);
    this.counters.redelivered++;
    await this.giveBack(puller.topic, [job], puller);
    return true;
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
    const rest: Job[] = [];
    for (const job of jobs) {
      const chosen = this.choose(topic, avoid);
      if (chosen) {
        chosen.inflight.set(job.id, job);
        chosen.deliver(job);
      } else rest.push(job);
    }
    if (rest.length > 0) await this.apply(topic, 'requeue', rest.map((j) => j.id));
  }

  /** Acks or requeues jobs in Redis; when Redis is unreachable, the sweep tries again later (and the caller hears `unavailable`). */
  private async apply(topic: string, op: 'ack' | 'requeue', ids: string[]): Promise<void> {
    const key = this.names.queue(topic);
    try {
      if (op === 'ack') await this.conns.run(ack, [key], ids);
      else await this.conns.run(requeue, [key], [this.names.notify(topic), ...ids]);
    } catch (error) {
      this.backlog.push({ topic, op, ids });
      this.logger.warn({ err: (error as Error).message, topic, op, jobs: ids.length }, 'could not update the work queue; retrying when Redis is back');
      throw error;
    }
  }

  /** A local puller of `topic` with room, taking turns, never `avoid` (its job then goes back to Redis, where any node may take it). */
  private choose(topic: string, avoid?: PullerHandle): PullerHandle | undefined {
    const p = this.pulled.get(topic);
    if (!p) return undefined;
    const n = p.pullers.length;
    for (let i = 0; i < n; i++) {
      const candidate = p.pullers[(p.turn + i) % n]!;
      if (candidate !== avoid && candidate.inflight.size < candidate.prefetch) {
        p.turn = (p.turn + i + 1) % n;
        return candidate;
      }
    }
    return undefined;
  }

  private room(p: Pulled): number {
    let room = 0;
    for (const puller of p.pullers) room += Math.max(0, puller.prefetch - puller.inflight.size);
    return room;
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
        const room = this.room(p);
        if (room === 0 || !this.conns.up || this.pulled.get(topic) !== p) return;
        const got = await this.readGroup(topic, room);
        for (const [id, body] of got) this.hand(topic, id, body);
        if (got.length < room && !p.again) return;
      }
    } catch (error) {
      this.logger.warn({ err: (error as Error).message, topic }, 'reading the work queue failed; retrying on the next sweep');
    } finally {
      p.reading = false;
    }
  }

  private async readGroup(topic: string, count: number): Promise<[string, Buffer][]> {
    const key = this.names.queue(topic);
    const args = ['GROUP', 'rt', this.nodeId, 'COUNT', count, 'STREAMS', key, '>'];
    let reply: StreamReply;
    try {
      reply = (await this.conns.cmd.callBuffer('XREADGROUP', ...args)) as StreamReply;
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOGROUP')) throw error;
      // No push yet (or Redis lost it): make the group, nothing waits yet.
      await this.conns.cmd.call('XGROUP', 'CREATE', key, 'rt', '0', 'MKSTREAM').catch(() => undefined);
      reply = (await this.conns.cmd.callBuffer('XREADGROUP', ...args)) as StreamReply;
    }
    const entries: Entries = !reply ? [] : Array.isArray(reply[0]) ? reply[0][1] : (reply[1] as Entries);
    return entries.map(([id, fields]) => [id.toString('latin1'), fields[1]!] as [string, Buffer]);
  }

  private hand(topic: string, id: string, body: Buffer): void {
    if (this.limits.pushTtlMs > 0 && Date.now() - Number(id.split('-')[0]) > this.limits.pushTtlMs) {
      this.counters.pushExpired++;
      void this.apply(topic, 'ack', [id]).catch(() => undefined);
      return;
    }
    const decoded = decodeJob(body);
    const job: Job = { id, topic, data: decoded.data };
    if (decoded.dataText !== undefined) job.dataText = decoded.dataText;
    const chosen = this.choose(topic);
    if (!chosen) {
      void this.giveBack(topic, [job], undefined).catch(() => undefined);
      return;
    }
    chosen.inflight.set(id, job);
    chosen.deliver(job);
  }

  /** Renews this node's heartbeat, gives back dead nodes' jobs, and reads what waits. */
  private async sweep(): Promise<void> {
    if (!this.conns.up) return;
    try {
      await this.conns.cmd.set(this.names.node(this.nodeId), '1', 'PX', HEARTBEAT_MS);
      const backlog = this.backlog;
      this.backlog = [];
      for (const { topic, op, ids } of backlog) await this.apply(topic, op, ids).catch(() => undefined);
      for (const topic of [...this.pulled.keys()]) {
        await this.reclaimDead(topic);
        this.fill(topic);
      }
    } catch (error) {
      this.logger.debug({ err: (error as Error).message }, 'work queue sweep failed');
    }
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
      if (name === this.nodeId) continue;
      const n = (await this.conns.run(reclaim, [key, this.names.node(name)], [this.names.notify(topic), name])) as number;
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
