/**
 * Every pattern over every transport: the same test code runs once per transport.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RtError } from '@rt/client';
import { Collector, TRANSPORTS, clients, quiet, startBroker } from '../helpers/index.ts';
import { checkPushPull } from '../helpers/pattern-checks.ts';

for (const transport of TRANSPORTS) {
  describe(`patterns over ${transport}`, () => {
    it('pub/sub: a subscriber of a topic receives it and its descendants, never siblings or prefixes', async () => {
      await using b = await startBroker();
      await using c = clients(b.url, transport);
      const sub = c.make();
      const pub = c.make();
      const got = new Collector<[unknown, string]>();
      await sub.topic('a/b').subscribe((data, meta) => got.push([data, meta.topic])).ready;
      for (const t of ['a', 'a/bc', 'a/b', 'a/b/c', 'a/b/c/d', 'x/a/b']) await pub.topic(t).publish(t);
      await got.until(3);
      await quiet();
      assert.deepEqual(got.items, [
        ['a/b', 'a/b'],
        ['a/b/c', 'a/b/c'],
        ['a/b/c/d', 'a/b/c/d'],
      ]);
    });

    it('pub/sub: a publish reaches subscribers of the topic and of every ancestor, each handler once', async () => {
      await using b = await startBroker();
      await using c = clients(b.url, transport);
      const client = c.make();
      const pub = c.make();
      const seen = {
        a: new Collector<unknown>(),
        ab: new Collector<unknown>(),
        abc: new Collector<unknown>(),
        abcd: new Collector<unknown>(),
        ab2: new Collector<unknown>(),
      };
      await Promise.all([
        client.topic('a').subscribe(seen.a.push).ready,
        client.topic('a/b').subscribe(seen.ab.push).ready,
        client.topic('a/b').subscribe(seen.ab2.push).ready,
        client.topic('a/b/c').subscribe(seen.abc.push).ready,
        client.topic('a/b/c/d').subscribe(seen.abcd.push).ready,
      ]);
      await pub.topic('a/b/c').publish({ n: 1 });
      await Promise.all([seen.a.until(1), seen.ab.until(1), seen.ab2.until(1), seen.abc.until(1)]);
      await quiet();
      assert.deepEqual(
        [seen.a.items, seen.ab.items, seen.ab2.items, seen.abc.items, seen.abcd.items],
        [[{ n: 1 }], [{ n: 1 }], [{ n: 1 }], [{ n: 1 }], []],
      );
      // The wire carried it once to this connection although four subscriptions matched.
      assert.equal(b.broker.stats().published, 1);
    });

    it('pub/sub: messages of one publisher arrive in order, and unsubscribe stops them', async () => {
      await using b = await startBroker();
      await using c = clients(b.url, transport);
      const sub = c.make();
      const pub = c.make();
      const got = new Collector<number>();
      const s = sub.topic<number>('seq').subscribe(got.push);
      await s.ready;
      await Promise.all(Array.from({ length: 200 }, (_, i) => pub.topic<number>('seq').publish(i)));
      await got.until(200);
      assert.deepEqual(
        got.items,
        Array.from({ length: 200 }, (_, i) => i),
      );
      await s.unsubscribe();
      await pub.topic<number>('seq').publish(999);
      await quiet();
      assert.equal(got.items.length, 200);
    });

    it('pub/sub: a subscription is an async iterator', async () => {
      await using b = await startBroker();
      await using c = clients(b.url, transport);
      const client = c.make();
      const sub = client.topic<string>('it').subscribe();
      await sub.ready;
      await client.topic<string>('it/x').publish('one');
      await client.topic<string>('it').publish('two');
      const got: string[] = [];
      for await (const v of sub) {
        got.push(v);
        if (got.length === 2) break;
      }
      assert.deepEqual(got, ['one', 'two']);
      assert.equal(sub.isActive, false);
    });

    it('bus: a message reaches every OTHER peer of exactly the topic', async () => {
      await using b = await startBroker();
      await using c = clients(b.url, transport);
      const [p1, p2, p3, child] = [c.make(), c.make(), c.make(), c.make()];
      const got = {
        p1: new Collector<unknown>(),
        p2: new Collector<unknown>(),
        p3: new Collector<unknown>(),
        child: new Collector<unknown>(),
      };
      const b1 = p1.topic('room').bus();
      const b2 = p2.topic('room').bus();
      const b3 = p3.topic('room').bus();
      const bc = child.topic('room/sub').bus();
      b1.on('message', (e) => got.p1.push(e.data));
      b2.on('message', (e) => got.p2.push(e.data));
      b3.on('message', (e) => got.p3.push(e.data));
      bc.on('message', (e) => got.child.push(e.data));
      await Promise.all([b1.ready, b2.ready, b3.ready, bc.ready]);
      await b1.send('from p1');
      await Promise.all([got.p2.until(1), got.p3.until(1)]);
      await quiet();
      assert.deepEqual([got.p1.items, got.p2.items, got.p3.items, got.child.items], [[], ['from p1'], ['from p1'], []]);
      await b2.leave();
      await b3.send('after leave');
      await got.p1.until(1);
      await quiet();
      assert.deepEqual(got.p2.items, ['from p1']);
    });

    it('push/pull: each item goes to exactly one puller, taking turns', async () => {
      await using b = await startBroker();
      await using c = clients(b.url, transport);
      await checkPushPull(() => c.make(), 3, 3);
    });

    it('push/pull: pushes wait while there is no puller, and a full queue rejects the push', async () => {
      await using b = await startBroker({ limits: { pushQueueSize: 3 } });
      await using c = clients(b.url, transport);
      const producer = c.make();
      for (let i = 0; i < 3; i++) await producer.topic<number>('q').push(i);
      await assert.rejects(
        producer.topic<number>('q').push(3),
        (e: unknown) => e instanceof RtError && e.code === 'queue_full',
      );
      const got = new Collector<number>();
      await c.make().topic<number>('q').pull(got.push).ready;
      await got.until(3);
      assert.deepEqual(got.items, [0, 1, 2]);
    });

    it('push/pull: a handler that throws sends the item to another puller', async () => {
      await using b = await startBroker();
      await using c = clients(b.url, transport);
      const failing = c.make();
      const working = c.make();
      const failed = new Collector<string>();
      const done = new Collector<string>();
      await failing.topic<string>('flaky').pull((d) => {
        failed.push(d);
        throw new Error('cannot');
      }).ready;
      await c.make().topic<string>('flaky').push('item');
      await failed.until(1);
      await working.topic<string>('flaky').pull(done.push).ready;
      await done.until(1);
      assert.deepEqual(done.items, ['item']);
    });

    it('server publish: in-process and HTTP POST reach SDK subscribers', async () => {
      await using b = await startBroker();
      await using c = clients(b.url, transport);
      const got = new Collector<[unknown, string]>();
      await c
        .make()
        .topic('news')
        .subscribe((d, m) => got.push([d, m.topic])).ready;
      await b.broker.publish('news/local', { from: 'api' });
      const res = await fetch(`${b.url}/rt/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic: 'news', data: [1, 'two', null] }),
      });
      assert.equal(res.status, 200);
      const text = await fetch(`${b.url}/rt/publish?topic=news/text`, { method: 'POST', body: 'hello ünïcödé' });
      assert.equal(text.status, 200);
      await got.until(3);
      assert.deepEqual(got.items, [
        [{ from: 'api' }, 'news/local'],
        [[1, 'two', null], 'news'],
        ['hello ünïcödé', 'news/text'],
      ]);
    });

    it('payloads: any JSON value and binary, end to end, on every pattern', async () => {
      await using b = await startBroker();
      await using c = clients(b.url, transport);
      const a = c.make();
      const z = c.make();
      const bytes = new Uint8Array([0, 1, 2, 253, 254, 255]);
      const values: unknown[] = [null, true, 0, -1.5, 'text', [1, [2]], { deep: { x: [null] } }];
      const subbed = new Collector<unknown>();
      await a.topic('p').subscribe(subbed.push).ready;
      for (const v of values) await z.topic('p').publish(v as never);
      await z.topic('p').publish(bytes);
      await subbed.until(values.length + 1);
      assert.deepEqual(subbed.items.slice(0, values.length), values);
      const got = subbed.items[values.length];
      assert.ok(got instanceof Uint8Array, 'binary arrives as Uint8Array');
      assert.deepEqual([...got], [...bytes]);

      const bus = new Collector<unknown>();
      const ba = a.topic('pb').bus();
      ba.on('message', (e) => bus.push(e.data));
      const bz = z.topic('pb').bus();
      await Promise.all([ba.ready, bz.ready]);
      await bz.send(bytes);
      const jobs = new Collector<unknown>();
      await a.topic('pj').pull(jobs.push).ready;
      await z.topic('pj').push(bytes);
      const [[busGot], [jobGot]] = await Promise.all([bus.until(1), jobs.until(1)]);
      assert.deepEqual([...(busGot as Uint8Array)], [...bytes]);
      assert.deepEqual([...(jobGot as Uint8Array)], [...bytes]);
    });

    it('actions: call returns the result, errors come back as errors', async () => {
      await using b = await startBroker();
      b.broker.action('add', (_s, p) => (p as number[]).reduce((x, y) => x + y, 0));
      b.broker.action('fail', () => {
        throw new Error('nope');
      });
      await using c = clients(b.url, transport);
      const client = c.make();
      assert.equal(await client.call<number>('add', [1, 2, 3]), 6);
      await assert.rejects(
        client.call('fail'),
        (e: unknown) => e instanceof RtError && e.code === 'action_failed' && e.message === 'nope',
      );
      await assert.rejects(client.call('missing'), (e: unknown) => e instanceof RtError && e.code === 'unknown_action');
    });

    it('reports the transport in use and state changes', async () => {
      await using b = await startBroker();
      await using c = clients(b.url, transport);
      const client = c.make();
      const states: string[] = [];
      client.on('state', (e) => states.push(`${e.from}->${e.to}`));
      await client.ready();
      assert.equal(client.transport, transport);
      client.close();
      assert.deepEqual(states, ['connecting->open', 'open->closed']);
    });
  });
}
