import type { PresenceMember } from '@rt/protocol';
import type { Logger } from '../../options.js';
import { tooMany } from '../memory-presence.js';
import type { PresenceEvent, PresenceStore } from '../presence.js';
import { type Connections, Script, unavailable } from './connection.js';

/*
 * Presence in Redis. Key layout under the engine's prefix `P`:
 * - `P pm:<topic>`: the topic's members, a hash `clientId → member` (JSON, with the `node` that holds it);
 * - `P pc:<topic>`: the channel of the topic's events (`j` or `l` followed by the member's JSON);
 * - `P pn:<node>`: the topics where a node has members; `P pnodes`: the nodes that have members;
 * - `P pa:<node>`: a node's presence heartbeat, renewed every `sweepMs` and expiring after 3 × `sweepMs`.
 * Every node sweeps every `sweepMs`: a node in `pnodes` whose heartbeat expired is dead, and
 * the first sweep that sees it removes its members and publishes their `leave`.
 */

/**
 * Join. KEYS: the topic's members, the node's topics, the node set, the node's heartbeat.
 * ARGV: clientId, member JSON, max members, node, channel, topic, heartbeat ttl (ms).
 * Returns 0 when the topic is full, 2 when the node's heartbeat had expired (the node must
 * add its other members again: a sweep may have taken them for a dead node's), else 1.
 */
const JOIN = new Script(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[6])
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('PUBLISH', ARGV[5], 'j' .. ARGV[2])
if redis.call('SET', KEYS[4], '1', 'PX', ARGV[7], 'GET') then return 1 end
return 2`);

/**
 * Leave. KEYS: the topic's members, the node's topics. ARGV: clientId, channel, topic, `1`
 * when it was the node's last member of the topic. Returns 1 when the member was there.
 */
const LEAVE = new Script(`
if ARGV[4] == '1' then redis.call('SREM', KEYS[2], ARGV[3]) end
local member = redis.call('HGET', KEYS[1], ARGV[1])
if not member then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], 'l' .. member)
return 1`);

/**
 * Removes a node's members, publishing their `leave`: a dead node's (its heartbeat expired;
 * nothing happens while it lives) or, with ARGV[3] = `1`, a closing node's own. KEYS: the
 * node's heartbeat, its topics, the node set. ARGV: node, key prefix, force. Returns how many
 * members went, or -1 when the node lives.
 */
const REAP = new Script(`
if ARGV[3] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local n = 0
for _, topic in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local key = ARGV[2] .. 'pm:' .. topic
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local ok, member = pcall(cjson.decode, all[i + 1])
    if ok and type(member) == 'table' and member.node == ARGV[1] then
      redis.call('HDEL', key, all[i])
      redis.call('PUBLISH', ARGV[2] .. 'pc:' .. topic, 'l' .. all[i + 1])
      n = n + 1
    end
  end
end
redis.call('DEL', KEYS[2])
if ARGV[3] == '1' then redis.call('DEL', KEYS[1]) end
redis.call('SREM', KEYS[3], ARGV[1])
return n`);

/** Far above any `maxPresenceMembers`: a node adding its own members again is never refused. */
const NO_LIMIT = 2 ** 31;

/** A member as Redis stores it: with the node that holds it. */
type Stored = PresenceMember & { node?: string };

/** A member from Redis, without the node (what clients see); `undefined` when malformed. */
function decodeMember(text: string): PresenceMember | undefined {
  const value = JSON.parse(text) as Stored;
  if (typeof value !== 'object' || value === null || typeof value.clientId !== 'string') return undefined;
  delete value.node;
  return value;
}

/**
 * Presence shared by every node through Redis: members in a hash per topic, events over a
 * channel per topic (a node subscribes only to the topics its connections watch). A node that
 * closes removes its members at once; one that dies stops renewing its heartbeat
 * (3 × `sweepMs`) and the next sweep of any other node (every `sweepMs`) removes them: its
 * members leave within 4 × `sweepMs` (4 s by default) of its death. A node cut off from Redis
 * that long is taken for dead too; once back, it adds its members again.
 */
export class RedisPresence implements PresenceStore {
  /** This node's members, by topic and clientId (what it adds again after a sweep took it for dead). */
  private readonly local = new Map<string, Map<string, PresenceMember>>();
  /**
   * The members this node knows of on the topics it watches, from the events it received: what
   * {@link resync} compares with Redis after the pub/sub connection was down.
   */
  private readonly known = new Map<string, Map<string, PresenceMember>>();
  /** Leaves that failed while Redis was unreachable, tried again by the sweep. */
  private failedLeaves: { topic: string; clientId: string }[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly ttlMs: number;

  constructor(
    private readonly conns: Connections,
    private readonly prefix: string,
    private readonly nodeId: string,
    private readonly sweepMs: number,
    private readonly logger: Logger,
    /** Subscribes this node to a channel (or unsubscribes), through the engine's pub/sub connection. */
    private readonly channel: (name: string, on: boolean) => Promise<void>,
    private readonly deliver: (event: PresenceEvent) => void,
  ) {
    this.ttlMs = 3 * sweepMs;
  }

  /** Starts the heartbeat and the sweep for dead nodes. */
  start(): void {
    this.timer = setInterval(() => void this.sweep(), this.sweepMs);
    this.timer.unref();
  }

  /** Stops the sweep and removes this node's members (their watchers hear `leave`). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    if (this.local.size === 0 || !this.conns.up) return;
    await this.reap(this.nodeId, true).catch(() => undefined);
  }

  async join(topic: string, member: PresenceMember, max: number): Promise<void> {
    const result = await this.add(topic, member, max);
    if (result === 0) throw tooMany(topic, max);
    let members = this.local.get(topic);
    if (!members) this.local.set(topic, (members = new Map()));
    members.set(member.clientId, member);
    if (result === 2) await this.addAgain();
  }

  async leave(topic: string, clientId: string): Promise<void> {
    const members = this.local.get(topic);
    if (!members?.delete(clientId)) return;
    if (members.size === 0) this.local.delete(topic);
    try {
      await this.remove(topic, clientId);
    } catch (error) {
      // Redis is unreachable: the sweep tries again (else the member would stay while this node lives).
      this.failedLeaves.push({ topic, clientId });
      throw error;
    }
  }

  private remove(topic: string, clientId: string): Promise<unknown> {
    const last = !this.local.has(topic);
    return this.conns.run(
      LEAVE,
      [this.key(`pm:${topic}`), this.key(`pn:${this.nodeId}`)],
      [clientId, this.key(`pc:${topic}`), topic, last ? '1' : '0'],
    );
  }

  async members(topic: string): Promise<PresenceMember[]> {
    let values: string[];
    try {
      values = await this.conns.cmd.hvals(this.key(`pm:${topic}`));
    } catch (error) {
      throw unavailable(error);
    }
    const members: PresenceMember[] = [];
    for (const text of values) {
      const member = decodeMember(text);
      if (member) members.push(member);
    }
    return members.sort((a, b) => a.since - b.since);
  }

  async watch(topic: string): Promise<void> {
    await this.channel(this.key(`pc:${topic}`), true);
    if (this.known.has(topic)) return;
    const known = new Map<string, PresenceMember>();
    this.known.set(topic, known);
    // The members before the first event; one that left while they were read stays known
    // (harmless: a resync would tell watchers it left, which they know already).
    try {
      for (const member of await this.members(topic))
        if (!known.has(member.clientId)) known.set(member.clientId, member);
    } catch (error) {
      this.known.delete(topic);
      throw error;
    }
  }

  unwatch(topic: string): void {
    this.known.delete(topic);
    void this.channel(this.key(`pc:${topic}`), false).catch(() => undefined);
  }

  /** An event from a topic's channel (`pc:<topic>`). */
  onMessage(topic: string, message: Buffer): void {
    const text = message.toString('utf8');
    const member = decodeMember(text.slice(1));
    if (!member) return;
    const event = text[0] === 'j' ? 'join' : 'leave';
    const known = this.known.get(topic);
    if (event === 'join') known?.set(member.clientId, member);
    else known?.delete(member.clientId);
    this.deliver({ topic, event, member });
  }

  /**
   * The pub/sub connection was down and is subscribed again: events of that time were lost.
   * For every watched topic, the members now are read and the difference with the members this
   * node knew of is delivered as events (a `join` of a member the watchers know already changes
   * nothing for them), so that no watcher keeps a member that left meanwhile.
   */
  async resync(): Promise<void> {
    // This node's own members first: when Redis came back empty they are gone from it, and a
    // read before they are back would tell watchers they left (they never did).
    await this.beat();
    for (const [topic, known] of this.known) {
      const now = await this.members(topic);
      const ids = new Set(now.map((m) => m.clientId));
      for (const [id, member] of known)
        if (!ids.has(id)) {
          known.delete(id);
          this.deliver({ topic, event: 'leave', member });
        }
      for (const member of now) {
        known.set(member.clientId, member);
        this.deliver({ topic, event: 'join', member });
      }
    }
  }

  private key(name: string): string {
    return this.prefix + name;
  }

  private add(topic: string, member: PresenceMember, max: number): Promise<number> {
    const stored: Stored = { ...member, node: this.nodeId };
    return this.conns.run(
      JOIN,
      [this.key(`pm:${topic}`), this.key(`pn:${this.nodeId}`), this.key('pnodes'), this.key(`pa:${this.nodeId}`)],
      [member.clientId, JSON.stringify(stored), max, this.nodeId, this.key(`pc:${topic}`), topic, this.ttlMs],
    ) as Promise<number>;
  }

  /** After this node's heartbeat expired (Redis unreachable, or restarted empty): every member of it goes in again. */
  private async addAgain(): Promise<void> {
    let n = 0;
    for (const [topic, members] of this.local)
      for (const member of members.values()) {
        await this.add(topic, member, NO_LIMIT);
        n++;
      }
    this.logger.warn({ members: n }, 'presence: this node was taken for dead; its members are back');
  }

  private reap(node: string, force: boolean): Promise<number> {
    return this.conns.run(
      REAP,
      [this.key(`pa:${node}`), this.key(`pn:${node}`), this.key('pnodes')],
      [node, this.prefix, force ? '1' : '0'],
    ) as Promise<number>;
  }

  /** Renews this node's heartbeat while it has members, adding them again when it had expired. */
  private async beat(): Promise<void> {
    if (this.local.size === 0) return;
    const was = await this.conns.cmd.call('SET', this.key(`pa:${this.nodeId}`), '1', 'PX', this.ttlMs, 'GET');
    if (was === null) await this.addAgain();
  }

  /** Renews this node's heartbeat (adding its members again if it had expired) and removes dead nodes' members. */
  private async sweep(): Promise<void> {
    if (!this.conns.up) return;
    try {
      while (this.failedLeaves.length > 0) {
        const { topic, clientId } = this.failedLeaves[0]!;
        // Not when it joined again meanwhile (with the same id: a join again of its slot).
        if (!this.local.get(topic)?.has(clientId)) await this.remove(topic, clientId);
        this.failedLeaves.shift();
      }
      await this.beat();
      for (const node of await this.conns.cmd.smembers(this.key('pnodes'))) {
        if (node === this.nodeId) continue;
        const n = await this.reap(node, false);
        if (n > 0) this.logger.warn({ node, members: n }, 'presence: removed the members of a node that is gone');
      }
    } catch (error) {
      this.logger.debug({ err: (error as Error).message }, 'presence sweep failed');
    }
  }
}
