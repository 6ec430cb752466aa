/**
 * The Lua scripts of the Redis engine. Each runs atomically in Redis, which is what keeps
 * offsets, history and fan-out in one order on every node.
 *
 * Key layout under the engine's prefix `P` (default `rt:`):
 * - `P epoch`, `P off`: the epoch (a random id, made anew when Redis lost it) and the offset
 *   counter of that epoch;
 * - `P h:<topic>`: the topic's history, a stream whose entry ids are `<off>-0`, each with the
 *   message (`m`), the time it was published (`t`, ms) and the offset of the entry before it
 *   in the same stream (`p`), so recovery can tell whether anything after a position is gone;
 *   at most `historySize` entries, none older than `historyTtlMs` once the topic publishes
 *   again (recovery skips older ones meanwhile), and the stream expires `historyTtlMs` after
 *   the topic's last publish;
 * - `P ht`: the history streams by the offset of their last publish (a sorted set), expired
 *   ones included, at most `maxHistoryTopics`: past it the least recently published stream is
 *   deleted; `P hr`: the streams so deleted, by their last offset, at most `maxHistoryTopics`
 *   (past it the oldest go); `P hf`: the highest last offset of a stream gone from `hr`.
 *   Recovery of a topic whose stream is gone reads them to tell whether it missed anything;
 * - `P c:<topic>` / `P b:<topic>`: pub/sub and bus channels, one per topic;
 * - `P q:<topic>`: the topic's work queue, a stream read through the consumer group `rt`
 *   (one consumer per node); an entry holds the job (`m`) and, when it went back to the
 *   queue, the deliveries it had before (`a`); `P qn:<topic>`: the channel that tells nodes a
 *   job is waiting;
 * - `P qd:<topic>`: jobs that go before new entries, a sorted set: nacked jobs waiting out
 *   their redelivery delay, scored by the time (Redis clock, ms) from which the puller that
 *   failed them may have them back, and jobs given back (puller or node gone), scored 0 and
 *   held by the consumer `~parked`; each member is `<entry id> <deliveries so far> <failing
 *   puller or ->`, the entry stays pending;
 * - `P qb:<topic>`: the bytes of the topic's jobs held (waiting or handed out); `P qt`: a hash
 *   of every topic's jobs held (`jobs`) and their bytes (`bytes`); `P qs`: the set of topics
 *   with a queue (the sweep expires jobs waiting past the push TTL there);
 * - `P d:pub:<key>` / `P d:push:<key>`: an idempotency key seen (the offset or job id of its
 *   first outcome), expiring after the dedupe window;
 * - `P hl`: the log of the messages history streams hold, oldest first, a stream (entry
 *   `<off>-0`: the bytes the message takes in all its streams `s`, its topic `k`, its time
 *   `t`), and `P hb`: those bytes together. Messages leave it from the front only (aged out,
 *   or past `maxHistoryBytes`, when the oldest leaves every stream of its topic), so every
 *   message before its first entry may go from any stream: each publish trims the streams
 *   it writes to there (`XTRIM MINID`). Both expire `historyTtlMs` after the last publish;
 * - `P r:<topic>`: the retained values of the topic's subtree, a hash from topic to
 *   `<off> <epoch> <message>` (see retain.ts);
 * - `P node:<id>`: a node's heartbeat (expires when the node dies), and the channel of requests
 *   forwarded to that node; `P own:<hash>`: which node owns a connection (see forward.ts).
 */

import { RETAIN } from './retain.js';

/** Makes sure the epoch exists (a new one resets the offsets) and returns it: `{ep, off}`. */
const ENSURE_EPOCH = `
local ep = redis.call('GET', KEYS[1])
if not ep then
  ep = ARGV[1]
  redis.call('SET', KEYS[1], ep)
  redis.call('DEL', KEYS[2])
end`;

/**
 * Publish. KEYS: epoch, off, the idempotency key, the history index `ht`, the forgotten
 * offset `hf`, the deleted streams `hr`, then one history stream per ancestor, then (when
 * retained) one retained-values hash per ancestor. ARGV: a new epoch (used only when Redis
 * lost it), the message body, history size, history ttl (ms), dedupe window (ms; 0: no
 * idempotency key), most topics with a history, retain (`-` no, `s` keep, `c` clear; see
 * retain.ts), the topic, most history bytes, the key prefix `P` (for `P hl`, `P hb` and the
 * streams of a message evicted for the byte budget), most topics with a retained value, then
 * one channel per ancestor. Returns `{ep, off, 0, streams deleted, messages evicted, history
 * bytes, retained values dropped}`, or `{ep, first off, 1, 0, 0}`
 * when the key was seen within the window.
 */
export const PUBLISH = `${ENSURE_EPOCH}
local window = tonumber(ARGV[5])
if window > 0 then
  local seen = redis.call('GET', KEYS[3])
  if seen then return {ep, tonumber(seen), 1, 0, 0} end
end
local off = redis.call('INCR', KEYS[2])
if window > 0 then redis.call('SET', KEYS[3], off, 'PX', window) end
local n = #ARGV - 11
local maxlen = tonumber(ARGV[3])
local evicted = 0
local trimmed = 0
local total = 0
if maxlen > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local cutoff = now - tonumber(ARGV[4])
  local ttl = math.max(tonumber(ARGV[4]), 1)
  -- The log of what histories hold, oldest first: the message counts once per stream it is in.
  local log, held, streams = ARGV[10] .. 'hl', ARGV[10] .. 'hb', ARGV[10] .. 'h:'
  local size = (#ARGV[2] + #ARGV[8] + 128) * n
  redis.call('XADD', log, off .. '-0', 's', size, 'k', ARGV[8], 't', now)
  local bytes = redis.call('INCRBY', held, size)
  -- Messages age out of the log from its front (a few per publish, so the cost stays bounded).
  local first = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)[1]
  if tonumber(first[2][6]) < cutoff then
    for _, e in ipairs(redis.call('XRANGE', log, '-', '+', 'COUNT', 8)) do
      first = e
      if tonumber(e[2][6]) >= cutoff then break end
      redis.call('XDEL', log, e[1])
      bytes = redis.call('DECRBY', held, tonumber(e[2][2]))
    end
  end
  -- Every message before the log's oldest (this one at the latest) aged out or left for the
  -- byte budget (both take the oldest first): it may go from any stream.
  local minid = first[1]
  -- What each stream reached: its last publish (the index holds it, even once the stream
  -- expired), or, for a stream deleted for the topic cap, what it reached then.
  local reached = redis.call('ZMSCORE', KEYS[4], unpack(KEYS, 7, 6 + n))
  local index = {}
  local forgotten = nil
  for i = 7, 6 + n do
    local prev = reached[i - 6]
    if not prev then
      prev = redis.call('ZSCORE', KEYS[6], KEYS[i])
      if prev then redis.call('ZREM', KEYS[6], KEYS[i])
      else
        forgotten = forgotten or redis.call('GET', KEYS[5]) or '0'
        prev = forgotten
      end
    end
    redis.call('XADD', KEYS[i], 'MAXLEN', maxlen, off .. '-0', 'm', ARGV[2], 't', now, 'p', prev)
    redis.call('XTRIM', KEYS[i], 'MINID', minid)
    -- An idle topic's stream goes once its newest entry is too old.
    redis.call('PEXPIRE', KEYS[i], ttl)
    index[#index + 1] = off
    index[#index + 1] = KEYS[i]
  end
  -- Too many topics (only a new one makes more): the least recently published streams go, never this publish's.
  if redis.call('ZADD', KEYS[4], unpack(index)) > 0 then
    local over = redis.call('ZCARD', KEYS[4]) - tonumber(ARGV[6])
    if over > 0 then
      local gone = redis.call('ZRANGE', KEYS[4], 0, over - 1, 'WITHSCORES')
      for j = 1, #gone, 2 do
        local last = tonumber(gone[j + 1])
        if last >= off then break end
        redis.call('ZREM', KEYS[4], gone[j])
        redis.call('DEL', gone[j])
        redis.call('ZADD', KEYS[6], last, gone[j])
        evicted = evicted + 1
      end
      local drop = redis.call('ZCARD', KEYS[6]) - tonumber(ARGV[6])
      if drop > 0 then
        local lost = redis.call('ZPOPMIN', KEYS[6], drop)
        forgotten = forgotten or redis.call('GET', KEYS[5]) or '0'
        redis.call('SET', KEYS[5], math.max(tonumber(forgotten), tonumber(lost[#lost])))
      end
    end
  end
  -- The byte budget: past it the oldest message leaves every stream of its topic.
  local budget = tonumber(ARGV[9])
  while bytes > budget do
    local oldest = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
    if #oldest == 0 then
      redis.call('SET', held, 0)
      break
    end
    local id, f = oldest[1][1], oldest[1][2]
    redis.call('XDEL', log, id)
    bytes = redis.call('DECRBY', held, tonumber(f[2]))
    -- Out of the root's stream, each ancestor's and the topic's (older entries there are older still).
    local cut = (tonumber(string.match(id, '^(%d+)')) + 1) .. '-0'
    local topic = f[4]
    redis.call('XTRIM', streams, 'MINID', cut)
    local at = 1
    while true do
      local slash = string.find(topic, '/', at, true)
      if not slash then break end
      redis.call('XTRIM', streams .. string.sub(topic, 1, slash - 1), 'MINID', cut)
      at = slash + 1
    end
    redis.call('XTRIM', streams .. topic, 'MINID', cut)
    trimmed = trimmed + 1
  end
  redis.call('PEXPIRE', log, ttl)
  redis.call('PEXPIRE', held, ttl)
  total = bytes
end
local head = off .. ' ' .. ep .. ' '
${RETAIN}
for i = 12, #ARGV do redis.call('PUBLISH', ARGV[i], head .. ARGV[2]) end
return {ep, off, 0, evicted, trimmed, total, dropped}`;

/**
 * Recovery. KEYS: epoch, off, the topic's history stream, the history index `ht`, the
 * forgotten offset `hf`, the deleted streams `hr`. ARGV: a new epoch, the client's
 * epoch, its offset, history ttl (ms), most entries to return. Returns
 * `{ep, off, gap, off1, body1, off2, body2, ...}` where `gap` is '', 'epoch' or 'history'.
 * From another epoch (Redis lost its data since), what the current epoch published is
 * returned with the gap `epoch`, as the memory engine does.
 */
export const RECOVER = `${ENSURE_EPOCH}
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
local from = tonumber(ARGV[3])
local epoch = ep ~= ARGV[2]
if epoch then from = 0 end
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[4])
local out = {ep, cur, ''}
local entries = redis.call('XRANGE', KEYS[3], (from + 1) .. '-0', '+', 'COUNT', tonumber(ARGV[5]))
local first = true
local lost = false
for _, e in ipairs(entries) do
  local f = e[2]
  if tonumber(f[4]) >= cutoff then
    if first and tonumber(f[6]) > from then lost = true end
    first = false
    table.insert(out, tonumber(string.match(e[1], '^(%d+)')))
    table.insert(out, f[2])
  end
end
if first then
  -- Nothing left after the position: a gap if the topic published after it.
  local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
  if #last > 0 then
    if tonumber(string.match(last[1][1], '^(%d+)')) > from then lost = true end
  else
    -- No stream (expired after the topic's last publish, or deleted for the topic cap): what it reached, as far as known.
    local reached = redis.call('ZSCORE', KEYS[4], KEYS[3]) or redis.call('ZSCORE', KEYS[6], KEYS[3])
      or redis.call('GET', KEYS[5]) or '0'
    if tonumber(reached) > from then lost = true end
  end
end
if epoch then out[3] = 'epoch' elseif lost then out[3] = 'history' end
return out`;

/** The current position. KEYS: epoch, off. ARGV: a new epoch. Returns `{ep, off}`. */
export const POSITION = `${ENSURE_EPOCH}
return {ep, tonumber(redis.call('GET', KEYS[2]) or '0')}`;

/** Sets `now` to Redis's clock in ms (one clock for every node). */
const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * Push. KEYS: the queue stream, its delayed set, the idempotency key, the topic's byte count,
 * the totals hash (`jobs`, `bytes`: every topic's jobs held in Redis), the set of topics with a
 * queue. ARGV: most waiting jobs of the topic, the job body, the notify channel, dedupe window
 * (ms; 0: no idempotency key), most bytes of the topic, most jobs in total, most bytes in total,
 * the topic. Returns `{id, 0}`, `{first id, 1}` when the key was seen within the window, or
 * `{0, 0, waiting, bytes, total jobs, total bytes}` when a budget refuses it. Bytes are the
 * stored job bodies; the byte and total budgets count jobs held (waiting or handed out).
 */
export const PUSH = `
local window = tonumber(ARGV[4])
if window > 0 then
  local seen = redis.call('GET', KEYS[3])
  if seen then return {seen, 1} end
end
pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], 'rt', '0', 'MKSTREAM')
local pending = redis.call('XPENDING', KEYS[1], 'rt')[1]
local waiting = redis.call('XLEN', KEYS[1]) - pending + redis.call('ZCARD', KEYS[2])
local size = string.len(ARGV[2])
local bytes = tonumber(redis.call('GET', KEYS[4]) or '0')
local total = redis.call('HMGET', KEYS[5], 'jobs', 'bytes')
local jobs = tonumber(total[1] or '0')
local all = tonumber(total[2] or '0')
if waiting + 1 > tonumber(ARGV[1]) or bytes + size > tonumber(ARGV[5])
  or jobs + 1 > tonumber(ARGV[6]) or all + size > tonumber(ARGV[7]) then
  return {0, 0, waiting, bytes, jobs, all}
end
local id = redis.call('XADD', KEYS[1], '*', 'm', ARGV[2])
redis.call('INCRBY', KEYS[4], size)
redis.call('HINCRBY', KEYS[5], 'jobs', 1)
redis.call('HINCRBY', KEYS[5], 'bytes', size)
redis.call('SADD', KEYS[6], ARGV[8])
redis.call('PUBLISH', ARGV[3], '1')
if window > 0 then redis.call('SET', KEYS[3], id, 'PX', window) end
return {id, 0}`;

/** Deletes the entry `id` (a local) from the queue stream KEYS[1] and takes its body off the byte counts (KEYS[2], KEYS[3]). */
const FORGET = `
local e = redis.call('XRANGE', KEYS[1], id, id)
if #e > 0 then
  redis.call('XDEL', KEYS[1], id)
  local size = 0
  local fields = e[1][2]
  for f = 1, #fields, 2 do
    if fields[f] == 'm' then size = string.len(fields[f + 1]) end
  end
  redis.call('DECRBY', KEYS[2], size)
  redis.call('HINCRBY', KEYS[3], 'jobs', -1)
  redis.call('HINCRBY', KEYS[3], 'bytes', -size)
end`;

/**
 * Drops the jobs of a topic that waited longer than the push TTL without being read by any
 * node (entries after the group's last delivered id; jobs handed out or on their way back do
 * not expire). KEYS: the queue stream, the topic's byte count, the totals hash, the set of
 * topics with a queue. ARGV: the cutoff (ms: entries older expire), the topic, most to drop.
 * Returns how many expired. A topic whose stream is empty leaves the set.
 */
export const EXPIRE = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[4], ARGV[2])
  return 0
end
local last = '0-0'
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if ok then
  for _, g in ipairs(groups) do
    for f = 1, #g, 2 do
      if g[f] == 'last-delivered-id' then last = g[f + 1] end
    end
  end
end
local n = 0
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '(' .. last, '(' .. ARGV[1] .. '-0', 'COUNT', tonumber(ARGV[3]))) do
  local id = e[1]
  ${FORGET}
  n = n + 1
end
if redis.call('XLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[4], ARGV[2]) end
return n`;

/** Sets `prior` to the deliveries an entry's job had before it went back to the queue (field `a`). */
const PRIOR = `
local prior = 0
for f = 1, #fields, 2 do
  if fields[f] == 'a' then prior = tonumber(fields[f + 1]) end
end`;

/**
 * Reads jobs for this node: first nacked jobs from the delayed set that may go to one of its
 * pullers now (their delay is over, or a puller other than the one that failed them has room),
 * claimed from the node that read them; then new entries of the stream. KEYS: the queue
 * stream, its delayed set. ARGV: this node's consumer name, most jobs to read, then the
 * pullers of this node that have room. Returns `{wait, id1, attempt1, avoid1, left1, body1, ...}`:
 * `wait` is in how many ms a delayed job this node may not have yet becomes due (-1: none),
 * `attempt` the deliveries so far with this one, `avoid` the puller that must not get it ('-' for
 * a delayed job now due for any puller, '' for a new entry), `left` the ms before it may.
 */
export const TAKE = `${NOW}
-- No push yet (or Redis lost the queue): make the group (every stream of a queue is made with it).
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('XGROUP', 'CREATE', KEYS[1], 'rt', '0', 'MKSTREAM') end
local want = tonumber(ARGV[2])
local roomy = {}
for i = 3, #ARGV do roomy[ARGV[i]] = true end
local others = #ARGV - 2 >= 2
local out = {-1}
local n = 0
local delayed = redis.call('ZRANGE', KEYS[2], 0, 99, 'WITHSCORES')
for i = 1, #delayed, 2 do
  if n >= want then break end
  local member = delayed[i]
  local due = tonumber(delayed[i + 1])
  local id, prior, avoid = string.match(member, '^(%S+) (%d+) (%S+)$')
  if due <= now or others or not roomy[avoid] then
    redis.call('ZREM', KEYS[2], member)
    local claimed = redis.call('XCLAIM', KEYS[1], 'rt', ARGV[1], 0, id)
    -- Nothing claimed: the job was acknowledged or given back meanwhile (its node died).
    if #claimed > 0 and claimed[1] then
      local fields = claimed[1][2]
      table.insert(out, id)
      table.insert(out, tonumber(prior) + 1)
      table.insert(out, due <= now and '-' or avoid)
      table.insert(out, math.max(0, due - now))
      table.insert(out, fields[2])
      n = n + 1
    end
  elseif out[1] < 0 or due - now < out[1] then
    out[1] = math.max(1, due - now)
  end
end
if n < want then
  local got = redis.call('XREADGROUP', 'GROUP', 'rt', ARGV[1], 'COUNT', want - n, 'STREAMS', KEYS[1], '>')
  if got then
    for _, e in ipairs(got[1][2]) do
      local fields = e[2]
      ${PRIOR}
      table.insert(out, e[1])
      table.insert(out, prior + 1)
      table.insert(out, '')
      table.insert(out, 0)
      table.insert(out, fields[2])
    end
  end
end
return out`;

/**
 * A nacked job waits out its redelivery delay: it stays pending, and enters the delayed set
 * (any other puller may take it at once; the failing one after the delay). KEYS: the delayed
 * set. ARGV: the notify channel, the delay (ms), the member `<id> <deliveries> <puller>`.
 */
export const DEFER = `${NOW}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PUBLISH', ARGV[1], '1')
return 1`;

/** The consumer that holds jobs given back (first in line) until a node takes them: it never dies. */
export const PARKED = '~parked';

/**
 * Puts jobs back first in line for any node's pullers (a puller gone, a job no puller could
 * take): each stays pending, moves to the consumer {@link PARKED}, and enters the delayed set
 * due at once (score 0, so ahead of every nacked job and of every new entry, which TAKE reads
 * after the delayed set). KEYS: the queue stream, its delayed set. ARGV: the notify channel,
 * then pairs of job id and deliveries so far. Returns how many went back (jobs Redis lost
 * meanwhile cannot go back).
 */
export const REQUEUE = `
local n = 0
for i = 2, #ARGV, 2 do
  local claimed = redis.call('XCLAIM', KEYS[1], 'rt', '${PARKED}', 0, ARGV[i], 'JUSTID')
  if #claimed > 0 then
    redis.call('ZADD', KEYS[2], 0, ARGV[i] .. ' ' .. ARGV[i + 1] .. ' -')
    n = n + 1
  end
end
if n > 0 then redis.call('PUBLISH', ARGV[1], '1') end
return n`;

/** Sets `delayed` to the ids of the jobs in the delayed set KEYS[3]. */
const DELAYED_IDS = `
local delayed = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  delayed[string.match(member, '^(%S+)')] = true
end`;

/**
 * Gives back the pending jobs in `held` (an XPENDING reply) but those in `keep`: each moves
 * to the consumer {@link PARKED} and, unless it already waits in the delayed set, enters it due
 * at once (first in line, its deliveries counted). A job whose entry Redis lost is acknowledged.
 * Sets `n` to how many went back, and publishes on the notify channel ARGV[1] when any did.
 */
const GIVE_BACK = `
local n = 0
for _, p in ipairs(held) do
  if not keep[p[1]] then
    local e = redis.call('XRANGE', KEYS[1], p[1], p[1])
    if #e > 0 then
      redis.call('XCLAIM', KEYS[1], 'rt', '${PARKED}', 0, p[1], 'JUSTID')
      if not delayed[p[1]] then
        local fields = e[1][2]
        ${PRIOR}
        redis.call('ZADD', KEYS[3], 0, p[1] .. ' ' .. (prior + p[4]) .. ' -')
      end
      n = n + 1
    else
      redis.call('XACK', KEYS[1], 'rt', p[1])
    end
  end
end
if n > 0 then redis.call('PUBLISH', ARGV[1], '1') end`;

/**
 * Gives back the jobs a dead node held, first in line (as {@link REQUEUE}: to the consumer
 * {@link PARKED}, due at once in the delayed set); its nacked jobs already in the delayed set
 * keep their place there. KEYS: the queue stream, the dead node's heartbeat, the delayed set.
 * ARGV: the notify channel, the dead consumer. Returns how many went back (0 when the node is alive).
 */
export const RECLAIM = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
${DELAYED_IDS}
local keep = {}
local held = redis.call('XPENDING', KEYS[1], 'rt', '-', '+', 1000, ARGV[2])
${GIVE_BACK}
if #held < 1000 then redis.call('XGROUP', 'DELCONSUMER', KEYS[1], 'rt', ARGV[2]) end
return n`;

/**
 * Gives back, first in line, the jobs pending under this live node that none of its pullers
 * holds: read by a TAKE whose reply never arrived (the connection to Redis dropped after Redis
 * ran it; a Redis restarted with its AOF still has them pending). Without this they would stay
 * pending under a node that never dies. Only jobs idle for ARGV[3] ms are taken (a TAKE's reply
 * still on its way is not mistaken for a loss); jobs in the delayed set and those the node
 * holds (ARGV[4..]: handed to a puller, or an ack or requeue waiting for Redis) stay.
 * KEYS: the queue stream, this node's heartbeat (unused: the delayed set is KEYS[3] as in
 * {@link RECLAIM}), the delayed set. ARGV: the notify channel, this node's
 * consumer, the least idle time (ms), the ids this node holds. Returns `{given back, still pending}`.
 */
export const ORPHANS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
${DELAYED_IDS}
local keep = {}
for id in pairs(delayed) do keep[id] = true end
for i = 4, #ARGV do keep[ARGV[i]] = true end
local held = redis.call('XPENDING', KEYS[1], 'rt', 'IDLE', tonumber(ARGV[3]), '-', '+', 1000, ARGV[2])
${GIVE_BACK}
return {n, #redis.call('XPENDING', KEYS[1], 'rt', '-', '+', 1, ARGV[2])}`;

/**
 * Acknowledges jobs: they are done and leave the stream (and the byte counts). KEYS: the
 * queue stream, the topic's byte count, the totals hash. ARGV: ids. (A queue Redis lost
 * meanwhile has nothing to acknowledge: no error.)
 */
export const ACK = `
for i = 1, #ARGV do
  pcall(redis.call, 'XACK', KEYS[1], 'rt', ARGV[i])
  local id = ARGV[i]
  ${FORGET}
end
return #ARGV`;

/**
 * What the metrics and the admin page show of Redis (run only when they ask). KEYS: the
 * history index `ht`, the history log `hl`, its byte count `hb`, the set of topics with a
 * queue `qs`, the queues' totals `qt`. ARGV: the key prefix `P`, most queues listed. Returns
 * `{history streams that exist, messages in the log, their bytes, jobs waiting (all topics),
 * bytes of the jobs held, {topic, waiting, …}}`: waiting counts as PUSH does (entries never
 * read, plus the delayed set); the list names topics with jobs waiting, at most ARGV[2].
 * O(history streams + queues): the history index is bounded by `maxHistoryTopics`.
 */
export const GAUGES = `
local streams = 0
for _, k in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  streams = streams + redis.call('EXISTS', k)
end
local messages = redis.call('XLEN', KEYS[2])
local bytes = tonumber(redis.call('GET', KEYS[3]) or '0')
local waiting = 0
local list = {}
local most = tonumber(ARGV[2])
for _, t in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  local q = ARGV[1] .. 'q:' .. t
  local n = redis.call('XLEN', q)
  if n > 0 then
    local ok, p = pcall(redis.call, 'XPENDING', q, 'rt')
    local w = n - (ok and p[1] or 0) + redis.call('ZCARD', ARGV[1] .. 'qd:' .. t)
    waiting = waiting + w
    if w > 0 and #list < 2 * most then
      list[#list + 1] = t
      list[#list + 1] = w
    end
  end
end
local held = tonumber(redis.call('HGET', KEYS[5], 'bytes') or '0')
return {streams, messages, bytes, waiting, held, list}`;
