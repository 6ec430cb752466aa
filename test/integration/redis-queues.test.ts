/**
 * The Redis engine's work queues and idempotency keys across nodes (brokers in this process
 * sharing one Redis under a unique prefix): redelivery after a nack (at once to another node's
 * puller, after a growing delay to a lone failing one), the delivery count of a job, and a
 * publish or push resent to another node carried out once. Needs `redis-server` on PATH (each test process starts its own: test/helpers/redis-server.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Collector, clients, quiet, startBroker } from '../helpers/index.ts';
import { RedisEngine } from '@rt/server';
import { REDIS_SERVER, REDIS_URL, cleanRedis, redisNodes, requireRedis, uniquePrefix } from '../helpers/redis.ts';
import { assertGrowingRedelivery } from '../helpers/reliability.ts';

describe('Redis engine: redelivery and idempotency across nodes', () => {
  it('a nacked job goes at once to a puller with room on another node, with attempt 2; the failing puller does not get it back', async () => {
    await using cluster = await redisNodes(2, { redeliveryDelayMs: 60_000 });
    const [a, b] = cluster.list;
    await using ca = clients(a!.url, 'websocket');
    await using cb = clients(b!.url, 'websocket');
    const failed = new Collector<[string, number]>();
    let fail: (() => void) | undefined;
    await ca
      .make()
      .topic<string>('nack')
      .pull((d, meta) => {
        failed.push([d, meta.attempt ?? 0]);
        // Fails only once the puller on the other node is there (and has room).
        return new Promise<void>((_resolve, reject) => (fail = () => reject(new Error('cannot'))));
      }).ready;
    await ca.make().topic<string>('nack').push('item');
    await failed.until(1);
    const done = new Collector<[string, number]>();
    await cb
      .make()
      .topic<string>('nack')
      .pull((d, meta) => done.push([d, meta.attempt ?? 0])).ready;
    await quiet(100);
    assert.deepEqual(done.items, [], 'the job is still held by the first puller');
    fail!();
    // Well within the 60 s redelivery delay: the other node did not wait for it.
    await done.until(1, 5000);
    assert.deepEqual(done.items, [['item', 2]]);
    await quiet();
    assert.deepEqual(failed.items, [['item', 1]]);
    assert.equal(a!.broker.stats().redelivered, 1);
  });

  it('a lone failing puller gets the job back after a delay that doubles per attempt, and attempt counts up', async () => {
    await using cluster = await redisNodes(2, { redeliveryDelayMs: 100 });
    const [a, b] = cluster.list;
    await using ca = clients(a!.url, 'websocket');
    await using cb = clients(b!.url, 'websocket');
    // 100, 200, 400 ms between attempts, the puller on node A, the push on node B (the delay runs on Redis's clock: allow ms rounding).
    await assertGrowingRedelivery(ca.make(), cb.make(), 'retry', 100, 3);
  });

  it('a job waiting out its redelivery delay goes at once to a puller that joins on another node', async () => {
    await using cluster = await redisNodes(2, { redeliveryDelayMs: 60_000 });
    const [a, b] = cluster.list;
    await using ca = clients(a!.url, 'websocket');
    await using cb = clients(b!.url, 'websocket');
    const failed = new Collector<number>();
    await ca
      .make()
      .topic<number>('later')
      .pull((n) => {
        failed.push(n);
        throw new Error('cannot');
      }).ready;
    await ca.make().topic<number>('later').push(1);
    await failed.until(1);
    // The job waits out its delay in Redis (nobody else pulls): a puller joining on node B takes it at once.
    const done = new Collector<[number, number]>();
    await cb
      .make()
      .topic<number>('later')
      .pull((n, meta) => done.push([n, meta.attempt ?? 0])).ready;
    await done.until(1, 5000);
    assert.deepEqual(done.items, [[1, 2]]);
    assert.deepEqual(failed.items, [1]);
  });

  it('a publish resent with the same key to a different node is delivered once and answered with the first offset', async () => {
    await using cluster = await redisNodes(2);
    const [a, b] = cluster.list;
    await using c = clients(b!.url, 'websocket');
    const got = new Collector<string>();
    await c.make().topic<string>('k').subscribe(got.push).ready;
    const first = await a!.broker.publish('k', 'once', { key: 'order-1' });
    const again = await b!.broker.publish('k', 'once', { key: 'order-1' });
    assert.deepEqual(again, first);
    const post = (url: string): Promise<Response> =>
      fetch(`${url}/rt/publish?topic=k`, { method: 'POST', headers: { 'idempotency-key': 'order-2' }, body: 'http' });
    const r1 = await post(a!.url);
    const r2 = await post(b!.url);
    assert.equal(r2.status, 200);
    assert.deepEqual(await r2.json(), await r1.json());
    await b!.broker.publish('k', 'other key', { key: 'order-3' });
    await got.until(3);
    await quiet();
    assert.deepEqual(got.items, ['once', 'http', 'other key']);
    assert.equal(b!.broker.stats().deduplicated, 2);
  });

  it('a push resent with the same key through another node is queued once', async () => {
    await using cluster = await redisNodes(2);
    const [a, b] = cluster.list;
    await using c = clients(a!.url, 'websocket');
    await a!.broker.engine.push('pk', 'job', undefined, 'push-1');
    await b!.broker.engine.push('pk', 'job', undefined, 'push-1');
    await b!.broker.engine.push('pk', 'next', undefined, 'push-2');
    const got = new Collector<[string, number]>();
    await c
      .make()
      .topic<string>('pk')
      .pull((d, meta) => got.push([d, meta.attempt ?? 0])).ready;
    await got.until(2);
    await quiet();
    assert.deepEqual(got.items, [
      ['job', 1],
      ['next', 1],
    ]);
    assert.equal(b!.broker.stats().deduplicated, 1);
  });

  it('a job whose read reached Redis but whose reply was lost goes to a puller; jobs pullers hold stay with them', async () => {
    requireRedis();
    const prefix = uniquePrefix();
    // sweepMs 100: a job pending under the node and held by none of its pullers goes back after 500 ms idle.
    const engine = new RedisEngine({ url: REDIS_URL, prefix, sweepMs: 100 });
    await using b = await startBroker({ engine });
    await using c = clients(b.url, 'websocket');
    const holder = new Collector<string>();
    await c
      .make()
      .topic<string>('orphan')
      .pull((d) => {
        holder.push(d);
        return new Promise<void>(() => undefined); // holds its job (its ack deadline is 30 s)
      }).ready;
    await b.broker.engine.push('orphan', 'held');
    await holder.until(1);
    await b.broker.engine.push('orphan', 'lost read');
    // What a TAKE whose reply never came back leaves behind: the entry read for this node, pending under it, known to none of its pullers.
    const read = REDIS_SERVER.cli(
      'XREADGROUP',
      'GROUP',
      'rt',
      engine.nodeId,
      'COUNT',
      '1',
      'STREAMS',
      `${prefix}q:orphan`,
      '>',
    );
    assert.match(read, /lost read/);
    const got = new Collector<[string, number]>();
    await c
      .make()
      .topic<string>('orphan')
      .pull((d, meta) => got.push([d, meta.attempt ?? 0])).ready;
    await got.until(1, 5000);
    await quiet(700);
    // The read that was lost counts as a delivery; the job the first puller holds was not taken from it.
    assert.deepEqual(got.items, [['lost read', 2]]);
    assert.deepEqual(holder.items, ['held']);
    cleanRedis(prefix);
  });
});
