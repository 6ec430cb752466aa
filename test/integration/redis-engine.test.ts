/**
 * The Redis engine in this process: several brokers (nodes) sharing one Redis under a unique
 * prefix. Recovery limits and a Redis that cannot be reached at all. Needs Redis on
 * a redis-server of its own (test/helpers/redis-server.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RtError, redis } from '@rt/server';
import { RtError as ClientError } from '@rt/client';
import { Collector, clients, quiet, startBroker } from '../helpers/index.ts';
import { condition } from '../helpers/reliability.ts';
import {
  REDIS_SERVER,
  REDIS_URL,
  cleanRedis,
  redisNodes as nodes,
  requireRedis,
  uniquePrefix,
} from '../helpers/redis.ts';

/** How many connections subscribe to each channel (`PUBSUB NUMSUB`). */
function subscribers(...channels: string[]): number[] {
  const out = REDIS_SERVER.cli('pubsub', 'numsub', ...channels).split('\n');
  return channels.map((_, i) => Number(out[i * 2 + 1]));
}

describe('Redis engine', () => {
  it('recovery on another node: what is still in history comes back in order; what was trimmed is reported as a gap', async () => {
    await using cluster = await nodes(2, { historySize: 3 });
    const [a, b] = cluster.list;
    // Positions come from Redis, so a position taken on node A is good on node B.
    const { ep, off } = await a!.broker.engine.position();
    for (let i = 1; i <= 2; i++) await a!.broker.publish('h/x', i);
    const kept = await b!.broker.engine.recover('h', ep, off);
    assert.deepEqual([kept.gap, kept.messages.map((m) => m.data)], [undefined, [1, 2]]);
    for (let i = 3; i <= 6; i++) await a!.broker.publish('h/x', i);
    const trimmed = await b!.broker.engine.recover('h', ep, off);
    assert.deepEqual([trimmed.gap, trimmed.messages.map((m) => m.data)], ['history', [4, 5, 6]]);
    assert.equal(trimmed.off, trimmed.messages[2]!.off);
    const fromLatest = await b!.broker.engine.recover('h', ep, trimmed.off);
    assert.deepEqual([fromLatest.gap, fromLatest.messages], [undefined, []]);
    const otherEpoch = await b!.broker.engine.recover('h', 'not-this-epoch', 0);
    assert.equal(otherEpoch.gap, 'epoch');
  });

  it('history expires by age, and a client recovering after it is told of the gap', async () => {
    await using cluster = await nodes(2, { historyTtlMs: 300 });
    const [a, b] = cluster.list;
    const { ep, off } = await a!.broker.engine.position();
    await a!.broker.publish('old', 'stale');
    await quiet(400);
    const late = await b!.broker.engine.recover('old', ep, off);
    assert.deepEqual([late.gap, late.messages], ['history', []]);
  });

  it('a subscriber on one node receives a publish made with broker.publish on another', async () => {
    await using cluster = await nodes(2);
    const [a, b] = cluster.list;
    await using c = clients(b!.url, 'websocket');
    const got = new Collector<unknown>();
    await c.make().topic('srv').subscribe(got.push).ready;
    const { off } = await a!.broker.publish('srv/x', { n: 1 });
    await got.until(1);
    assert.deepEqual(got.items, [{ n: 1 }]);
    assert.ok(off > 0);
  });

  it('a broker that shuts down hands the jobs its pullers held to a puller on another node', async () => {
    requireRedis();
    const prefix = uniquePrefix();
    const a = await startBroker({ engine: redis({ url: REDIS_URL, prefix }) });
    try {
      await using b = await startBroker({ engine: redis({ url: REDIS_URL, prefix }) });
      await using ca = clients(a.url, 'websocket', { reconnect: false });
      await using cb = clients(b.url, 'websocket');
      const held = new Collector<string>();
      await ca
        .make()
        .topic<string>('handover')
        .pull((job) => {
          held.push(job);
          return new Promise<void>(() => undefined);
        }).ready;
      await cb.make().topic<string>('handover').push('job');
      await held.until(1);
      const taken = new Collector<string>();
      await cb.make().topic<string>('handover').pull(taken.push).ready;
      await a.broker.close();
      await taken.until(1, 10_000);
      assert.deepEqual(taken.items, ['job']);
    } finally {
      await a.broker.close();
      cleanRedis(prefix);
    }
  });

  it('a node subscribes in Redis only to the topics its clients listen to, and leaves them when they stop', async () => {
    await using cluster = await nodes(3);
    const [a, b] = cluster.list;
    const p = cluster.prefix;
    await using ca = clients(a!.url, 'websocket');
    await using cb = clients(b!.url, 'websocket');
    const x = ca.make();
    const y = ca.make();
    const subX = x.topic('only/here').subscribe();
    const subY = y.topic('only/here').subscribe();
    await Promise.all([subX.ready, subY.ready, cb.make().topic('elsewhere').bus().ready]);
    // One subscription per node however many of its clients listen; the third node listens to nothing.
    assert.deepEqual(subscribers(`${p}c:only/here`, `${p}c:only`, `${p}b:elsewhere`, `${p}c:elsewhere`), [1, 0, 1, 0]);
    await subX.unsubscribe();
    assert.deepEqual(subscribers(`${p}c:only/here`), [1]);
    await subY.unsubscribe();
    assert.deepEqual(subscribers(`${p}c:only/here`), [0]);
  });

  it('Redis unreachable from the start: the broker starts, reports it, and answers unavailable', async () => {
    // Port 1 on loopback: nothing listens there.
    await using b = await startBroker({ engine: redis({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 300 }) });
    const res = await fetch(`${b.url}/rt/health`);
    assert.equal(res.status, 503);
    const body = (await res.json()) as { status: string; engine: string; engineStatus: string };
    assert.deepEqual([body.status, body.engine], ['degraded', 'redis']);
    assert.match(body.engineStatus, /Redis is unreachable/);
    await assert.rejects(b.broker.publish('x', 1), (e: unknown) => e instanceof RtError && e.code === 'unavailable');
    await using c = clients(b.url, 'websocket', { logErrors: false });
    const client = c.make();
    const errors = new Collector<{ error: Error; topic?: string; retryInMs?: number }>();
    client.on('error', errors.push);
    // A publish is refused at once; a subscription and a bus join are not given up: they are
    // retried with backoff, and each refusal is reported with the topic and the next try.
    await assert.rejects(
      client.topic('x').publish(1),
      (e: unknown) => e instanceof ClientError && e.code === 'unavailable',
    );
    void client
      .topic('x')
      .subscribe()
      .ready.catch(() => undefined);
    void client
      .topic('y')
      .bus()
      .ready.catch(() => undefined);
    await condition(
      () => ['x', 'y'].every((t) => errors.items.some((e) => e.topic === t)),
      10_000,
      'the subscription and the join reported as retried',
    );
    for (const e of errors.items.filter((i) => i.topic !== undefined)) {
      assert.ok(e.error instanceof ClientError && e.error.code === 'unavailable', String(e.error));
      assert.ok(typeof e.retryInMs === 'number' && e.retryInMs >= 0);
    }
    // The connection lives on.
    assert.equal(client.state, 'open');
  });
});
