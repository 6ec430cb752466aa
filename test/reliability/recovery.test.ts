/**
 * Recovery after reconnect, over every transport, with a TCP proxy that cuts or stalls the
 * network between client and broker: within the history window nothing is lost and nothing
 * is delivered twice; beyond it (count, age, or a broker restart) the subscription gets a
 * `gap` event, never silence.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type GapEvent } from '@rt/client';
import { BrokerProcess, Collector, TRANSPORTS, clients, quiet, startBroker } from '../helpers/index.ts';
import { startProxy } from '../helpers/tcp-proxy.ts';
import { condition, stateReached, whileCutOff } from '../helpers/reliability.ts';

for (const transport of TRANSPORTS) {
  describe(`recovery over ${transport}`, () => {
    it('mid-stream cuts lose and duplicate nothing; a subscription to `a` recovers `a/b/c`', async () => {
      await using b = await startBroker();
      await using proxy = await startProxy(b.port);
      await using c = clients(proxy.url, transport);
      await using direct = clients(b.url, transport);
      const sub = c.make();
      const got = new Collector<number>();
      const gaps = new Collector<GapEvent>();
      const s = sub.topic<number>('a').subscribe((n) => got.push(n));
      s.on('gap', gaps.push);
      await s.ready;
      const pub = direct.make().topic<number>('a/b/c');
      const total = 300;
      let cuts = 0;
      for (let i = 0; i < total; ) {
        // A burst on the wire, cut in its middle, more published while the client is away.
        await stateReached(sub, 'open');
        await condition(() => proxy.open > 0, 5000, 'a connection through the proxy');
        const burst: Promise<void>[] = [];
        for (const end = i + 60; i < end; i++) {
          burst.push(pub.publish(i));
          if (i % 60 === 20) cuts += proxy.cut() > 0 ? 1 : 0;
        }
        await Promise.all(burst);
      }
      await got.until(total, 15_000, `all ${total} messages after ${cuts} cuts`);
      await quiet();
      assert.equal(cuts, 5, `the proxy cut live connections (${cuts})`);
      assert.ok(proxy.accepted > 1, 'the client reconnected through the proxy');
      assert.deepEqual(
        got.items,
        Array.from({ length: total }, (_, i) => i),
      );
      assert.deepEqual(gaps.items, []);
    });

    it('a stalled connection delivers everything, in order, once it flows again', async () => {
      await using b = await startBroker();
      await using proxy = await startProxy(b.port);
      await using c = clients(proxy.url, transport);
      const got = new Collector<number>();
      await c
        .make()
        .topic<number>('stall')
        .subscribe((n) => got.push(n)).ready;
      await b.broker.publish('stall', 0);
      await got.until(1);
      proxy.stall();
      for (let i = 1; i < 100; i++) await b.broker.publish('stall/x', i);
      await quiet(200);
      assert.equal(got.items.length, 1, 'nothing passes a stalled connection');
      proxy.resume();
      await got.until(100, 10_000);
      await quiet();
      assert.deepEqual(
        got.items,
        Array.from({ length: 100 }, (_, i) => i),
      );
    });

    it('a gap (reason "history") when more was published while away than history keeps', async () => {
      await using b = await startBroker({ limits: { historySize: 5 } });
      await using proxy = await startProxy(b.port);
      await using c = clients(proxy.url, transport);
      const client = c.make();
      const got = new Collector<number>();
      const events = new Collector<string>();
      const s = client.topic<number>('h').subscribe((n) => {
        got.push(n);
        events.push(`msg ${n}`);
      });
      s.on('gap', (e) => events.push(`gap ${e.reason} ${e.topic}`));
      await s.ready;
      await b.broker.publish('h', 0);
      await got.until(1);
      await whileCutOff(proxy, client, async () => {
        for (let i = 1; i <= 20; i++) await b.broker.publish('h/deep', i);
      });
      await got.until(6, 10_000);
      await quiet();
      // The app hears of the loss first, then gets what history still had, in order.
      assert.deepEqual(events.items, ['msg 0', 'gap history h', 'msg 16', 'msg 17', 'msg 18', 'msg 19', 'msg 20']);
      await b.broker.publish('h', 21);
      await got.until(7);
      assert.equal(got.items.at(-1), 21);
    });

    it('a gap (reason "history") when the missed messages are older than the history keeps them', async () => {
      await using b = await startBroker({ limits: { historyTtlMs: 150 } });
      await using proxy = await startProxy(b.port);
      await using c = clients(proxy.url, transport);
      const client = c.make();
      const got = new Collector<number>();
      const gaps = new Collector<GapEvent>();
      const s = client.topic<number>('age').subscribe((n) => got.push(n));
      s.on('gap', gaps.push);
      await s.ready;
      await b.broker.publish('age', 0);
      await got.until(1);
      await whileCutOff(proxy, client, async () => {
        await b.broker.publish('age', 1);
        await b.broker.publish('age', 2);
        await quiet(400); // let the missed messages age out of history
      });
      await gaps.until(1, 10_000);
      assert.deepEqual(gaps.items, [{ topic: 'age', reason: 'history' }]);
      await b.broker.publish('age', 3);
      await got.until(2);
      assert.deepEqual(got.items, [0, 3]);
    });

    it('no gap when nothing was missed, even after the history aged out', async () => {
      await using b = await startBroker({ limits: { historyTtlMs: 100 } });
      await using proxy = await startProxy(b.port);
      await using c = clients(proxy.url, transport);
      const client = c.make();
      const got = new Collector<number>();
      const gaps = new Collector<GapEvent>();
      const s = client.topic<number>('calm').subscribe((n) => got.push(n));
      s.on('gap', gaps.push);
      await s.ready;
      await b.broker.publish('calm', 0);
      await got.until(1);
      await quiet(300);
      proxy.cut();
      await stateReached(client, 'reconnecting');
      await stateReached(client, 'open');
      await b.broker.publish('calm', 1);
      await got.until(2);
      await quiet();
      assert.deepEqual(gaps.items, []);
      assert.deepEqual(got.items, [0, 1]);
    });

    it('a gap (reason "epoch") when the broker restarted and its history is gone', async () => {
      await using broker = await new BrokerProcess().start();
      await using c = clients(broker.url, transport);
      const client = c.make();
      const got = new Collector<number>();
      const gaps = new Collector<GapEvent>();
      const s = client.topic<number>('e').subscribe((n) => got.push(n));
      s.on('gap', gaps.push);
      await s.ready;
      const publisher = c.make();
      await publisher.topic<number>('e/x').publish(1);
      await got.until(1);
      await broker.kill();
      await stateReached(client, 'reconnecting');
      await broker.start();
      await gaps.until(1, 15_000);
      assert.deepEqual(gaps.items, [{ topic: 'e', reason: 'epoch' }]);
      // The subscription lives on in the new epoch, from its start.
      await stateReached(publisher, 'open');
      await publisher.topic<number>('e').publish(2);
      await got.until(2, 5000);
      assert.deepEqual(got.items, [1, 2]);
    });
  });
}

describe('after a broker restart', () => {
  it('a resubscribing client gets the epoch gap AND what the new broker published before the resubscribe', async () => {
    await using broker = await new BrokerProcess().start();
    const app = connect(broker.url, {
      transports: ['websocket'],
      reconnect: { initialDelayMs: 1500, maxDelayMs: 1500 },
    });
    try {
      const got = new Collector<unknown>();
      const gaps = new Collector<string>();
      const sub = app.topic('news').subscribe(got.push);
      sub.on('gap', (g) => gaps.push(g.reason));
      await sub.ready;
      await broker.kill();
      await broker.start();
      // Published on the new broker while the client is still waiting to reconnect (1.5 s).
      const res = await fetch(`${broker.url}/rt/publish?topic=news/x`, { method: 'POST', body: 'while you were away' });
      assert.equal(res.status, 200);
      await gaps.until(1, 8000, 'the epoch gap');
      assert.deepEqual(gaps.items, ['epoch']);
      assert.deepEqual(await got.until(1), ['while you were away']);
    } finally {
      app.close();
    }
  });
});
