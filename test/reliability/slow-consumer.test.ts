/**
 * Backpressure: one client that stops reading (its connection stalled in a TCP proxy) must
 * not slow the others or grow the broker's memory without bound. Per policy it gets a `gap`
 * (reason `overflow`) or is disconnected, and `broker.stats()` counts it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { GapEvent } from '@rt/client';
import { Collector, TRANSPORTS, clients, startBroker } from '../helpers/index.ts';
import { startProxy } from '../helpers/tcp-proxy.ts';
import { condition, heapUsed, stateReached } from '../helpers/reliability.ts';

const MAX_OUTBOUND = 256 * 1024;
const MESSAGES = 1500;
const PAYLOAD = 'x'.repeat(8 * 1024);
const WINDOW = 50;

/**
 * Publishes MESSAGES messages of PAYLOAD bytes on `feed`, WINDOW at a time, each window
 * once the fast clients have the previous one: as fast as they can take, however slow the
 * stalled one is. `sample` runs after each window.
 */
async function publishAll(
  publish: (n: number) => Promise<unknown>,
  fast: Collector<number>[],
  sample: () => void,
): Promise<void> {
  for (let n = 0; n < MESSAGES; ) {
    for (const end = n + WINDOW; n < end; n++) await publish(n);
    await Promise.all(fast.map((got) => got.until(n, 15_000, `message ${n - 1} to a fast client`)));
    sample();
  }
}

for (const transport of TRANSPORTS) {
  describe(`slow consumer over ${transport}`, () => {
    it('policy "drop": the others get everything, memory stays bounded, the slow one gets a gap', async () => {
      await using b = await startBroker({ limits: { maxOutboundBytes: MAX_OUTBOUND, historySize: 50 } });
      await using proxy = await startProxy(b.port);
      await using slowClients = clients(proxy.url, transport);
      await using c = clients(b.url, transport);
      const slow = slowClients.make();
      const slowGot = new Collector<number>();
      const slowGaps = new Collector<GapEvent>();
      const events: string[] = [];
      const slowSub = slow.topic<{ n: number }>('feed').subscribe(({ n }) => {
        slowGot.push(n);
        events.push('msg');
      });
      slowSub.on('gap', (e) => {
        slowGaps.push(e);
        events.push('gap');
      });
      await slowSub.ready;
      const fast = [c.make(), c.make(), c.make()].map((client) => {
        const got = new Collector<number>();
        const gaps = new Collector<GapEvent>();
        const sub = client.topic<{ n: number }>('feed').subscribe(({ n }) => got.push(n));
        sub.on('gap', gaps.push);
        return { sub, got, gaps };
      });
      await Promise.all(fast.map((f) => f.sub.ready));
      const baseline = heapUsed();

      proxy.stall();
      let peakQueued = 0;
      await publishAll(
        (n) => b.broker.publish('feed/x', { n, pad: PAYLOAD }),
        fast.map((f) => f.got),
        () => (peakQueued = Math.max(peakQueued, b.broker.stats().outboundQueued)),
      );
      for (const f of fast) {
        assert.deepEqual(
          f.got.items,
          Array.from({ length: MESSAGES }, (_, i) => i),
        );
        assert.deepEqual(f.gaps.items, []);
      }
      const stats = b.broker.stats();
      assert.ok(stats.outboundDropped > 0, 'the slow connection dropped messages');
      assert.equal(stats.slowDisconnects, 0);
      // Queues stay within the bound (plus one message), whatever was published.
      assert.ok(peakQueued <= MAX_OUTBOUND + 10 * 1024, `queued ${peakQueued} bytes`);
      const grown = heapUsed() - baseline;
      assert.ok(
        grown < 8 * 1024 * 1024,
        `the heap grew by ${grown} bytes while ${MESSAGES * PAYLOAD.length} bytes went to a stalled client`,
      );

      proxy.resume();
      await slowGaps.until(1, 15_000, 'the overflow gap');
      assert.deepEqual(slowGaps.items[0], { topic: 'feed', reason: 'overflow' });
      await b.broker.publish('feed', { n: MESSAGES, pad: '' });
      await condition(() => slowGot.items.at(-1) === MESSAGES, 15_000, 'the slow client to catch up');
      // What it did get is in order, without duplicates, and it was told where the hole is.
      assert.ok(slowGot.items.length < MESSAGES, `the slow client got ${slowGot.items.length}`);
      assert.deepEqual(
        slowGot.items,
        [...slowGot.items].sort((x, y) => x - y),
      );
      assert.equal(new Set(slowGot.items).size, slowGot.items.length);
      assert.ok(events.indexOf('gap') > 0 && events.indexOf('gap') < events.length - 1);
    });

    it('policy "disconnect": the slow connection is dropped, counted, and recovers what history holds', async () => {
      await using b = await startBroker({
        limits: { maxOutboundBytes: MAX_OUTBOUND, historySize: 50 },
        slowConsumer: 'disconnect',
      });
      await using proxy = await startProxy(b.port);
      await using slowClients = clients(proxy.url, transport);
      await using c = clients(b.url, transport);
      const slow = slowClients.make();
      const slowGot = new Collector<number>();
      const slowGaps = new Collector<GapEvent>();
      const slowSub = slow.topic<{ n: number }>('feed').subscribe(({ n }) => slowGot.push(n));
      slowSub.on('gap', slowGaps.push);
      await slowSub.ready;
      const fastGot = new Collector<number>();
      await c
        .make()
        .topic<{ n: number }>('feed')
        .subscribe(({ n }) => fastGot.push(n)).ready;

      proxy.stall();
      await publishAll(
        (n) => b.broker.publish('feed', { n, pad: PAYLOAD }),
        [fastGot],
        () => undefined,
      );
      assert.deepEqual(
        fastGot.items,
        Array.from({ length: MESSAGES }, (_, i) => i),
      );
      await condition(() => b.broker.stats().slowDisconnects === 1, 10_000, 'the slow connection to be dropped');
      assert.equal(b.broker.stats().sessions, 1);
      assert.equal(b.broker.stats().outboundDropped, 0);

      proxy.cut();
      proxy.resume();
      await stateReached(slow, 'open');
      // Reconnected: it recovers what history still holds and is told about the rest.
      await slowGaps.until(1, 15_000);
      assert.deepEqual(slowGaps.items, [{ topic: 'feed', reason: 'history' }]);
      await condition(
        () => slowGot.items.at(-1) === MESSAGES - 1,
        15_000,
        `the recovered tail (have ${slowGot.items.length}: ${slowGot.items.slice(-5).join()})`,
      );
      assert.deepEqual(
        slowGot.items.slice(-50),
        Array.from({ length: 50 }, (_, i) => MESSAGES - 50 + i),
      );
    });
  });
}
