/**
 * How messages age out of a topic that keeps publishing (its streams never sit idle long
 * enough to expire): the publish script trims every stream it writes to the oldest message
 * still in the byte-budget log, so an entry older than `historyTtlMs` leaves the streams
 * of its topic at the topic's next publish, and the bytes it held leave the count. Runs on a
 * redis-server of its own (test/helpers/redis-server.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { REDIS_SERVER, redisNodes as nodes } from '../helpers/redis.ts';

const cli = (...args: string[]): string => REDIS_SERVER.cli(...args).trim();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const offsets = (stream: string): number[] =>
  cli('xrange', stream, '-', '+')
    .split('\n')
    .filter((line) => /^\d+-0$/.test(line))
    .map((id) => Number(id.split('-')[0]));

describe('Redis engine: history by age', () => {
  it('an entry older than historyTtlMs leaves every stream of its topic at the next publish; recovering past it is a gap', async () => {
    const ttl = 1000;
    await using cluster = await nodes(1, { historyTtlMs: ttl });
    const b = cluster.list[0]!.broker;
    const p = cluster.prefix;
    const { ep, off } = await b.engine.position();
    await b.publish('age/x', 'old');
    await sleep(700);
    const middleStart = performance.now();
    await b.publish('age/y', 'middle');
    await sleep(500);
    // 'old' is more than the TTL old now; 'middle' is not, unless the machine stalled us for 500 ms.
    await b.publish('age/x', 'new');
    const middleKept = performance.now() - middleStart < ttl;
    const kept = middleKept ? [off + 2, off + 3] : [off + 3];
    assert.deepEqual(offsets(`${p}h:age/x`), [off + 3], 'the topic’s stream');
    assert.deepEqual(offsets(`${p}h:age`), kept, 'its parent’s');
    assert.deepEqual(offsets(`${p}h:`), kept, 'the root’s');
    // The log holds what the streams hold, and the byte count only that.
    assert.deepEqual(offsets(`${p}hl`), kept);
    const held = Number(cli('get', `${p}hb`));
    assert.equal(b.stats().historyBytes, held);
    const x = await b.engine.recover('age/x', ep, off);
    assert.deepEqual([x.gap, x.messages.map((m) => m.data)], ['history', ['new']]);
    if (middleKept) {
      const parent = await b.engine.recover('age', ep, off + 1);
      assert.deepEqual([parent.gap, parent.messages.map((m) => m.data)], [undefined, ['middle', 'new']]);
    }
  });
});
