/**
 * Recovery history is bounded in total, not only per topic: bytes of all topics together
 * (`maxHistoryBytes`, the oldest messages broker-wide go first), topics with a history
 * (`maxHistoryTopics`, the least recently published topic's goes first), and each stored
 * message held once. A client flooding the open broker cannot grow its memory past them, and a
 * subscriber recovering past what was evicted gets a `history` gap (never silence) on every SDK
 * transport and on plain SSE `Last-Event-ID` recovery. The idempotency store, too, forgets its
 * keys on a timer, without waiting for another keyed publish.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BrokerOptions } from '@rt/server';
import { Collector, TRANSPORTS, clients, quiet, startBroker } from '../helpers/index.ts';
import { startProxy } from '../helpers/tcp-proxy.ts';
import { condition, heapUsed, whileCutOff } from '../helpers/reliability.ts';
import { readSse, untilMessages } from '../helpers/sse.ts';
import { scrape } from '../helpers/prometheus.ts';

const MiB = 1024 * 1024;

/** A distinct string of almost 1 MiB (its JSON text fits the default `maxPayloadBytes`). */
const big = (i: number): string => `${i}:`.padEnd(MiB - 16, 'x');

/** A payload of about 1 KiB (a 16 KiB byte budget holds about 14 of them). */
const kib = (n: number): { n: number; pad: string } => ({ n, pad: 'p'.repeat(1000) });

describe('history memory budgets', () => {
  it('300 × 1 MiB to one topic: the default byte budget holds, the heap stays near it', async () => {
    await using b = await startBroker();
    const before = heapUsed();
    for (let i = 0; i < 300; i++) await b.broker.publish('big', big(i));
    const stats = b.broker.stats();
    const grown = heapUsed() - before;
    assert.ok(
      stats.historyBytes !== undefined && stats.historyBytes <= 64 * MiB,
      `history bytes ${stats.historyBytes}`,
    );
    assert.ok((stats.historyEvicted ?? 0) >= 230, `evicted ${stats.historyEvicted}`);
    assert.ok(grown < 128 * MiB, `heap grew ${(grown / MiB).toFixed(0)} MiB for a 64 MiB budget`);
  });

  it('each stored message is held once (not as data and JSON text): 100 × 1 MiB take about 100 MiB', async () => {
    await using b = await startBroker({ limits: { maxHistoryBytes: 512 * MiB } });
    const url = `${b.url}/rt/sse?topic=once`;
    const first = await readSse(url);
    const [ready] = await untilMessages(first, 1);
    first.close();
    await condition(() => b.broker.stats().sessions === 0, 5000, 'the stream to close');
    const before = heapUsed();
    for (let i = 0; i < 100; i++) await b.broker.publish('once', big(i));
    const grown = heapUsed() - before;
    assert.equal(b.broker.stats().historyMessages, 100, 'all of them kept');
    assert.ok(grown < 150 * MiB, `heap grew ${(grown / MiB).toFixed(0)} MiB for 100 MiB of payloads`);
    // Still recovered as published: the payload is rebuilt from the text held.
    const id = ready!.id!;
    const at = id.lastIndexOf('-');
    const last3 = `${id.slice(0, at)}-${Number(id.slice(at + 1)) + 97}`;
    await using again = await readSse(url, { 'last-event-id': last3 });
    const events = await untilMessages(again, 4, 20_000);
    assert.deepEqual(
      events.slice(1).map((e) => e.data),
      [big(97), big(98), big(99)],
    );
  });

  it('100k distinct topics: the topics with a history stay at the cap, the heap bounded', async () => {
    await using b = await startBroker();
    const before = heapUsed();
    for (let i = 0; i < 100_000; i++) await b.broker.publish(`flood/${i}`, i);
    const stats = b.broker.stats();
    const grown = heapUsed() - before;
    assert.equal(stats.historyTopics, 10_000, 'the default cap');
    assert.ok((stats.historyTopicsEvicted ?? 0) >= 90_000, `topics evicted ${stats.historyTopicsEvicted}`);
    assert.ok(grown < 32 * MiB, `heap grew ${(grown / MiB).toFixed(0)} MiB`);
  });
});

describe('history budgets in the metrics', () => {
  it('rt_history_bytes, rt_history_topics, rt_history_evicted_total and rt_idempotency_keys follow broker.stats()', async () => {
    const token = 'metrics-token-for-history-budgets';
    await using b = await startBroker({
      limits: { maxHistoryBytes: 16 * 1024, maxHistoryTopics: 8 },
      metrics: { token },
    });
    for (let i = 0; i < 20; i++) await b.broker.publish(`m/${i}`, kib(i), { key: `k${i}` });
    const stats = b.broker.stats();
    const s = await scrape(`${b.url}/rt/metrics`, token);
    assert.ok(stats.historyBytes! > 0 && stats.historyBytes! <= 16 * 1024);
    assert.equal(s.value('rt_history_bytes'), stats.historyBytes);
    assert.equal(s.value('rt_history_topics'), 8);
    assert.equal(s.value('rt_history_messages'), stats.historyMessages);
    assert.equal(s.value('rt_history_evicted_total', { budget: 'bytes' }), stats.historyEvicted);
    assert.equal(s.value('rt_history_evicted_total', { budget: 'topics' }), stats.historyTopicsEvicted);
    assert.ok(stats.historyEvicted! > 0 && stats.historyTopicsEvicted! > 0);
    assert.equal(s.value('rt_idempotency_keys'), 20);
  });
});

describe('idempotency keys are a budget too', () => {
  it('broker.stats() counts the keys, and a quiet broker forgets them after the window', async () => {
    await using b = await startBroker({ limits: { dedupeTtlMs: 200 } });
    for (let i = 0; i < 50; i++) await b.broker.publish('keyed', i, { key: `k${i}` });
    assert.equal(b.broker.stats().idempotencyKeys, 50);
    await condition(() => b.broker.stats().idempotencyKeys === 0, 5000, 'the keys to be pruned');
  });
});

/** How the subscriber's history is evicted while it is away, and the broker that does it. */
const EVICTIONS: {
  name: string;
  options: BrokerOptions;
  evict: (publish: (topic: string, n: number) => Promise<unknown>) => Promise<void>;
}[] = [
  {
    name: 'the byte budget (other topics published past it)',
    options: { limits: { maxHistoryBytes: 16 * 1024 } },
    evict: async (publish) => {
      for (let i = 0; i < 20; i++) await publish(`other/${i % 3}`, i);
    },
  },
  {
    name: 'the topic cap (other topics published since)',
    options: { limits: { maxHistoryTopics: 8 } },
    evict: async (publish) => {
      for (let i = 0; i < 10; i++) await publish(`other/${i}`, i);
    },
  },
];

for (const transport of TRANSPORTS) {
  describe(`history evicted by a budget, recovered over ${transport}`, () => {
    for (const { name, options, evict } of EVICTIONS) {
      it(`a gap (reason "history") when ${name} evicted what was missed`, async () => {
        await using b = await startBroker(options);
        await using proxy = await startProxy(b.port);
        await using c = clients(proxy.url, transport);
        const client = c.make();
        const events = new Collector<string>();
        const s = client.topic<{ n: number }>('mine').subscribe((m) => events.push(`msg ${m.n}`));
        s.on('gap', (e) => events.push(`gap ${e.reason} ${e.topic}`));
        await s.ready;
        await b.broker.publish('mine', kib(0));
        await events.until(1);
        await whileCutOff(proxy, client, async () => {
          await b.broker.publish('mine', kib(1));
          await evict((topic, n) => b.broker.publish(topic, kib(n)));
        });
        await events.until(2, 10_000);
        await b.broker.publish('mine', kib(2));
        await events.until(3);
        await quiet();
        assert.deepEqual(events.items, ['msg 0', 'gap history mine', 'msg 2']);
      });
    }
  });
}

describe('history evicted by a budget, plain SSE Last-Event-ID recovery', () => {
  for (const { name, options, evict } of EVICTIONS) {
    it(`event: gap when ${name} evicted what was missed`, async () => {
      await using b = await startBroker(options);
      const url = `${b.url}/rt/sse?topic=mine`;
      const first = await readSse(url);
      const [ready] = await untilMessages(first, 1);
      first.close();
      await b.broker.publish('mine', kib(1));
      await evict((topic, n) => b.broker.publish(topic, kib(n)));
      await using again = await readSse(url, { 'last-event-id': ready!.id! });
      const [r, gap] = await untilMessages(again, 2);
      assert.equal(r!.event, 'ready');
      assert.equal(gap!.event, 'gap');
      assert.deepEqual(JSON.parse(gap!.data), { topic: 'mine', reason: 'history' });
      await b.broker.publish('mine', kib(2));
      const events = await untilMessages(again, 3);
      await quiet();
      assert.deepEqual(
        again.messages().map((e) => e.event),
        ['ready', 'gap', 'message'],
      );
      assert.equal(JSON.parse(events[2]!.data).n, 2);
    });
  }
});
