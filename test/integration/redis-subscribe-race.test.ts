/**
 * A fresh subscription on one Redis node while another node publishes: the broker answers it
 * with the current position, and the client takes every message up to that position as had.
 * Messages come to a node on its pub/sub connection, the position on its command connection:
 * a message published just before the position was read can be read after it. The node must
 * deliver such a message before its answer, or the client drops it as old and has a hole
 * (seen as the first live message after a retained value going missing). The test slows the
 * subscriber node's pub/sub connection (its bytes are handed on 20 ms late, in order), as a
 * busy node or network does, and subscribes while about 1,000 messages a second are published.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { redis } from '@rt/server';
import type { MessageMeta } from '@rt/client';
import { Collector, type TestBroker, clients, quiet, startBroker } from '../helpers/index.ts';
import { REDIS_URL, cleanRedis, requireRedis, uniquePrefix } from '../helpers/redis.ts';

const LATE_MS = 20;
const TOTAL = 300;

/** Hands on every byte the engine's pub/sub connection receives `LATE_MS` late, in order. */
function slowPubSub(engine: unknown): void {
  const stream = (engine as { conns: { sub: { stream: Socket } } }).conns.sub.stream;
  const listeners = stream.listeners('data') as ((chunk: Buffer) => void)[];
  stream.removeAllListeners('data');
  let last = 0;
  stream.on('data', (chunk: Buffer) => {
    const at = Math.max(performance.now() + LATE_MS, last);
    last = at;
    setTimeout(() => {
      for (const listener of listeners) listener.call(stream, chunk);
    }, at - performance.now());
  });
}

describe('a fresh subscription on a Redis node whose pub/sub connection lags', () => {
  let pub: TestBroker;
  let sub: TestBroker;
  const prefix = uniquePrefix();
  before(async () => {
    requireRedis();
    const engine = redis({ url: REDIS_URL, prefix });
    [pub, sub] = await Promise.all([
      startBroker({ engine: redis({ url: REDIS_URL, prefix }) }),
      startBroker({ engine }),
    ]);
    slowPubSub(engine);
  });
  after(async () => {
    await Promise.all([pub?.broker.close(), sub?.broker.close()]);
    cleanRedis(prefix);
  });

  for (const retain of [false, true]) {
    it(`gets every message from its first one on, none lost to the answer (${retain ? 'retained values' : 'no retained value'})`, async () => {
      await using subs = clients(sub.url, 'websocket');
      const topic = `race/${retain ? 'retained' : 'plain'}`;
      let published = 0;
      const publishing = (async () => {
        while (published < TOTAL) {
          for (let i = 0; i < 10 && published < TOTAL; i++) await pub.broker.publish(topic, ++published, { retain });
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      const got = new Collector<[number, boolean | undefined]>();
      while (published < 20) await new Promise((r) => setTimeout(r, 1));
      await subs
        .make()
        .topic<number>(topic)
        .subscribe((n: number, meta: MessageMeta) => got.push([n, meta.retained])).ready;
      await publishing;
      const first = (await got.until(1))[0]![0];
      await got.until(TOTAL - first + 1, 10_000);
      await quiet();
      assert.deepEqual(
        got.items.map(([n]) => n),
        Array.from({ length: TOTAL - first + 1 }, (_, i) => first + i),
      );
      if (retain) assert.equal(got.items[0]![1], true, 'the first one is the retained value');
    });
  }
});
