/**
 * Retained values in Redis (latest-value topics). Each topic with a retained value has its
 * entry in the hash `P r:<ancestor>` of itself and of every ancestor (field: the topic; value:
 * `<off> <epoch> <message>`, as a channel message), so that a subscription reads its
 * subtree's values with one `HGETALL` and no scan. The publish script keeps or clears them in
 * the same step as the publish (see {@link RETAIN}): a subscriber on any node that starts
 * after a publish was accepted gets that value or a newer one. Retained values do not expire;
 * they stay until cleared (a publish of `null` with retain). A value of another epoch (Redis
 * lost the offsets but not the hash) is dropped when read: its offset means nothing now.
 */
import { ancestry, type Payload } from '@rt/protocol';
import type { StoredMessage } from '../engine.js';
import { decodeMessage, splitHeader } from './codec.js';
import { type Connections, Script } from './connection.js';

/**
 * The part of the publish script (scripts.ts) that keeps (`ARGV[7]` = `s`) or clears (`c`)
 * the retained value of the topic `ARGV[8]`: in the hashes `KEYS[7 + n]` onwards, where `n`
 * is the number of history streams and `head` the channel message's header.
 */
export const RETAIN = `
if ARGV[7] == 's' then
  for i = 7 + n, #KEYS do redis.call('HSET', KEYS[i], ARGV[8], head .. ARGV[2]) end
elseif ARGV[7] == 'c' then
  for i = 7 + n, #KEYS do redis.call('HDEL', KEYS[i], ARGV[8]) end
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

/** The hashes the publish script writes when `mode` is not `-`: one per ancestor of `topic` (itself included). */
export function retainKeys(key: (name: string) => string, topic: string, mode: '-' | 's' | 'c'): string[] {
  return mode === '-' ? [] : ancestry(topic).map((t) => key(`r:${t}`));
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
