/**
 * Jobs a puller gave back because it went away (its connection closed, its node shut down or
 * was killed) go first in line, ahead of jobs that were waiting, marked as a further attempt,
 * on both engines (issue 14, item 6).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Client } from '@rt/client';
import { redis } from '@rt/server';
import { BrokerProcess, Collector, clients, startBroker } from '../helpers/index.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { condition } from '../helpers/reliability.ts';

/** A puller that takes `prefetch` jobs and never finishes them; resolves once it pulls. */
async function hoard(client: Client, prefetch: number): Promise<Collector<number>> {
  const held = new Collector<number>();
  await client.topic<number>('jobs').pull(
    (n) => {
      held.push(n);
      return new Promise<void>(() => undefined);
    },
    { prefetch },
  ).ready;
  return held;
}

/** Pulls every job one at a time; resolves with `[job, attempt]` in the order they came once there are `n`. */
async function drain(client: Client, n: number): Promise<[number, number | undefined][]> {
  const got = new Collector<[number, number | undefined]>();
  await client.topic<number>('jobs').pull((job, meta) => got.push([job, meta.attempt])).ready;
  return got.until(n, 15_000, `${n} jobs`);
}

const EXPECTED: [number, number][] = [
  [0, 2],
  [1, 2],
  [2, 1],
  [3, 1],
  [4, 1],
  [5, 1],
];

/** Pushes jobs 0-5; resolves once the hoarding puller holds the first two. */
async function pushAll(client: Client, held: Collector<number>): Promise<void> {
  for (let n = 0; n < 6; n++) await client.topic<number>('jobs').push(n);
  assert.deepEqual(await held.until(2, 10_000, 'the first puller to hold its jobs'), [0, 1]);
}

describe('jobs given back go first in line', () => {
  it('memory: a puller whose connection closes', async () => {
    await using b = await startBroker();
    await using c = clients(b.url, 'websocket');
    const first = c.make();
    await pushAll(c.make(), await hoard(first, 2));
    first.close();
    assert.deepEqual(await drain(c.make(), 6), EXPECTED);
  });

  it('Redis: a node that shuts down while its puller holds jobs', async () => {
    await using server = await RedisServer.start();
    const prefix = `rt-test:${randomBytes(4).toString('hex')}:`;
    const n0 = await startBroker({ engine: redis({ url: server.url, prefix }) });
    await using n1 = await startBroker({ engine: redis({ url: server.url, prefix }) });
    await using c0 = clients(n0.url, 'websocket');
    await using c1 = clients(n1.url, 'websocket');
    await pushAll(c1.make(), await hoard(c0.make(), 2));
    await n0.broker.close();
    assert.deepEqual(await drain(c1.make(), 6), EXPECTED);
  });

  it('Redis: a node killed while its puller holds jobs', async () => {
    await using server = await RedisServer.start();
    const prefix = `rt-test:${randomBytes(4).toString('hex')}:`;
    await using n0 = await new BrokerProcess([
      '--mode',
      'production',
      '--redis',
      server.url,
      '--redis-prefix',
      prefix,
    ]).start();
    await using n1 = await startBroker({ engine: redis({ url: server.url, prefix }) });
    await using c0 = clients(n0.url, 'websocket');
    await using c1 = clients(n1.url, 'websocket');
    await pushAll(c1.make(), await hoard(c0.make(), 2));
    await n0.kill('SIGKILL');
    // The survivor gives them back once the dead node's heartbeat expired (3 s). Its puller
    // holds job 2 until then, so jobs 3-5 are still waiting when 0 and 1 come back.
    const got = new Collector<[number, number | undefined]>();
    await c1
      .make()
      .topic<number>('jobs')
      .pull(async (job, meta) => {
        got.push([job, meta.attempt]);
        if (got.items.length === 1) await condition(() => n1.broker.stats().redelivered >= 2, 15_000, 'the reclaim');
      }).ready;
    assert.deepEqual(await got.until(6, 20_000, '6 jobs'), [[2, 1], ...EXPECTED.filter(([n]) => n !== 2)]);
  });
});
