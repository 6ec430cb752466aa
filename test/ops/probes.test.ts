/**
 * Probes: `/rt/livez` answers while the process lives; `/rt/readyz` is 503 with the reason
 * while the engine cannot serve (a Redis this test started, killed by PID) and 200 again once
 * Redis is back and the broker's subscriptions are re-established (a message published then
 * reaches a subscriber that subscribed before the outage).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { redis } from '@rt/server';
import { Collector, clients, deadline, startBroker } from '../helpers/index.ts';
import { scrape } from '../helpers/prometheus.ts';
import { RedisServer } from '../helpers/redis-server.ts';

const METRICS_TOKEN = 'metrics-token-for-probes';

interface Probe {
  status: number;
  body: { status: string; reason?: string; engine?: string };
}

async function probe(url: string): Promise<Probe> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Probe['body'] };
}

/** Polls `url` until its status is `status` (a condition with a deadline, not a sleep). */
async function until(url: string, status: number, what: string): Promise<Probe> {
  let last: Probe | undefined;
  return deadline(
    (async () => {
      for (;;) {
        last = await probe(url);
        if (last.status === status) return last;
        await new Promise((r) => setTimeout(r, 100));
      }
    })(),
    20_000,
    `${what} (last: ${JSON.stringify(last)})`,
  );
}

describe('probes', () => {
  it('livez and readyz answer 200 on a memory broker; /rt/health stays as it was', async () => {
    await using b = await startBroker();
    assert.deepEqual(await probe(`${b.url}/rt/livez`), { status: 200, body: { status: 'ok' } });
    assert.deepEqual(await probe(`${b.url}/rt/readyz`), { status: 200, body: { status: 'ready', engine: 'memory' } });
    const health = await probe(`${b.url}/rt/health`);
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'ok');
  });

  it('readyz is 503 with the reason while Redis is down, 200 once it is back and re-subscribed', async () => {
    await using server = await RedisServer.start();
    await using b = await startBroker({
      engine: redis({ url: server.url, prefix: 'rt-probe:' }),
      metrics: { token: METRICS_TOKEN },
    });
    const metrics = () => scrape(`${b.url}/rt/metrics`, METRICS_TOKEN);
    await using c = clients(b.url, 'websocket');
    const sub = c.make();
    const got = new Collector<unknown>();
    await sub.topic('probe/topic').subscribe(got.push).ready;
    assert.equal((await probe(`${b.url}/rt/readyz`)).status, 200);
    const up = await metrics();
    assert.equal(up.value('rt_engine_up', { engine: 'redis' }), 1);

    await server.kill();
    const down = await until(`${b.url}/rt/readyz`, 503, 'readyz to say 503 while Redis is down');
    assert.equal(down.body.status, 'unavailable');
    assert.equal(down.body.engine, 'redis');
    assert.match(down.body.reason ?? '', /Redis/);
    // Liveness does not depend on Redis: restarting the process would not bring Redis back.
    assert.equal((await probe(`${b.url}/rt/livez`)).status, 200);
    assert.equal((await probe(`${b.url}/rt/health`)).status, 503);
    assert.equal((await metrics()).value('rt_engine_up', { engine: 'redis' }), 0);

    await server.restart();
    await until(`${b.url}/rt/readyz`, 200, 'readyz to say 200 after Redis came back');
    // Ready means re-subscribed: a publish now reaches the subscription made before the outage.
    const res = await fetch(`${b.url}/rt/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 'probe/topic', data: 'after' }),
    });
    assert.equal(res.status, 200);
    await got.until(1, 10_000, 'the message published once ready');
    assert.deepEqual(got.items, ['after']);
    const after = await metrics();
    assert.equal(after.value('rt_engine_up', { engine: 'redis' }), 1);
    // Every Redis script the engine ran is in the latency histogram (the publish at least).
    const count = (s: typeof after) => s.histogram('rt_engine_command_duration_seconds').count;
    assert.ok(count(after) > count(up), `histogram count ${count(up)} -> ${count(after)}`);
  });
});
