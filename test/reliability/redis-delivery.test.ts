/**
 * The Redis engine loses nothing silently when Redis restarts: a node accepts a publish only
 * once its pub/sub connection is subscribed again, and a node whose pub/sub connection was down
 * catches up from history on what other nodes published meanwhile (issue 14, items 1 and 4).
 * Each test starts its own `redis-server` on a free port (test/helpers/redis-server.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type StoredMessage, redis } from '@rt/server';
import { Collector, clients, deadline, startBroker } from '../helpers/index.ts';
import { RedisServer } from '../helpers/redis-server.ts';

const LIMITS = {
  historySize: 1000,
  historyTtlMs: 60_000,
  pushQueueSize: 1000,
  pushTtlMs: 0,
  redeliveryDelayMs: 100,
};

/** Resolves once `GET /rt/health` on `url` answers 200 again. */
async function healthy(url: string, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const res = await fetch(`${url}/rt/health`).catch(() => undefined);
    await res?.body?.cancel();
    if (res?.status === 200) return;
    if (Date.now() > until) throw new Error(`${url} not healthy within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('Redis engine: nothing lost when Redis restarts', () => {
  it('Redis restarts with its data (AOF) three times under a steady publish: every accepted message reaches a subscriber on another node, in order, once, without a gap', async () => {
    await using server = await RedisServer.start({ appendOnly: true });
    const prefix = `rt-test:${randomBytes(4).toString('hex')}:`;
    await using n0 = await startBroker({ engine: redis({ url: server.url, prefix }) });
    await using n1 = await startBroker({ engine: redis({ url: server.url, prefix }) });
    await using c0 = clients(n0.url, 'websocket');
    await using c1 = clients(n1.url, 'websocket');

    const got = new Collector<[string, number]>();
    const gaps = new Collector<string>();
    const sub = c0
      .make()
      .topic<[string, number]>('feed')
      .subscribe((m) => got.push(m));
    sub.on('gap', (e) => gaps.push(e.reason));
    await sub.ready;

    const accepted = new Map<string, number[]>([
      ['p0', []],
      ['p1', []],
    ]);
    let running = true;
    const publishers = [c0.make(), c1.make()].map(async (client, i) => {
      const name = `p${i}`;
      let n = 0;
      while (running) {
        n++;
        try {
          await client.topic<[string, number]>('feed').publish([name, n]);
          accepted.get(name)!.push(n);
        } catch {
          // not accepted (unavailable while Redis is down): the subscriber need not get it
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    });
    for (let round = 0; round < 3; round++) {
      await new Promise((r) => setTimeout(r, 400));
      await server.kill();
      await new Promise((r) => setTimeout(r, 200));
      await server.restart();
      await Promise.all([healthy(n0.url), healthy(n1.url)]);
    }
    await new Promise((r) => setTimeout(r, 400));
    running = false;
    await deadline(Promise.all(publishers), 15_000, 'the publishers to stop');

    const total = accepted.get('p0')!.length + accepted.get('p1')!.length;
    assert.ok(total > 50, `only ${total} publishes were accepted`);
    const last = (name: string): number => Math.max(0, ...accepted.get(name)!);
    await deadline(
      (async () => {
        while (!['p0', 'p1'].every((name) => got.items.some(([p, n]) => p === name && n === last(name))))
          await new Promise((r) => setTimeout(r, 20));
      })(),
      15_000,
      `the last accepted messages (have ${got.items.length})`,
    );
    for (const [name, list] of accepted) {
      const received = got.items.filter(([p]) => p === name).map(([, n]) => n);
      // In order, once each; every accepted one there. (A publish refused because Redis died
      // before it answered may still have been stored: the subscriber may get it too.)
      assert.deepEqual(
        received,
        [...new Set(received)].sort((a, b) => a - b),
        `publisher ${name}: in order, no duplicate`,
      );
      const have = new Set(received);
      assert.deepEqual(
        list.filter((n) => !have.has(n)),
        [],
        `publisher ${name}: accepted messages the subscriber never got`,
      );
    }
    assert.deepEqual(gaps.items, []);
  });

  it('after Redis restarted empty, recovering from the old epoch returns what the new epoch published, with the gap `epoch` (as the memory engine)', async () => {
    await using server = await RedisServer.start();
    const engine = redis({ url: server.url, prefix: `rt-test:${randomBytes(4).toString('hex')}:` });
    const delivered: StoredMessage[] = [];
    const epochs: string[] = [];
    await engine.start(
      { deliverMessage: (m) => delivered.push(m), deliverBus() {}, epochChanged: (ep) => epochs.push(ep) },
      LIMITS,
    );
    try {
      await engine.listen('t');
      const first = await engine.publish('t/a', 'old');
      const oldEp = engine.epoch();
      await server.kill();
      await server.restart();
      await deadline(
        (async () => {
          while (!engine.health?.().ok || epochs.length === 0) await new Promise((r) => setTimeout(r, 20));
        })(),
        10_000,
        'the engine to see the new epoch',
      );
      // Accepted once the pub/sub connection is subscribed again (unavailable until then).
      const until = Date.now() + 10_000;
      while (
        !(await engine.publish('t/a', 'new-1').then(
          () => true,
          () => false,
        ))
      ) {
        assert.ok(Date.now() < until, 'publishes accepted again within 10 s');
        await new Promise((r) => setTimeout(r, 20));
      }
      await engine.publish('t/b', 'new-2');
      await engine.publish('u', 'elsewhere');
      const recovery = await engine.recover('t', oldEp, first.off);
      assert.equal(recovery.gap, 'epoch');
      assert.notEqual(recovery.ep, oldEp);
      assert.deepEqual(
        recovery.messages.map((m) => m.data),
        ['new-1', 'new-2'],
      );
    } finally {
      await engine.close();
    }
  });
});
