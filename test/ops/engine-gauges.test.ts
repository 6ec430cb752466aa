/**
 * Queue depth, history sizes and the `budget` drop reason in the metrics and on the admin
 * page, on both engines: the memory engine knows them at once, the Redis engine reads them
 * from Redis when scraped (every node's jobs and histories). Jobs pushed with no puller are
 * waiting; a puller that holds one leaves the rest waiting; messages evicted from history for
 * `maxHistoryBytes` are counted as dropped for a budget.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type Engine, memory, redis } from '@rt/server';
import { Collector, clients, startBroker } from '../helpers/index.ts';
import { scrape } from '../helpers/prometheus.ts';
import { REDIS_URL, cleanRedis, uniquePrefix } from '../helpers/redis.ts';

const TOKEN = 'metrics-token-for-engine-gauges';

interface AdminQueue {
  topic: string;
  waiting: number;
  inflight: number;
  pullers: number;
}

async function adminQueues(url: string): Promise<AdminQueue[]> {
  const res = await fetch(`${url}/rt/admin/state`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200);
  const state = (await res.json()) as { queues: AdminQueue[] | null };
  assert.ok(state.queues, 'the admin page lists the queues');
  return [...state.queues].sort((a, b) => (a.topic < b.topic ? -1 : 1));
}

const ENGINES: [string, () => { engine: Engine; prefix?: string }][] = [
  ['memory', () => ({ engine: memory() })],
  [
    'redis',
    () => {
      const prefix = uniquePrefix();
      return { engine: redis({ url: REDIS_URL, prefix }), prefix };
    },
  ],
];

for (const [name, make] of ENGINES) {
  describe(`engine gauges (${name})`, () => {
    it('rt_queue_depth and the admin page count jobs waiting; a held job is in flight, not waiting', async () => {
      const { engine, prefix } = make();
      await using b = await startBroker({ engine, metrics: { token: TOKEN }, admin: { token: TOKEN } });
      await using c = clients(b.url, 'websocket');
      try {
        const pusher = c.make();
        for (let i = 1; i <= 5; i++) await pusher.topic<string>('work/a').push(`a${i}`);
        for (let i = 1; i <= 2; i++) await pusher.topic<string>('work/b').push(`b${i}`);
        const s = await scrape(`${b.url}/rt/metrics`, TOKEN);
        assert.equal(s.value('rt_queue_depth'), 7);
        assert.ok(s.value('rt_queue_bytes') > 0, 'queue bytes');
        assert.deepEqual(await adminQueues(b.url), [
          { topic: 'work/a', waiting: 5, inflight: 0, pullers: 0 },
          { topic: 'work/b', waiting: 2, inflight: 0, pullers: 0 },
        ]);

        // A puller on work/b that holds its first job (prefetch 1): one in flight, one waiting.
        const held = new Collector<string>();
        const worker = c.make();
        await worker.topic<string>('work/b').pull(
          (job) => {
            held.push(job);
            return new Promise<void>(() => undefined);
          },
          { prefetch: 1 },
        ).ready;
        await held.until(1);
        assert.equal((await scrape(`${b.url}/rt/metrics`, TOKEN)).value('rt_queue_depth'), 6);
        assert.deepEqual(await adminQueues(b.url), [
          { topic: 'work/a', waiting: 5, inflight: 0, pullers: 0 },
          { topic: 'work/b', waiting: 1, inflight: 1, pullers: 1 },
        ]);

        // Every job of work/a done: its queue is empty.
        const done = new Collector<string>();
        await c
          .make()
          .topic<string>('work/a')
          .pull((job) => done.push(job)).ready;
        await done.until(5);
        await waitFor(
          async () => (await scrape(`${b.url}/rt/metrics`, TOKEN)).value('rt_queue_depth') === 1,
          'depth 1',
        );
      } finally {
        if (prefix) cleanRedis(prefix);
      }
    });

    it('history gauges, and messages evicted for maxHistoryBytes are dropped for a budget', async () => {
      const { engine, prefix } = make();
      await using b = await startBroker({
        engine,
        metrics: { token: TOKEN },
        limits: { maxHistoryBytes: 16 * 1024 },
      });
      try {
        const s0 = await scrape(`${b.url}/rt/metrics`, TOKEN);
        assert.equal(s0.value('rt_history_messages'), 0);
        assert.equal(s0.value('rt_messages_dropped_total', { reason: 'budget' }), 0);
        for (let i = 0; i < 3; i++) await b.broker.publish(`h/${i}`, 'x');
        const s1 = await scrape(`${b.url}/rt/metrics`, TOKEN);
        assert.equal(s1.value('rt_history_messages'), 3);
        // h/0, h/1, h/2, their parent h and the root each have a history.
        assert.equal(s1.value('rt_history_topics'), 5);
        assert.ok(s1.value('rt_history_bytes') > 0);

        // 40 × 1 KiB: past the 16 KiB budget the oldest messages go.
        for (let i = 0; i < 40; i++) await b.broker.publish('h/0', 'y'.repeat(1024));
        const s2 = await scrape(`${b.url}/rt/metrics`, TOKEN);
        const evicted = s2.value('rt_history_evicted_total', { budget: 'bytes' });
        assert.ok(evicted > 0, 'messages evicted for the byte budget');
        assert.equal(s2.value('rt_messages_dropped_total', { reason: 'budget' }), evicted);
        assert.equal(b.broker.stats().historyEvicted, evicted);
        assert.equal(s2.value('rt_history_messages'), 43 - evicted);
        assert.ok(s2.value('rt_history_bytes') <= 16 * 1024, `history bytes ${s2.value('rt_history_bytes')}`);
        assert.equal(s2.value('rt_messages_dropped_total', { reason: 'slow_consumer' }), 0);
      } finally {
        if (prefix) cleanRedis(prefix);
      }
    });
  });
}

async function waitFor(check: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
