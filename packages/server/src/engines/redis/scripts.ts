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
 * - `P c:<topic>` / `P b:<topic>`: pub/sub and bus channels, one per topic;
 * - `P q:<topic>`: the topic's work queue, a stream read through the consumer group `rt`
 *   (one consumer per node); `P qn:<topic>`: the channel that tells nodes a job is waiting;
 * - `P node:<id>`: a node's heartbeat (expires when the node dies), and the channel of requests
 *   forwarded to that node; `P own:<hash>`: which node owns a connection (see forward.ts).
 */

/** Makes sure the epoch exists (a new one resets the offsets) and returns it: `{ep, off}`. */
const ENSURE_EPOCH = `
local ep = redis.call('GET', KEYS[1])
if not ep then
  ep = ARGV[1]
  redis.call('SET', KEYS[1], ep)
  redis.call('DEL', KEYS[2])
end`;

/**
 * Publish. KEYS: epoch, off, then one history stream per ancestor. ARGV: a new epoch (used
 * only when Redis lost it), the message body, history size, history ttl (ms), then one
 * channel per ancestor. Returns `{ep, off}`.
 */
export const PUBLISH = `${ENSURE_EPOCH}
local off = redis.call('INCR', KEYS[2])
local maxlen = tonumber(ARGV[3])
if maxlen > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local cutoff = now - tonumber(ARGV[4])
  for i = 3, #KEYS do
    local last = redis.call('XREVRANGE', KEYS[i], '+', '-', 'COUNT', 1)
    local prev = '0'
    if #last > 0 then prev = string.match(last[1][1], '^(%d+)') end
    redis.call('XADD', KEYS[i], 'MAXLEN', maxlen, off .. '-0', 'm', ARGV[2], 't', now, 'p', prev)
    -- Trim by age: drop the expired entries at the front (a few per publish, so the cost stays bounded).
    local old = redis.call('XRANGE', KEYS[i], '-', '+', 'COUNT', 8)
    local minid = nil
    for _, e in ipairs(old) do
      if tonumber(e[2][4]) >= cutoff then minid = e[1]; break end
      minid = (tonumber(string.match(e[1], '^(%d+)')) + 1) .. '-0'
    end
    if minid then redis.call('XTRIM', KEYS[i], 'MINID', minid) end
  end
end
local head = off .. ' ' .. ep .. ' '
for i = 5, #ARGV do redis.call('PUBLISH', ARGV[i], head .. ARGV[2]) end
return {ep, off}`;

/**
 * Recovery. KEYS: epoch, off, the topic's history stream. ARGV: a new epoch, the client's
 * epoch, its offset, history ttl (ms), most entries to return. Returns
 * `{ep, off, gap, off1, body1, off2, body2, ...}` where `gap` is '', 'epoch' or 'history'.
 */
export const RECOVER = `${ENSURE_EPOCH}
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
if ep ~= ARGV[2] then return {ep, cur, 'epoch'} end
local from = tonumber(ARGV[3])
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
  if #last > 0 and tonumber(string.match(last[1][1], '^(%d+)')) > from then lost = true end
end
if lost then out[3] = 'history' end
return out`;

/** The current position. KEYS: epoch, off. ARGV: a new epoch. Returns `{ep, off}`. */
export const POSITION = `${ENSURE_EPOCH}
return {ep, tonumber(redis.call('GET', KEYS[2]) or '0')}`;

/**
 * Push. KEYS: the queue stream. ARGV: most waiting jobs, the job body, the notify channel.
 * Returns the job id, or 0 when the queue is full.
 */
export const PUSH = `
pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], 'rt', '0', 'MKSTREAM')
local pending = redis.call('XPENDING', KEYS[1], 'rt')[1]
if redis.call('XLEN', KEYS[1]) - pending >= tonumber(ARGV[1]) then return 0 end
local id = redis.call('XADD', KEYS[1], '*', 'm', ARGV[2])
redis.call('PUBLISH', ARGV[3], '1')
return id`;

/**
 * Puts jobs back at the end of the queue for any node's pullers (a nack, a puller gone).
 * KEYS: the queue stream. ARGV: the notify channel, then job ids. Returns how many went back
 * (jobs Redis lost meanwhile cannot go back).
 */
export const REQUEUE = `
local n = 0
for i = 2, #ARGV do
  local e = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
  if #e > 0 then
    redis.call('XADD', KEYS[1], '*', 'm', e[1][2][2])
    n = n + 1
  end
  pcall(redis.call, 'XACK', KEYS[1], 'rt', ARGV[i])
  redis.call('XDEL', KEYS[1], ARGV[i])
end
if n > 0 then redis.call('PUBLISH', ARGV[1], '1') end
return n`;

/**
 * Gives back the jobs a dead node held. KEYS: the queue stream, the dead node's heartbeat.
 * ARGV: the notify channel, the dead consumer. Returns how many went back (0 when the node is alive).
 */
export const RECLAIM = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local n = 0
local held = redis.call('XPENDING', KEYS[1], 'rt', '-', '+', 1000, ARGV[2])
for _, p in ipairs(held) do
  local e = redis.call('XRANGE', KEYS[1], p[1], p[1])
  if #e > 0 then
    redis.call('XADD', KEYS[1], '*', 'm', e[1][2][2])
    n = n + 1
  end
  redis.call('XACK', KEYS[1], 'rt', p[1])
  redis.call('XDEL', KEYS[1], p[1])
end
if #held < 1000 then redis.call('XGROUP', 'DELCONSUMER', KEYS[1], 'rt', ARGV[2]) end
if n > 0 then redis.call('PUBLISH', ARGV[1], '1') end
return n`;

/**
 * Acknowledges jobs: they are done and leave the stream. KEYS: the queue stream. ARGV: ids.
 * (A queue Redis lost meanwhile has nothing to acknowledge: no error.)
 */
export const ACK = `
for i = 1, #ARGV do
  pcall(redis.call, 'XACK', KEYS[1], 'rt', ARGV[i])
  redis.call('XDEL', KEYS[1], ARGV[i])
end
return #ARGV`;
