/**
 * The Mercure hub over the Redis engine: two nodes sharing one Redis. Updates published on
 * one node reach Mercure subscribers on the other (whatever their selectors and alternate
 * topics), private updates keep their privacy across nodes (never to rt clients), and a
 * subscriber reconnecting to the other node replays from the shared history. Needs Redis on
 * a redis-server of its own (test/helpers/redis-server.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { redis } from '@rt/server';
import { Collector, clients, quiet, startBroker } from '../helpers/index.ts';
import { KEY, hubUrl, publish, publisher, subscribe, subscriberToken } from '../helpers/mercure.ts';
import { REDIS_URL, cleanRedis, requireRedis, uniquePrefix } from '../helpers/redis.ts';

async function nodes(n: number) {
  requireRedis();
  const prefix = uniquePrefix();
  const list = await Promise.all(
    Array.from({ length: n }, () =>
      startBroker({ engine: redis({ url: REDIS_URL, prefix }), mercure: { key: KEY, anonymous: true } }),
    ),
  );
  return {
    list: list.map((b) => Object.assign(b, { hub: `${b.url}/.well-known/mercure` })),
    async [Symbol.asyncDispose]() {
      await Promise.all(list.map((b) => b.broker.close()));
      cleanRedis(prefix);
    },
  };
}

describe('mercure over Redis', () => {
  it('delivers across nodes by template and alternate topic; private updates stay private, never to rt clients', async () => {
    await using cluster = await nodes(2);
    const [a, b] = cluster.list;
    using any = subscribe(hubUrl(a!.hub, ['*']));
    using byAlternate = subscribe(hubUrl(a!.hub, ['https://example.com/users/{name}/books']), {
      headers: { authorization: `Bearer ${await subscriberToken(['*'])}` },
    });
    await Promise.all([any.opened, byAlternate.opened]);
    await using c = clients(a!.url, 'websocket');
    const rt = new Collector<unknown>();
    await c.make().topic('https:/example.com/books').subscribe(rt.push).ready;

    const pub = await publisher();
    await publish(
      b!.hub,
      [
        ['topic', 'https://example.com/books/1'],
        ['topic', 'https://example.com/users/kevin/books'],
        ['data', 'secret'],
        ['private', ''],
      ],
      pub,
    );
    await publish(
      b!.hub,
      [
        ['topic', 'https://example.com/books/1'],
        ['data', 'public'],
      ],
      pub,
    );
    await b!.broker.publish('chat/room1', 'from rt on node B');

    await Promise.all([any.events.until(2), byAlternate.events.until(1), rt.until(1)]);
    await quiet();
    assert.deepEqual(
      any.events.items.map((e) => e.data),
      ['public', 'from rt on node B'],
    );
    assert.deepEqual(
      byAlternate.events.items.map((e) => e.data),
      ['secret'],
    );
    assert.deepEqual(rt.items, ['public']);
  });

  it('a subscriber reconnecting to the other node replays from the shared history', async () => {
    await using cluster = await nodes(2);
    const [a, b] = cluster.list;
    const pub = await publisher();
    await publish(
      a!.hub,
      [
        ['topic', 'https://example.com/books/1'],
        ['data', 'one'],
        ['id', 'a'],
      ],
      pub,
    );
    await publish(
      a!.hub,
      [
        ['topic', 'https://example.com/books/2'],
        ['data', 'two'],
        ['id', 'b'],
      ],
      pub,
    );
    await a!.broker.publish('https:/example.com/books/3', 'three');
    using sub = subscribe(hubUrl(b!.hub, ['https://example.com/books/{id}'], [['lastEventID', 'a']]));
    await sub.events.until(2);
    await quiet();
    assert.deepEqual(
      sub.events.items.map((e) => e.data),
      ['two', 'three'],
    );
  });
});
