/**
 * Every pattern across three broker processes that share one Redis, with clients spread over
 * them, on every transport. Each test process starts a redis-server of its own (test/helpers/redis-server.ts; the tests fail, saying what to install,
 * when it is missing) and needs the built CLI (`npm run build`).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Collector, TRANSPORTS, clients, quiet } from '../helpers/index.ts';
import { type Cluster, startCluster } from '../helpers/redis.ts';

for (const transport of TRANSPORTS) {
  describe(`patterns across 3 nodes over ${transport}`, () => {
    let cluster: Cluster;
    let run = 0;
    /** A topic no other test of this suite uses. */
    const fresh = (name: string): string => `t${++run}/${name}`;
    const url = (i: number): string => cluster.nodes[i % 3]!.url;

    before(async () => {
      cluster = await startCluster(3);
    });
    after(async () => {
      await cluster?.[Symbol.asyncDispose]();
    });

    it('pub/sub: a publish on one node reaches subscribers of the topic and its ancestors on every node, each once', async () => {
      await using c0 = clients(url(0), transport);
      await using c1 = clients(url(1), transport);
      await using c2 = clients(url(2), transport);
      const root = fresh('a');
      const seen = {
        a: new Collector<unknown>(),
        ab: new Collector<unknown>(),
        abc: new Collector<unknown>(),
        both: new Collector<unknown>(),
        sibling: new Collector<unknown>(),
      };
      const both = c1.make();
      await Promise.all([
        c0
          .make()
          .topic(`${root}/b`)
          .subscribe((d, m) => seen.ab.push([d, m.topic])).ready,
        c1
          .make()
          .topic(root)
          .subscribe((d, m) => seen.a.push([d, m.topic])).ready,
        c2
          .make()
          .topic(`${root}/b/c`)
          .subscribe((d, m) => seen.abc.push([d, m.topic])).ready,
        // One client on node 1 covered twice (a and a/b): its handlers each get the message once.
        both.topic(`${root}/b`).subscribe((d) => seen.both.push(['ab', d])).ready,
        both.topic(root).subscribe((d) => seen.both.push(['a', d])).ready,
        c0
          .make()
          .topic(`${root}/bc`)
          .subscribe((d) => seen.sibling.push(d)).ready,
      ]);
      const pub = c2.make();
      await pub.topic(`${root}/b/c`).publish('deep');
      await pub.topic(root).publish('top');
      await Promise.all([seen.a.until(2), seen.ab.until(1), seen.abc.until(1), seen.both.until(3)]);
      await quiet(300);
      assert.deepEqual(seen.a.items, [
        ['deep', `${root}/b/c`],
        ['top', root],
      ]);
      assert.deepEqual(seen.ab.items, [['deep', `${root}/b/c`]]);
      assert.deepEqual(seen.abc.items, [['deep', `${root}/b/c`]]);
      assert.deepEqual(seen.both.items.slice().sort(), [
        ['a', 'deep'],
        ['a', 'top'],
        ['ab', 'deep'],
      ]);
      assert.deepEqual(seen.sibling.items, []);
    });

    it('pub/sub: messages of one publisher arrive in order on another node, with increasing offsets', async () => {
      await using c0 = clients(url(0), transport);
      await using c1 = clients(url(1), transport);
      const topic = fresh('seq');
      const got = new Collector<[number, number]>();
      await c1
        .make()
        .topic<number>(topic)
        .subscribe((n, m) => got.push([n, m.off ?? -1])).ready;
      const pub = c0.make();
      await Promise.all(Array.from({ length: 200 }, (_, i) => pub.topic<number>(topic).publish(i)));
      await got.until(200, 10_000);
      assert.deepEqual(
        got.items.map(([n]) => n),
        Array.from({ length: 200 }, (_, i) => i),
      );
      const offs = got.items.map(([, off]) => off);
      assert.ok(
        offs.every((off, i) => i === 0 || off > offs[i - 1]!),
        'offsets increase',
      );
    });

    it('bus: a message reaches every OTHER peer of exactly the topic, on every node, once', async () => {
      const cs = [clients(url(0), transport), clients(url(1), transport), clients(url(2), transport)];
      try {
        const room = fresh('room');
        const peers = [cs[0]!.make(), cs[1]!.make(), cs[2]!.make(), cs[2]!.make()];
        const got = peers.map(() => new Collector<unknown>());
        const buses = peers.map((p, i) => {
          const bus = p.topic(room).bus();
          bus.on('message', (e) => got[i]!.push(e.data));
          return bus;
        });
        const child = new Collector<unknown>();
        const childBus = cs[1]!.make().topic(`${room}/sub`).bus();
        childBus.on('message', (e) => child.push(e.data));
        await Promise.all([...buses.map((b) => b.ready), childBus.ready]);
        await buses[2]!.send('from node 2');
        await Promise.all([got[0]!.until(1), got[1]!.until(1), got[3]!.until(1)]);
        await quiet(300);
        assert.deepEqual(
          got.map((g) => g.items),
          [['from node 2'], ['from node 2'], [], ['from node 2']],
        );
        assert.deepEqual(child.items, []);
      } finally {
        for (const c of cs) await c[Symbol.asyncDispose]();
      }
    });

    it('push/pull: each item goes to exactly one puller across the nodes', async () => {
      const cs = [clients(url(0), transport), clients(url(1), transport), clients(url(2), transport)];
      try {
        const topic = fresh('jobs');
        const got = new Collector<[number, number]>();
        await Promise.all(
          cs.map(
            (c, i) =>
              c
                .make()
                .topic<number>(topic)
                .pull((n) => got.push([i, n])).ready,
          ),
        );
        const producer = cs[0]!.make();
        for (let i = 0; i < 30; i++) await producer.topic<number>(topic).push(i);
        await got.until(30, 10_000);
        await quiet(500);
        assert.deepEqual(
          got.items.map(([, n]) => n).sort((x, y) => x - y),
          Array.from({ length: 30 }, (_, i) => i),
        );
      } finally {
        for (const c of cs) await c[Symbol.asyncDispose]();
      }
    });

    it('push/pull: pushes wait in Redis while no node has a puller; a puller on another node takes them in order', async () => {
      await using c0 = clients(url(0), transport);
      await using c2 = clients(url(2), transport);
      const topic = fresh('q');
      const producer = c0.make();
      for (let i = 0; i < 3; i++) await producer.topic<number>(topic).push(i);
      const got = new Collector<number>();
      await c2.make().topic<number>(topic).pull(got.push).ready;
      await got.until(3);
      assert.deepEqual(got.items, [0, 1, 2]);
    });

    it('push/pull: a job a puller refuses goes to a puller on another node', async () => {
      await using c0 = clients(url(0), transport);
      await using c1 = clients(url(1), transport);
      const topic = fresh('flaky');
      const failed = new Collector<string>();
      await c0
        .make()
        .topic<string>(topic)
        .pull((d) => {
          failed.push(d);
          throw new Error('cannot');
        }).ready;
      await c0.make().topic<string>(topic).push('item');
      await failed.until(1);
      const done = new Collector<string>();
      await c1.make().topic<string>(topic).pull(done.push).ready;
      await done.until(1, 10_000);
      assert.deepEqual(done.items, ['item']);
    });

    it('server publish: POST /rt/publish on one node reaches subscribers on the others', async () => {
      await using c1 = clients(url(1), transport);
      await using c2 = clients(url(2), transport);
      const topic = fresh('news');
      const a = new Collector<unknown>();
      const b = new Collector<unknown>();
      await c1.make().topic(topic).subscribe(a.push).ready;
      await c2.make().topic(topic).subscribe(b.push).ready;
      const res = await fetch(`${url(0)}/rt/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic: `${topic}/x`, data: { from: 'api' } }),
      });
      assert.equal(res.status, 200);
      assert.equal(typeof ((await res.json()) as { off: unknown }).off, 'number');
      await Promise.all([a.until(1), b.until(1)]);
      assert.deepEqual([a.items, b.items], [[{ from: 'api' }], [{ from: 'api' }]]);
    });

    it('payloads: JSON and binary cross nodes intact on every pattern', async () => {
      await using c0 = clients(url(0), transport);
      await using c1 = clients(url(1), transport);
      const topic = fresh('p');
      const bytes = new Uint8Array([0, 1, 2, 10, 32, 253, 254, 255]);
      const sub = new Collector<unknown>();
      const a = c0.make();
      const z = c1.make();
      await a.topic(topic).subscribe(sub.push).ready;
      await z.topic(topic).publish({ deep: ['ünï', null, 1.5] });
      await z.topic(topic).publish(bytes);
      await sub.until(2);
      assert.deepEqual(sub.items[0], { deep: ['ünï', null, 1.5] });
      assert.deepEqual([...(sub.items[1] as Uint8Array)], [...bytes]);
      const bus = new Collector<unknown>();
      const ba = a.topic(`${topic}/bus`).bus();
      ba.on('message', (e) => bus.push(e.data));
      const bz = z.topic(`${topic}/bus`).bus();
      await Promise.all([ba.ready, bz.ready]);
      await bz.send(bytes);
      const jobs = new Collector<unknown>();
      await a.topic(`${topic}/job`).pull(jobs.push).ready;
      await z.topic(`${topic}/job`).push(bytes);
      const [[busGot], [jobGot]] = await Promise.all([bus.until(1), jobs.until(1)]);
      assert.deepEqual([...(busGot as Uint8Array)], [...bytes]);
      assert.deepEqual([...(jobGot as Uint8Array)], [...bytes]);
    });

    it('health: every node reports the Redis engine as ok', async () => {
      for (const node of cluster.nodes) {
        const res = await fetch(`${node.url}/rt/health`);
        assert.equal(res.status, 200);
        const body = (await res.json()) as { status: string; engine: string; engineStatus: string };
        assert.deepEqual([body.status, body.engine, body.engineStatus], ['ok', 'redis', 'connected']);
      }
    });
  });
}
