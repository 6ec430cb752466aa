/**
 * Latest-value (retained) topics: a topic keeps its last message (per publish `retain: true`,
 * or by the broker's `retain` patterns); a subscriber that starts later gets it at once, once,
 * marked retained, on every SDK transport, on plain SSE and on raw `/sub`, on the memory engine
 * and across two brokers sharing a Redis of the test's own. Clearing with `null`, refused
 * subscribers and recoveries (a replay, never the retained value again) are covered too.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { redis } from '@rt/server';
import type { MessageMeta } from '@rt/client';
import { Collector, TRANSPORTS, type TestBroker, clients, deadline, quiet, startBroker } from '../helpers/index.ts';
import { REDIS_URL, cleanRedis, requireRedis, uniquePrefix } from '../helpers/redis.ts';
import { readSse, untilMessages } from '../helpers/sse.ts';
import { startProxy } from '../helpers/tcp-proxy.ts';
import { KEY, publish as mercurePublish, publisher } from '../helpers/mercure.ts';
import { rawSocket } from '../helpers/socketio.ts';

/** Two brokers: `pub` where values are published, `sub` where late subscribers connect (the same one on memory). */
interface Setup {
  pub: TestBroker;
  sub: TestBroker;
}

const RETAIN = ['cfg/#'];
/** Every broker of these tests refuses subscriptions to topics with `secret` in them. */
const authorize = (_id: unknown, op: string, topic: string): boolean => !(op === 'sub' && topic.includes('secret'));

const ENGINES: { name: string; start(): Promise<Setup & AsyncDisposable> }[] = [
  {
    name: 'memory',
    async start() {
      const b = await startBroker({ retain: RETAIN, authorize });
      return { pub: b, sub: b, [Symbol.asyncDispose]: () => b.broker.close() };
    },
  },
  {
    name: 'redis (2 brokers)',
    async start() {
      requireRedis();
      const prefix = uniquePrefix();
      const [pub, sub] = await Promise.all([
        startBroker({ engine: redis({ url: REDIS_URL, prefix }), retain: RETAIN, authorize }),
        startBroker({ engine: redis({ url: REDIS_URL, prefix }), retain: RETAIN, authorize }),
      ]);
      return {
        pub: pub!,
        sub: sub!,
        async [Symbol.asyncDispose]() {
          await Promise.all([pub!.broker.close(), sub!.broker.close()]);
          cleanRedis(prefix);
        },
      };
    },
  },
];

type Seen = [unknown, string, boolean | undefined];
const seen = (c: Collector<Seen>) => (data: unknown, meta: MessageMeta) => c.push([data, meta.topic, meta.retained]);

const publishHttp = (url: string, body: Record<string, unknown>): Promise<Response> =>
  fetch(`${url}/rt/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

for (const engine of ENGINES) {
  describe(`latest-value topics on ${engine.name}`, () => {
    let setup: Setup & AsyncDisposable;
    let run = 0;
    const fresh = (name: string): string => `r${++run}${name}`;

    before(async () => {
      setup = await engine.start();
    });
    after(async () => {
      await setup?.[Symbol.asyncDispose]();
    });

    for (const transport of TRANSPORTS) {
      it(`${transport}: a late subscriber gets the newest retained value once, marked, then live messages`, async () => {
        await using pubs = clients(setup.pub.url, transport);
        await using subs = clients(setup.sub.url, transport);
        const topic = fresh('/price');
        const publisher = pubs.make().topic<number>(topic);
        await publisher.publish(1, { retain: true });
        await publisher.publish(2, { retain: true });
        // Not retained: does not replace the retained value.
        await publisher.publish(3);
        const got = new Collector<Seen>();
        await subs.make().topic(topic).subscribe(seen(got)).ready;
        await publisher.publish(4);
        // In order on one connection: a second copy of the retained value would come before 4.
        assert.deepEqual(await got.until(2), [
          [2, topic, true],
          [4, topic, undefined],
        ]);
      });
    }

    for (const door of ['sdk', 'raw'] as const) {
      it(`${door}: subscribing while values are being published gets the retained value, then every later one, each once, in order`, async () => {
        await using subs = clients(setup.sub.url, 'websocket');
        const topic = fresh('/ticks');
        const total = 300;
        let published = 0;
        const publishing = (async () => {
          for (; published < total; ) await setup.pub.broker.publish(topic, ++published, { retain: true });
        })();
        const got = new Collector<Seen>();
        // Subscribe once some values are out, while the rest are still being published.
        while (published < 20) await new Promise((r) => setImmediate(r));
        let socket: WebSocket | undefined;
        if (door === 'sdk') await subs.make().topic(topic).subscribe(seen(got)).ready;
        else {
          // Raw frames are bare payloads: a value sent twice would show as such.
          socket = new WebSocket(`${setup.sub.url.replace('http', 'ws')}/sub/${topic}`);
          socket.on('message', (data) => got.push([Number(String(data)), topic, undefined]));
          await deadline(new Promise((r) => socket!.once('open', r)), 5000, 'the raw /sub socket');
        }
        await publishing;
        const first = (await got.until(1))[0]![0] as number;
        assert.ok(first >= 20);
        const all = await got.until(total - first + 1);
        if (door === 'sdk') {
          assert.equal(all[0]![2], true, 'the first one is the retained value');
          assert.ok(all.slice(1).every(([, , retained]) => retained === undefined));
        }
        assert.deepEqual(
          all.map(([n]) => n),
          Array.from({ length: total - first + 1 }, (_, i) => first + i),
        );
        await quiet();
        assert.equal(got.items.length, total - first + 1, 'nothing more');
        socket?.close();
      });
    }

    it('a paced subscription (latest) gets the retained value too, before its answer', async () => {
      await using subs = clients(setup.sub.url, 'websocket');
      const topic = fresh('/paced');
      await setup.pub.broker.publish(topic, 'now', { retain: true });
      const got = new Collector<Seen>();
      await subs.make().topic(topic).subscribe(seen(got), { mode: 'latest' }).ready;
      await setup.pub.broker.publish(topic, 'next');
      assert.deepEqual(await got.until(2), [
        ['now', topic, true],
        ['next', topic, undefined],
      ]);
    });

    it('a subscription to an ancestor gets the retained values of every descendant, in publish order; patterns retain without asking', async () => {
      await using subs = clients(setup.sub.url, 'websocket');
      const root = fresh('');
      await setup.pub.broker.publish(`${root}/usd`, 'u', { retain: true });
      await setup.pub.broker.publish(`${root}/eur`, 'e', { retain: true });
      await setup.pub.broker.publish(`${root}/eur/old`, 'o', { retain: true });
      await setup.pub.broker.publish(`${root}x`, 'sibling', { retain: true });
      // cfg/# is a retain pattern: its topics keep their last message without asking.
      const cfg = `cfg/${root}`;
      await setup.pub.broker.publish(`${cfg}/a`, { v: 1 });
      await setup.pub.broker.publish(`${cfg}/a`, { v: 2 });
      const got = new Collector<Seen>();
      const cfgGot = new Collector<Seen>();
      const c = subs.make();
      await c.topic(root).subscribe(seen(got)).ready;
      await c.topic(cfg).subscribe(seen(cfgGot)).ready;
      await setup.pub.broker.publish(`${root}/end`, 'live');
      assert.deepEqual(await got.until(4), [
        ['u', `${root}/usd`, true],
        ['e', `${root}/eur`, true],
        ['o', `${root}/eur/old`, true],
        ['live', `${root}/end`, undefined],
      ]);
      assert.deepEqual(await cfgGot.until(1), [[{ v: 2 }, `${cfg}/a`, true]]);
    });

    it('publishing null with retain clears the value: nobody gets a retained null, live subscribers get the null', async () => {
      await using subs = clients(setup.sub.url, 'sse');
      const topic = fresh('/state');
      assert.equal((await publishHttp(setup.pub.url, { topic, data: 'on', retain: true })).status, 200);
      const early = new Collector<Seen>();
      const c = subs.make();
      await c.topic(topic).subscribe(seen(early)).ready;
      assert.equal((await publishHttp(setup.pub.url, { topic, data: null, retain: true })).status, 200);
      assert.deepEqual(await early.until(2), [
        ['on', topic, true],
        [null, topic, undefined],
      ]);
      const late = new Collector<Seen>();
      await subs.make().topic(topic).subscribe(seen(late)).ready;
      await setup.pub.broker.publish(topic, 'after');
      assert.deepEqual(await late.until(1), [['after', topic, undefined]]);
    });

    it('plain SSE: the retained value is the first event after ready (which counts it), with the stream position as id', async () => {
      const topic = fresh('/sse');
      const other = fresh('/none');
      await setup.pub.broker.publish(topic, { n: 1 }, { retain: true });
      await using s = await readSse(`${setup.sub.url}/rt/sse?topic=${topic}&topic=${other}`);
      const [ready] = await untilMessages(s, 1);
      assert.deepEqual(JSON.parse(ready!.data), { topics: [topic, other], retained: 1 });
      await setup.pub.broker.publish(topic, 'live');
      const [, value, live] = await untilMessages(s, 3);
      assert.deepEqual([value!.event, value!.data, value!.id], ['message', '{"n":1}', ready!.id]);
      assert.equal(live!.data, 'live');
      // Resuming from the last id: the replay (nothing) and live messages, not the retained value again.
      await using again = await readSse(`${setup.sub.url}/rt/sse?topic=${topic}&topic=${other}`, {
        'last-event-id': live!.id!,
      });
      const [ready2] = await untilMessages(again, 1);
      assert.deepEqual(JSON.parse(ready2!.data), { topics: [topic, other] });
      await setup.pub.broker.publish(topic, 'next');
      const events = await untilMessages(again, 2);
      assert.deepEqual(
        events.map((e) => e.data),
        [ready2!.data, 'next'],
      );
    });

    it('raw /sub: the retained value is the first frame, once; raw /pub?retain=1 retains', async () => {
      const topic = fresh('/raw');
      const open = async (url: string, path: string): Promise<[WebSocket, Collector<string>]> => {
        const socket = new WebSocket(`${url.replace('http', 'ws')}${path}`);
        const frames = new Collector<string>();
        socket.on('message', (data) => frames.push(String(data)));
        await deadline(new Promise((r) => socket.once('open', r)), 5000, `the raw socket ${path}`);
        return [socket, frames];
      };
      const [early, earlyFrames] = await open(setup.pub.url, `/sub/${topic}`);
      const [pub] = await open(setup.pub.url, `/pub/${topic}?retain=1`);
      pub.send('kept');
      // Published once a live subscriber has it.
      await earlyFrames.until(1);
      const [late, frames] = await open(setup.sub.url, `/sub/${topic}`);
      const live = await fetch(`${setup.pub.url}/pub/${topic}`, { method: 'POST', body: 'live' });
      assert.equal(live.status, 200);
      assert.deepEqual(await frames.until(2), ['kept', 'live']);
      for (const socket of [early, pub, late]) socket.close();
    });

    it('a subscriber the policy refuses gets nothing, not even the retained value', async () => {
      const topic = fresh('/secret');
      await setup.pub.broker.publish(topic, 'hidden', { retain: true });
      await using subs = clients(setup.sub.url, 'websocket');
      const got = new Collector<Seen>();
      const sub = subs.make().topic(topic).subscribe(seen(got));
      await assert.rejects(sub.ready, (e: Error & { code?: string }) => e.code === 'forbidden');
      const plain = await fetch(`${setup.sub.url}/rt/sse?topic=${topic}`);
      assert.equal(plain.status, 403);
      await plain.body?.cancel();
      // Nothing was sent to it: give a wrongly sent value the time to show up.
      await quiet();
      assert.deepEqual(got.items, []);
    });
  });
}

describe('latest-value topics: recovery, private messages, the socket.io door', () => {
  it('SDK: a client that recovers gets the replay (the newer value, unmarked), never the retained value again', async () => {
    await using b = await startBroker();
    await using proxy = await startProxy(b.port);
    for (const transport of TRANSPORTS) {
      await using subs = clients(proxy.url, transport);
      const topic = `rec/${transport}`;
      await b.broker.publish(topic, 'v1', { retain: true });
      const got = new Collector<Seen>();
      const c = subs.make();
      await c.topic(topic).subscribe(seen(got)).ready;
      await got.until(1);
      proxy.refuse(true);
      proxy.cut();
      await b.broker.publish(topic, 'v2', { retain: true });
      proxy.refuse(false);
      // v2 comes in the recovery's replay (websocket, SSE) or the resumed session's queue (polling).
      await b.broker.publish(topic, 'v3');
      assert.deepEqual(await got.until(3), [
        ['v1', topic, true],
        ['v2', topic, undefined],
        ['v3', topic, undefined],
      ]);
    }
  });

  it('plain SSE: after a history gap, the retained value the replay cannot carry comes with it, marked in ready', async () => {
    await using b = await startBroker({ retain: ['gap/keep'], limits: { historySize: 2 } });
    await using s = await readSse(`${b.url}/rt/sse?topic=gap`);
    const [ready] = await untilMessages(s, 1);
    s.close();
    await b.broker.publish('gap/keep', 'kept');
    for (let i = 0; i < 4; i++) await b.broker.publish('gap/other', `o${i}`);
    await using again = await readSse(`${b.url}/rt/sse?topic=gap`, { 'last-event-id': ready!.id! });
    const events = await untilMessages(again, 5);
    assert.deepEqual(JSON.parse(events[0]!.data), { topics: ['gap'], retained: 1 });
    assert.deepEqual(
      events.slice(1).map((e) => [e.event, e.data]),
      [
        ['gap', JSON.stringify({ topic: 'gap', reason: 'history' })],
        ['message', 'kept'],
        ['message', 'o2'],
        ['message', 'o3'],
      ],
    );
  });

  it('private messages stay private: a private Mercure update on a retained topic is not retained', async () => {
    await using b = await startBroker({ retain: ['books/#'], mercure: { key: KEY, anonymous: true } });
    const hub = `${b.url}/.well-known/mercure`;
    const auth = await publisher();
    const sent = async (fields: [string, string][]) =>
      assert.equal((await mercurePublish(hub, fields, auth)).status, 200);
    await sent([
      ['topic', 'books/1'],
      ['data', 'public'],
    ]);
    await sent([
      ['topic', 'books/1'],
      ['data', 'secret'],
      ['private', 'on'],
    ]);
    await sent([
      ['topic', 'books/2'],
      ['data', 'secret too'],
      ['private', 'on'],
    ]);
    await using subs = clients(b.url, 'websocket');
    const got = new Collector<Seen>();
    await subs.make().topic('books').subscribe(seen(got)).ready;
    await b.broker.publish('books/3', 'live');
    assert.deepEqual(await got.until(2), [
      ['public', 'books/1', true],
      ['live', 'books/3', undefined],
    ]);
  });

  for (const transport of ['websocket', 'polling'] as const) {
    it(`the socket.io door (${transport}): a pub frame's retain, and the msg frame's retained flag ahead of the answer`, async () => {
      await using b = await startBroker();
      const pub = await rawSocket(b.url, transport);
      const sub = await rawSocket(b.url, transport);
      try {
        pub.socket.emit('f', { t: 'pub', ref: 1, topic: 'io/a', data: 'text', retain: true });
        pub.socket.emit('f', { t: 'pub', ref: 2, topic: 'io/b', data: new Uint8Array([1, 2]), retain: true });
        pub.socket.emit('f', { t: 'pub', ref: 3, topic: 'io/c', data: 1, retain: 'yes' });
        const answers = await pub.frames.until(3);
        assert.deepEqual(
          // A frame refused as it is parsed is answered before the publishes are carried out.
          answers.map((f) => [f.t, f.ref, f.code]).sort((x, y) => (x[1] as number) - (y[1] as number)),
          [
            ['ok', 1, undefined],
            ['ok', 2, undefined],
            ['err', 3, 'bad_frame'],
          ],
        );
        sub.socket.emit('f', { t: 'sub', ref: 9, topic: 'io' });
        const got = await sub.frames.until(3);
        assert.deepEqual(
          got.map((f) => [f.t, f.topic, f.retained, f.ref]),
          [
            ['msg', 'io/a', true, undefined],
            ['msg', 'io/b', true, undefined],
            ['ok', undefined, undefined, 9],
          ],
        );
        assert.deepEqual(new Uint8Array(got[1]!.data as ArrayBuffer), new Uint8Array([1, 2]));
      } finally {
        pub.socket.close();
        sub.socket.close();
      }
    });
  }
});
