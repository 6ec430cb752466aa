/**
 * Retained values in Redis (latest-value topics). Each topic with a retained value has its
 * entry in the hash `P r:<ancestor>` of itself and of every ancestor (field: the topic; value:
 * `<off> <epoch> <message>`, as a channel message), so that a subscription reads its
 * subtree's values with one `HGETALL` and no scan. The publish script keeps or clears them in
 * the same step as the publish (see {@link RETAIN}): a subscriber on any node that starts
 * after a publish was accepted gets that value or a newer one. Retained values do not expire;
 * they stay until cleared (a publish of `null` with retain) or until more than
 * `maxRetainedTopics` topics hold one: the sorted set `P rz` (topic by offset of its value)
 * finds the least recently retained, whose value goes from every hash. A value of another epoch (Redis
 * lost the offsets but not the hash) is dropped when read: its offset means nothing now.
 */
import { ancestry, type Payload } from '@rt/protocol';
import type { StoredMessage } from '../engine.js';
import { decodeMessage, splitHeader } from './codec.js';
import { type Connections, Script } from './connection.js';

/**
 * The part of the publish script (scripts.ts) that keeps (`ARGV[7]` = `s`) or clears (`c`)
 * the retained value of the topic `ARGV[8]`: in the hashes `KEYS[7 + n]` up to the last key
 * but one, where `n` is the number of history streams and `head` the channel message's
 * header; the last key is the index `rz`, `ARGV[9]` the most topics with a value. Sets
 * `dropped` to the number of values it evicted.
 */
export const RETAIN = `
local dropped = 0
if ARGV[7] == 's' then
  local rz = KEYS[#KEYS]
  for i = 7 + n, #KEYS - 1 do redis.call('HSET', KEYS[i], ARGV[8], head .. ARGV[2]) end
  redis.call('ZADD', rz, off, ARGV[8])
  local over = redis.call('ZCARD', rz) - tonumber(ARGV[9])
  if over > 0 then
    local prefix = string.sub(rz, 1, #rz - 2)
    local gone = redis.call('ZPOPMIN', rz, over)
    for j = 1, #gone, 2 do
      local t = gone[j]
      local a = nil
      for seg in string.gmatch(t, '[^/]+') do
        if a then a = a .. '/' .. seg else a = seg end
        redis.call('HDEL', prefix .. 'r:' .. a, t)
      end
      dropped = dropped + 1
    end
  end
elseif ARGV[7] == 'c' then
  for i = 7 + n, #KEYS - 1 do redis.call('HDEL', KEYS[i], ARGV[8]) end
  redis.call('ZREM', KEYS[#KEYS], ARGV[8])
end`;

/**
 * Reads a subtree's retained values. KEYS: epoch, the subtree's hash. Returns the values of
 * the current epoch (others are removed from this hash).
 */
const READ = new Script(`
local ep = redis.call('GET', KEYS[1])
local all = redis.call('HGETALL', KEYS[2])
local out = {}
for i = 2, #all, 2 do
  local v = all[i]
  local a = string.find(v, ' ', 1, true)
  local b = a and string.find(v, ' ', a + 1, true)
  if ep and b and string.sub(v, a + 1, b - 1) == ep then table.insert(out, v)
  else redis.call('HDEL', KEYS[2], all[i - 1]) end
end
return out`);

/** What the publish script does with the retained value: `-` nothing, `s` keep, `c` clear (`null` data). */
export function retainMode(retain: boolean | undefined, data: Payload): '-' | 's' | 'c' {
  if (!retain) return '-';
  return data === null ? 'c' : 's';
}

/**
 * The keys the publish script writes when `mode` is not `-`: one hash per ancestor of `topic`
 * (itself included), then the index `rz`.
 */
export function retainKeys(key: (name: string) => string, topic: string, mode: '-' | 's' | 'c'): string[] {
  return mode === '-' ? [] : [...ancestry(topic).map((t) => key(`r:${t}`)), key('rz')];
}

/** The retained values of `topic` and its descendants, of the current epoch, in offset order. */
export async function readRetained(
  conns: Connections,
  key: (name: string) => string,
  topic: string,
): Promise<StoredMessage[]> {
  const values = (await conns.run(READ, [key('epoch'), key(`r:${topic}`)], [], true)) as Buffer[];
  const out: StoredMessage[] = [];
  for (const value of values) {
    const [offText, , start] = splitHeader(value);
    const decoded = decodeMessage(value, start);
    const message: StoredMessage = { topic: decoded.topic, data: decoded.data, off: Number(offText) };
    if (decoded.dataText !== undefined) message.dataText = decoded.dataText;
    if (decoded.meta !== undefined) message.meta = decoded.meta;
    out.push(message);
  }
  return out.sort((a, b) => a.off - b.off);
}
