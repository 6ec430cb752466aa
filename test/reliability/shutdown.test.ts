/**
 * Graceful shutdown of `rt broker`: on SIGTERM it stops accepting, delivers what it already
 * accepted, tells clients to reconnect (they do, once a broker is back), and exits 0 within
 * a bounded time, even when a client does not read.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ConnectionState } from '@rt/client';
import { BrokerProcess, Collector, TRANSPORTS, clients, deadline } from '../helpers/index.ts';
import { startProxy } from '../helpers/tcp-proxy.ts';
import { condition, stateReached } from '../helpers/reliability.ts';

for (const transport of TRANSPORTS) {
  describe(`shutdown over ${transport}`, () => {
    it('SIGTERM: what was accepted is delivered, clients are told to reconnect, exit 0', async () => {
      await using broker = await new BrokerProcess().start();
      await using proxy = await startProxy(broker.port);
      await using slowPool = clients(proxy.url, transport);
      await using c = clients(broker.url, transport);
      const subscriber = slowPool.make();
      const states = new Collector<ConnectionState>();
      subscriber.on('state', (e) => states.push(e.to));
      const got = new Collector<number>();
      await subscriber.topic<number>('sd').subscribe(got.push).ready;
      await condition(() => proxy.open > 0, 5000, 'a connection through the proxy');

      // The subscriber's connection is slow: accepted messages are still on their way when
      // the signal comes.
      proxy.stall('down');
      const publisher = c.make();
      await deadline(
        Promise.all(Array.from({ length: 200 }, (_, n) => publisher.topic<number>('sd').publish(n))),
        15_000,
        'the publishes to be accepted',
      );
      assert.equal(got.items.length, 0);
      const exited = broker.kill('SIGTERM');
      setTimeout(() => proxy.resume(), 300);
      assert.equal(await deadline(exited, 15_000, 'rt broker to exit'), 0);
      await got.until(200, 5000);
      assert.deepEqual(
        got.items,
        Array.from({ length: 200 }, (_, n) => n),
      );
      // Told to come back, not closed: it reconnects once a broker listens again.
      await stateReached(subscriber, 'reconnecting');
      await broker.start();
      await stateReached(subscriber, 'open', 15_000);
      assert.ok(!states.items.includes('closed'));
    });

    it('SIGTERM exits 0 within the shutdown bound even when a client never reads', async () => {
      await using broker = await new BrokerProcess().start();
      await using proxy = await startProxy(broker.port);
      await using pool = clients(proxy.url, transport);
      await using c = clients(broker.url, transport);
      await pool.make().topic('deaf').subscribe().ready;
      await condition(() => proxy.open > 0, 5000, 'a connection through the proxy');
      proxy.stall();
      const publisher = c.make();
      const pad = 'x'.repeat(16 * 1024);
      await deadline(
        Promise.all(Array.from({ length: 300 }, (_, n) => publisher.topic('deaf').publish({ n, pad }))),
        15_000,
        'the publishes to be accepted',
      );
      const started = Date.now();
      assert.equal(await deadline(broker.kill('SIGTERM'), 15_000, 'rt broker to exit'), 0);
      // rt broker gives up on connections that will not drain (2 s) well before its own 10 s limit.
      assert.ok(Date.now() - started < 9000, `took ${Date.now() - started} ms`);
    });
  });
}
