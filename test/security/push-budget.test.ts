/**
 * Push budgets (issue 13, item 3, the work-queue part): jobs waiting for a puller are bounded
 * per topic and in total, by count and by bytes, and expire after `pushTtlMs` (default now
 * 1 hour; it was "never"). A push past a budget is refused with `queue_full` naming the budget
 * on every door that pushes (SDK error, HTTP 503, WebSocket close 1013); what was accepted is
 * still delivered, and the broker's heap stays within the budget. Both engines.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { RtError } from '@rt/client';
import { type BrokerOptions, DEFAULT_LIMITS, redis } from '@rt/server';
import { Collector, clients, quiet, startBroker } from '../helpers/index.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { condition, heapUsed } from '../helpers/reliability.ts';

const KIB = 1024;

/** The engine options of a broker for each engine: memory, or Redis (a server of the test's own, stopped by `using`). */
const ENGINES: [string, () => Promise<BrokerOptions & AsyncDisposable>][] = [
  ['memory', async () => ({ [Symbol.asyncDispose]: async () => undefined })],
  [
    'Redis',
    async () => {
      const server = await RedisServer.start();
      return {
        engine: redis({ url: server.url, prefix: `rt-test:${randomBytes(4).toString('hex')}:` }),
        [Symbol.asyncDispose]: () => server.stop(),
      };
    },
  ],
];

/** Pushes through the SDK; resolves with the error code and message, or 'ok'. */
async function tryPush(push: () => Promise<void>): Promise<string> {
  try {
    await push();
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof RtError, `an RtError, got ${String(e)}`);
    return `${e.code}: ${e.message}`;
  }
}

describe('push budgets', () => {
  it('documented defaults: 10,000 / 16 MiB per topic, 100,000 / 64 MiB in total, waiting jobs expire after 1 hour', () => {
    assert.equal(DEFAULT_LIMITS.pushQueueSize, 10_000);
    assert.equal(DEFAULT_LIMITS.pushQueueBytes, 16 * 1024 * KIB);
    assert.equal(DEFAULT_LIMITS.pushTotalSize, 100_000);
    assert.equal(DEFAULT_LIMITS.pushTotalBytes, 64 * 1024 * KIB);
    assert.equal(DEFAULT_LIMITS.pushTtlMs, 60 * 60_000);
  });

  for (const [name, make] of ENGINES) {
    describe(name, () => {
      it('past the total count or a topic’s bytes, a push is refused with queue_full naming the budget; the rest is delivered', async () => {
        await using engine = await make();
        await using b = await startBroker({
          ...engine,
          limits: { pushTotalSize: 5, pushQueueBytes: 40 * KIB },
        });
        await using c = clients(b.url, 'websocket');
        const producer = c.make();
        const big = 'x'.repeat(15 * KIB);
        // Bytes of one topic: two 15 KiB jobs fit in 40 KiB, a third does not.
        assert.equal(await tryPush(() => producer.topic<string>('big').push(`a${big}`)), 'ok');
        assert.equal(await tryPush(() => producer.topic<string>('big').push(`b${big}`)), 'ok');
        assert.match(
          await tryPush(() => producer.topic<string>('big').push(`c${big}`)),
          /^queue_full: .*pushQueueBytes/,
        );
        // Small jobs elsewhere still fit, up to the total count (5 jobs, all topics).
        for (let n = 0; n < 3; n++) assert.equal(await tryPush(() => producer.topic<number>('small').push(n)), 'ok');
        assert.match(await tryPush(() => producer.topic<number>('small').push(3)), /^queue_full: .*pushTotalSize/);
        // The other doors: HTTP 503 with the code, raw WebSocket closed with 1013.
        const post = await fetch(`${b.url}/push/small`, { method: 'POST', body: 'over' });
        assert.equal(post.status, 503);
        assert.match(await post.text(), /queue_full/);
        const ws = new WebSocket(`${b.url.replace(/^http/, 'ws')}/push/small`);
        const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
        await new Promise((resolve) => ws.once('open', resolve));
        ws.send('over');
        assert.equal(await closed, 1013);
        assert.equal(b.broker.stats().pushRejected, 4);
        // Everything accepted is delivered; after that, pushes fit again.
        const got = new Collector<string>();
        await c
          .make()
          .topic<unknown>('big')
          .pull((d) => got.push(String(d).slice(0, 1))).ready;
        const small = new Collector<number>();
        await c.make().topic<number>('small').pull(small.push).ready;
        assert.deepEqual(await got.until(2), ['a', 'b']);
        assert.deepEqual((await small.until(3)).sort(), [0, 1, 2]);
        assert.equal(await tryPush(() => producer.topic<number>('small').push(9)), 'ok');
        assert.deepEqual(await small.until(4), [0, 1, 2, 9]);
      });

      it('past the total bytes, pushes of large jobs are refused and the heap stays within the budget', async () => {
        await using engine = await make();
        const budget = 4 * 1024 * KIB;
        await using b = await startBroker({ ...engine, limits: { pushTotalBytes: budget } });
        await using c = clients(b.url, 'websocket');
        const producer = c.make();
        const before = heapUsed();
        const outcomes: string[] = [];
        for (let n = 0; n < 40; n++) {
          const job = `${n} ${'y'.repeat(512 * KIB)}`;
          outcomes.push(await tryPush(() => producer.topic<string>(`many/${n % 4}`).push(job)));
        }
        const accepted = outcomes.filter((o) => o === 'ok').length;
        assert.equal(accepted, 7, '7 jobs of 512 KiB fit in 4 MiB');
        for (const o of outcomes.slice(accepted)) assert.match(o, /^queue_full: .*pushTotalBytes/);
        // 40 jobs would hold 20 MiB (twice that as text and value); the budget holds 4 MiB.
        const grown = heapUsed() - before;
        assert.ok(grown < 3 * budget, `the heap grew by ${grown} bytes`);
      });

      it('jobs that wait past pushTtlMs expire (counted as pushExpired) and free the budget; no puller gets them', async () => {
        await using engine = await make();
        await using b = await startBroker({ ...engine, limits: { pushTtlMs: 300, pushTotalSize: 3 } });
        await using c = clients(b.url, 'websocket');
        const producer = c.make();
        const stale = producer.topic<number>('stale');
        for (let n = 0; n < 3; n++) assert.equal(await tryPush(() => stale.push(n)), 'ok');
        assert.match(await tryPush(() => stale.push(3)), /^queue_full/);
        await condition(() => b.broker.stats().pushExpired === 3, 10_000, 'the three jobs nobody pulls to expire');
        assert.equal(await tryPush(() => stale.push(7)), 'ok', 'expired jobs no longer count against the budget');
        const got = new Collector<number>();
        await c.make().topic<number>('stale').pull(got.push).ready;
        assert.deepEqual(await got.until(1), [7]);
        await quiet();
        assert.deepEqual(got.items, [7], 'expired jobs are gone');
      });
    });
  }
});
