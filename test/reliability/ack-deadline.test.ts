/**
 * Ack deadlines and fairness (issue 13, item 4), on both engines: a pulled job not
 * acknowledged within its deadline goes back first in line to another puller, as a further
 * attempt; a puller's prefetch is capped (`maxPrefetch`); a puller that lets jobs outlive
 * their deadline holds one at a time from then on, so a hoarder cannot starve an honest worker
 * (on main, a puller with prefetch 10000 that never acknowledged held all 500 jobs for good).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Client } from '@rt/client';
import { type BrokerOptions, redis } from '@rt/server';
import { Collector, type TestBroker, clients, quiet, startBroker } from '../helpers/index.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import WebSocket from 'ws';

/** A puller that never finishes a job; resolves with what it got once it pulls. */
async function hoard(client: Client, topic: string, options: { prefetch?: number; ackTimeoutMs?: number }) {
  const held = new Collector<number>();
  await client.topic<number>(topic).pull((n) => {
    held.push(n);
    return new Promise<void>(() => undefined);
  }, options).ready;
  return held;
}

/** A puller that finishes every job at once; collects `[job, attempt]`. */
async function work(client: Client, topic: string) {
  const done = new Collector<[number, number | undefined]>();
  await client.topic<number>(topic).pull((n, meta) => done.push([n, meta.attempt])).ready;
  return done;
}

/** Two brokers: the same one twice (memory), or two nodes on one Redis of the test's own. */
type Pair = { first: TestBroker; second: TestBroker } & AsyncDisposable;

async function memoryPair(limits: BrokerOptions['limits']): Promise<Pair> {
  const b = await startBroker({ limits });
  return { first: b, second: b, [Symbol.asyncDispose]: () => b[Symbol.asyncDispose]() };
}

async function redisPair(limits: BrokerOptions['limits']): Promise<Pair> {
  const server = await RedisServer.start();
  const prefix = `rt-test:${randomBytes(4).toString('hex')}:`;
  const first = await startBroker({ limits, engine: redis({ url: server.url, prefix }) });
  const second = await startBroker({ limits, engine: redis({ url: server.url, prefix }) });
  return {
    first,
    second,
    async [Symbol.asyncDispose]() {
      await first[Symbol.asyncDispose]();
      await second[Symbol.asyncDispose]();
      await server.stop();
    },
  };
}

for (const [engine, pair] of [
  ['memory', memoryPair],
  ['Redis', redisPair],
] as const) {
  describe(`${engine}: ack deadline and fair pullers`, () => {
    it('a job not acknowledged within the puller’s ackTimeoutMs goes first in line to another puller, as attempt 2', async () => {
      await using p = await pair({});
      await using c1 = clients(p.first.url, 'websocket');
      await using c2 = clients(p.second.url, 'websocket');
      const slow = await hoard(c1.make(), 'jobs', { ackTimeoutMs: 300 });
      const producer = c2.make();
      for (let n = 0; n < 4; n++) await producer.topic<number>('jobs').push(n);
      // Job 0 outlived its deadline: the slow puller was given job 1 instead.
      assert.deepEqual(await slow.until(2, 10_000, 'the slow puller to move on to job 1'), [0, 1]);
      const done = await work(c2.make(), 'jobs');
      const got = await done.until(4, 15_000, 'every job done by the other puller');
      assert.deepEqual(got[0], [0, 2], 'the job that came back is first in line, as its second attempt');
      assert.deepEqual(got.map(([n]) => n).sort(), [0, 1, 2, 3]);
      assert.ok(p.first.broker.stats().ackExpired >= 2, 'jobs taken back are counted (ackExpired)');
    });

    it('a hoarder with prefetch 10000 that never acks holds maxPrefetch jobs, then one at a time; an honest worker does all 500', async () => {
      await using p = await pair({ ackTimeoutMs: 1000 });
      await using c1 = clients(p.first.url, 'websocket');
      await using c2 = clients(p.second.url, 'websocket');
      const hoarder = await hoard(c1.make(), 'work', { prefetch: 10_000 });
      const producer = c2.make();
      await Promise.all(Array.from({ length: 500 }, (_, n) => producer.topic<number>('work').push(n)));
      await hoarder.until(100, 10_000, 'the hoarder to hold its 100');
      await quiet();
      assert.equal(hoarder.items.length, 100, 'prefetch is capped at maxPrefetch (100), not 500');
      const honest = await work(c2.make(), 'work');
      const done = await honest.until(500, 30_000, 'the honest worker to do every job');
      assert.deepEqual(
        [...new Set(done.map(([n]) => n))].sort((x, y) => x - y),
        Array.from({ length: 500 }, (_, n) => n),
      );
      const hoarded = new Set(hoarder.items.slice(0, 100));
      for (const [n, attempt] of done)
        if (hoarded.has(n)) assert.ok((attempt ?? 0) >= 2, `job ${n} came back from the hoarder as a later attempt`);
      // After its first missed deadline the hoarder held one job at a time: far fewer than the 400 others.
      assert.ok(hoarder.items.length < 200, `the hoarder got ${hoarder.items.length} jobs in all`);
    });
  });
}

describe('raw /pull options', () => {
  it('?prefetch= and ?ackTimeoutMs= must be positive integers: otherwise the handshake gets 400', async () => {
    await using b = await startBroker();
    const status = (query: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`${b.url.replace(/^http/, 'ws')}/pull/raw${query}`);
        ws.once('open', () => {
          ws.close();
          resolve(101);
        });
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('error', () => undefined);
      });
    assert.equal(await status('?prefetch=2&ackTimeoutMs=5000'), 101);
    assert.equal(await status('?ackTimeoutMs=soon'), 400);
    assert.equal(await status('?prefetch=0'), 400);
  });
});
