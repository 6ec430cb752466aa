/**
 * What the Redis engine holds for history, and for how long: a topic's stream expires
 * `historyTtlMs` after its last publish (an idle topic leaves nothing behind), at most
 * `maxHistoryTopics` streams exist (the least recently published goes), past
 * `maxHistoryBytes` the oldest message leaves every stream, idempotency keys expire after the
 * dedupe window; and a client recovering past any of it gets a `history` gap. Runs on a redis-server of its own (test/helpers/redis-server.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Collector, TRANSPORTS, clients, quiet } from '../helpers/index.ts';
import { condition, stateReached } from '../helpers/reliability.ts';
import { REDIS_SERVER, redisNodes as nodes } from '../helpers/redis.ts';
import { startProxy } from '../helpers/tcp-proxy.ts';

const cli = (...args: string[]): string => REDIS_SERVER.cli(...args).trim();
const keys = (pattern: string): string[] => cli('--scan', '--pattern', pattern).split('\n').filter(Boolean);
/** The PTTL of the first key matching `pattern` (asked inside Redis: idempotency keys hold a NUL byte). */
const firstTtl = (pattern: string): number =>
  Number(
    cli(
      'eval',
      "local k = redis.call('SCAN', 0, 'MATCH', ARGV[1], 'COUNT', 10000)[2][1]; return redis.call('PTTL', k)",
      '0',
      pattern,
    ),
  );

describe('Redis engine: history budgets', () => {
  it('an idle topic’s streams expire historyTtlMs after its last publish; recovering past them is a gap', async () => {
    await using cluster = await nodes(1, { historyTtlMs: 400, dedupeTtlMs: 400 });
    const b = cluster.list[0]!.broker;
    const p = cluster.prefix;
    const { ep, off } = await b.engine.position();
    await b.publish('idle/x', 'soon gone', { key: 'k1' });
    for (const stream of [`${p}h:`, `${p}h:idle`, `${p}h:idle/x`]) {
      const ttl = Number(cli('pttl', stream));
      assert.ok(ttl > 0 && ttl <= 400, `${stream} expires (PTTL ${ttl})`);
    }
    const keyTtl = firstTtl(`${p}d:pub:*`);
    assert.ok(keyTtl > 0 && keyTtl <= 400, `the idempotency key expires (PTTL ${keyTtl})`);
    await condition(() => keys(`${p}h:*`).length === 0 && keys(`${p}d:*`).length === 0, 5000, 'the keys to expire');
    const after = await b.engine.recover('idle', ep, off);
    assert.deepEqual([after.gap, after.messages], ['history', []]);
    const caughtUp = await b.engine.recover('idle', ep, off + 1);
    assert.deepEqual([caughtUp.gap, caughtUp.messages], [undefined, []], 'nothing missed: no gap');
    // The topic's next stream still knows what came before it.
    await b.publish('idle/x', 'back');
    const again = await b.engine.recover('idle', ep, off);
    assert.deepEqual([again.gap, again.messages.map((m) => m.data)], ['history', ['back']]);
  });

  it('at most maxHistoryTopics streams: the least recently published goes, and recovering it is a gap', async () => {
    await using cluster = await nodes(1, { maxHistoryTopics: 10 });
    const b = cluster.list[0]!.broker;
    const p = cluster.prefix;
    const { ep, off } = await b.engine.position();
    await b.publish('mine', 'evicted');
    for (let i = 0; i < 15; i++) await b.publish(`other/${i}`, i);
    assert.equal(keys(`${p}h:*`).length, 10);
    assert.equal(Number(cli('zcard', `${p}ht`)), 10);
    assert.equal(cli('exists', `${p}h:mine`), '0');
    assert.equal(b.stats().historyTopicsEvicted, 8, 'mine and other/0..6');
    const mine = await b.engine.recover('mine', ep, off);
    assert.deepEqual([mine.gap, mine.messages], ['history', []]);
    // The newest topics are still whole.
    const last = await b.engine.recover('other/14', ep, off);
    assert.deepEqual([last.gap, last.messages.map((m) => m.data)], [undefined, [14]]);
    // Many more topics: the oldest deleted streams are forgotten too, yet nothing is silent.
    for (let i = 15; i < 100; i++) await b.publish(`other/${i}`, i);
    assert.equal(keys(`${p}h:*`).length, 10);
    assert.ok(Number(cli('zcard', `${p}hr`)) <= 10);
    assert.equal((await b.engine.recover('mine', ep, off)).gap, 'history');
    assert.equal((await b.engine.recover('other/3', ep, off)).gap, 'history');
  });

  it('past maxHistoryBytes the oldest messages leave every stream of their topic; recovering past them is a gap', async () => {
    // Each message is about 1.1 KiB in each of its two streams (the root's and its topic's).
    await using cluster = await nodes(1, { maxHistoryBytes: 24 * 1024 });
    const b = cluster.list[0]!.broker;
    const p = cluster.prefix;
    const { ep, off } = await b.engine.position();
    const pad = 'p'.repeat(1000);
    await b.publish('mine', { n: 0, pad });
    for (let i = 1; i <= 30; i++) await b.publish(`other${i % 3}`, { n: i, pad });
    const held = Number(cli('get', `${p}hb`));
    assert.ok(held > 0 && held <= 24 * 1024, `bytes held ${held}`);
    assert.equal(b.stats().historyBytes, held, 'broker.stats() reports it as of the last publish');
    assert.equal(Number(cli('xlen', `${p}h:mine`)), 0, 'mine’s message left its stream');
    assert.ok(Number(cli('xlen', `${p}h:`)) < 31, 'and the root’s');
    assert.ok((b.stats().historyEvicted ?? 0) >= 20, `evicted ${b.stats().historyEvicted}`);
    const mine = await b.engine.recover('mine', ep, off);
    assert.deepEqual([mine.gap, mine.messages], ['history', []]);
    // The newest are whole, and a position within what is held recovers with no gap.
    const last = await b.engine.recover('other0', ep, off + 28);
    assert.deepEqual([last.gap, last.messages.map((m) => (m.data as { n: number }).n)], [undefined, [30]]);
    const old = await b.engine.recover('other0', ep, off);
    assert.equal(old.gap, 'history');
    for (const key of ['hl', 'hb']) {
      const ttl = Number(cli('pttl', `${p}${key}`));
      assert.ok(ttl > 0, `${key} expires (PTTL ${ttl})`);
    }
  });

  for (const transport of TRANSPORTS) {
    it(`a client recovering past a stream deleted for the topic cap gets a gap, then live messages (${transport})`, async () => {
      await using cluster = await nodes(1, { maxHistoryTopics: 6 });
      const b = cluster.list[0]!;
      await using proxy = await startProxy(b.port);
      await using c = clients(proxy.url, transport);
      const client = c.make();
      const events = new Collector<string>();
      const s = client.topic<string>('mine').subscribe((m) => events.push(m));
      s.on('gap', (e) => events.push(`gap ${e.reason}`));
      await s.ready;
      await b.broker.publish('mine', 'first');
      await events.until(1);
      proxy.refuse(true);
      proxy.cut();
      await stateReached(client, 'reconnecting');
      await b.broker.publish('mine', 'missed');
      for (let i = 0; i < 10; i++) await b.broker.publish(`other/${i}`, i);
      proxy.refuse(false);
      await events.until(2, 10_000);
      await b.broker.publish('mine', 'live');
      await events.until(3);
      await quiet();
      assert.deepEqual(events.items, ['first', 'gap history', 'live']);
    });
  }
});
