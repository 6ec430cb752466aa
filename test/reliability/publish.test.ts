/**
 * `publish()` and `push()` resolve when the broker has accepted the message, and survive
 * connection cuts: a request whose answer was lost is sent again after the reconnect with
 * the same idempotency key, and the broker carries it out once. A publisher's sequence
 * reaches subscribers complete, in order, without duplicates.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Collector, TRANSPORTS, clients, deadline, quiet, startBroker } from '../helpers/index.ts';
import { startProxy } from '../helpers/tcp-proxy.ts';
import { condition, stateReached } from '../helpers/reliability.ts';

for (const transport of TRANSPORTS) {
  describe(`publishing through cuts over ${transport}`, () => {
    it('publishes whose answers were lost are resent and carried out once', async () => {
      await using b = await startBroker();
      await using proxy = await startProxy(b.port);
      await using behind = clients(proxy.url, transport);
      await using direct = clients(b.url, transport);
      const got = new Collector<number>();
      await direct.make().topic<number>('seq').subscribe(got.push).ready;
      const publisher = behind.make();
      await publisher.ready();
      await condition(() => proxy.open > 0, 5000, 'a connection through the proxy');

      // The broker receives and accepts these, but its answers never reach the publisher.
      proxy.stall('down');
      const settled: string[] = [];
      const sent = [0, 1, 2, 3, 4].map((n) =>
        publisher
          .topic<number>('seq')
          .publish(n)
          .then(() => settled.push(`pub ${n}`)),
      );
      const pushed = publisher
        .topic<string>('work')
        .push('job')
        .then(() => settled.push('push'));
      await got.until(5);
      assert.deepEqual(settled, []);
      proxy.cut();
      proxy.resume();
      await Promise.all([...sent, pushed]);
      assert.deepEqual(settled, ['pub 0', 'pub 1', 'pub 2', 'pub 3', 'pub 4', 'push']);
      await publisher.topic<number>('seq').publish(5);
      await got.until(6);
      await quiet();
      assert.deepEqual(got.items, [0, 1, 2, 3, 4, 5]);
      assert.equal(b.broker.stats().deduplicated, 6);
      assert.equal(b.broker.stats().pushed, 1);
    });

    it('a burst larger than the broker takes in one packet goes out in several, and all of it arrives', async () => {
      await using b = await startBroker();
      await using c = clients(b.url, transport);
      const got = new Collector<number>();
      await c
        .make()
        .topic<{ n: number }>('burst')
        .subscribe(({ n }) => got.push(n)).ready;
      const publisher = c.make();
      const pad = 'x'.repeat(16 * 1024);
      // 300 x 16 KiB in the same tick: more than socket.io's packet bound (about 4 MiB).
      await deadline(
        Promise.all(Array.from({ length: 300 }, (_, n) => publisher.topic('burst').publish({ n, pad }))),
        15_000,
        'the burst to be accepted',
      );
      await got.until(300);
      assert.deepEqual(
        got.items,
        Array.from({ length: 300 }, (_, i) => i),
      );
    });

    it('a pipelined sequence survives repeated cuts: complete, in order, once each', async () => {
      await using b = await startBroker();
      await using proxy = await startProxy(b.port);
      await using behind = clients(proxy.url, transport);
      await using direct = clients(b.url, transport);
      const got = new Collector<number>();
      await direct.make().topic<number>('pipe').subscribe(got.push).ready;
      const publisher = behind.make();
      const total = 400;
      const sent: Promise<void>[] = [];
      for (let n = 0; n < total; n++) {
        sent.push(publisher.topic<number>('pipe').publish(n));
        if (n % 80 === 40) {
          await stateReached(publisher, 'open');
          await condition(() => proxy.open > 0, 5000, 'a connection through the proxy');
          await quiet(5);
          proxy.cut();
        }
      }
      await deadline(Promise.all(sent), 20_000, 'every publish to be accepted');
      await got.until(total, 10_000);
      await quiet();
      assert.deepEqual(
        got.items,
        Array.from({ length: total }, (_, i) => i),
      );
    });
  });
}

describe('idempotency keys on server publishing', () => {
  it('in process and over HTTP (Idempotency-Key), a repeated key publishes once', async () => {
    await using b = await startBroker();
    await using c = clients(b.url, 'websocket');
    const got = new Collector<string>();
    await c.make().topic<string>('k').subscribe(got.push).ready;
    const first = await b.broker.publish('k', 'once', { key: 'abc' });
    const again = await b.broker.publish('k', 'once', { key: 'abc' });
    assert.deepEqual(again, first);
    const post = (): Promise<Response> =>
      fetch(`${b.url}/rt/publish?topic=k`, {
        method: 'POST',
        headers: { 'idempotency-key': 'order-17' },
        body: 'http',
      });
    const [r1, r2] = [await post(), await post()];
    assert.equal(r1.status, 200);
    assert.deepEqual(await r2.json(), await r1.json());
    const bad = await fetch(`${b.url}/rt/publish?topic=k`, {
      method: 'POST',
      headers: { 'idempotency-key': 'x'.repeat(200) },
      body: 'no',
    });
    assert.equal(bad.status, 400);
    await got.until(2);
    await quiet();
    assert.deepEqual(got.items, ['once', 'http']);
    assert.equal(b.broker.stats().deduplicated, 2);
  });
});
