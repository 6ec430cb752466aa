/**
 * The Redis engine when things fail: a broker process dies (its clients reconnect to another
 * node through a load balancer and recover what they missed; its unacknowledged jobs are
 * redelivered), Redis restarts empty mid-run (brokers stay up, report it, answer
 * `unavailable`, then resume and tell subscribers of the gap), and the queue bound holds
 * across nodes. Needs `redis-server` on PATH (each test process starts its own: test/helpers/redis-server.ts) and the built CLI.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RtError } from '@rt/client';
import { Collector, TRANSPORTS, clients, deadline, quiet } from '../helpers/index.ts';
import { RoundRobinProxy, health, startCluster, startRedis, stopRedis } from '../helpers/redis.ts';

describe('Redis engine: failover', () => {
  for (const transport of TRANSPORTS) {
    it(`a broker dies: its clients reconnect to another node, recover what they missed, and its unacknowledged jobs are redelivered (${transport})`, async () => {
      await using cluster = await startCluster(3);
      const [n0, , n2] = cluster.nodes;
      await using proxy = await new RoundRobinProxy(() => cluster.nodes).start();
      await using viaProxy = clients(proxy.url, transport);
      await using direct = clients(n2!.url, transport);

      // Place the subscriber and the puller on node 0.
      proxy.place(0);
      const subscriber = viaProxy.make();
      const got = new Collector<number>();
      const gaps = new Collector<string>();
      const sub = subscriber.topic<number>('feed').subscribe(got.push);
      sub.on('gap', (e) => gaps.push(e.reason));
      await sub.ready;
      proxy.place(0);
      const worker = viaProxy.make();
      const deliveries = new Collector<string>();
      await worker.topic<string>('work').pull((job) => {
        deliveries.push(job);
        // The first delivery never finishes: the job stays unacknowledged on node 0.
        return deliveries.items.length === 1 ? new Promise<void>(() => undefined) : undefined;
      }).ready;

      const publisher = direct.make();
      for (let i = 1; i <= 3; i++) await publisher.topic<number>('feed').publish(i);
      await publisher.topic<string>('work').push('job-1');
      await Promise.all([got.until(3), deliveries.until(1)]);

      // Node 0 dies; while no node is reachable through the load balancer, 3 more messages are published.
      proxy.blocked = true;
      await n0!.kill();
      await deadline(
        new Promise<void>((r) => (subscriber.state === 'reconnecting' ? r() : subscriber.once('state', () => r()))),
        5000,
        'the subscriber to notice',
      );
      for (let i = 4; i <= 6; i++) await publisher.topic<number>('feed').publish(i);
      proxy.blocked = false;

      // The subscriber reconnects to a live node and recovers 4..6 from Redis, then gets live messages.
      await got.until(6, 10_000);
      await publisher.topic<number>('feed').publish(7);
      await got.until(7);
      await quiet(200);
      assert.deepEqual(got.items, [1, 2, 3, 4, 5, 6, 7]);
      assert.deepEqual(gaps.items, []);
      assert.notEqual(subscriber.state, 'closed');

      // The job node 0 held unacknowledged is delivered again (the worker pulls again from its new node).
      const [, again] = await deliveries.until(2, 15_000, 'the unacknowledged job to be redelivered');
      assert.equal(again, 'job-1');
      await quiet(300);
      assert.equal(deliveries.items.length, 2);
    });
  }

  it('the push queue bound holds across nodes: past it a push on any node is rejected with queue_full', async () => {
    await using cluster = await startCluster(2, { RT_PUSH_QUEUE_SIZE: '3' });
    await using c0 = clients(cluster.nodes[0]!.url, 'websocket');
    await using c1 = clients(cluster.nodes[1]!.url, 'websocket');
    await c0.make().topic<number>('q').push(0);
    await c1.make().topic<number>('q').push(1);
    await c0.make().topic<number>('q').push(2);
    await assert.rejects(
      c1.make().topic<number>('q').push(3),
      (e: unknown) => e instanceof RtError && e.code === 'queue_full',
    );
    const got = new Collector<number>();
    await c1.make().topic<number>('q').pull(got.push).ready;
    await got.until(3);
    assert.deepEqual(got.items, [0, 1, 2]);
  });

  it('Redis restarts empty mid-run: brokers stay up, report it, answer unavailable, then resume and tell subscribers of the gap', async () => {
    await using cluster = await startCluster(2);
    const [n0, n1] = cluster.nodes;
    await using c0 = clients(n0!.url, 'websocket');
    await using c1 = clients(n1!.url, 'websocket');
    const subscriber = c0.make();
    const got = new Collector<string>();
    const gaps = new Collector<string>();
    const sub = subscriber.topic<string>('live').subscribe(got.push);
    sub.on('gap', (e) => gaps.push(e.reason));
    await sub.ready;
    const jobs = new Collector<string>();
    await c0.make().topic<string>('tasks').pull(jobs.push).ready;
    const publisher = c1.make();
    await publisher.topic<string>('live').publish('before');
    await got.until(1);

    try {
      await stopRedis();
      const report = await health(n1!.url, 503);
      assert.equal(report.status, 'degraded');
      assert.match(report.engineStatus ?? '', /Redis is unreachable/);
      await assert.rejects(
        publisher.topic<string>('live').publish('lost'),
        (e: unknown) => e instanceof RtError && e.code === 'unavailable',
      );
      await assert.rejects(
        publisher.topic<string>('tasks').push('lost'),
        (e: unknown) => e instanceof RtError && e.code === 'unavailable',
      );
      const res = await fetch(`${n0!.url}/rt/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic: 'live', data: 'lost' }),
      });
      assert.equal(res.status, 503);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'unavailable');
    } finally {
      await startRedis();
    }

    // Both brokers resume without a restart; the subscription and the puller work again.
    await health(n0!.url, 200);
    await health(n1!.url, 200);
    await gaps.until(1, 10_000, 'the subscriber to be told that history was lost');
    assert.deepEqual(gaps.items, ['epoch']);
    await publisher.topic<string>('live').publish('after');
    await got.until(2, 10_000);
    await publisher.topic<string>('tasks').push('task');
    await jobs.until(1, 10_000);
    await quiet(200);
    assert.deepEqual(got.items, ['before', 'after']);
    assert.deepEqual(jobs.items, ['task']);
    assert.equal(subscriber.state, 'open');
  });
});
