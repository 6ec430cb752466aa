/**
 * Deltas across nodes (Redis engine): a delta subscriber on one node and a whole one on
 * another get identical payloads from publishes made on a third party's node; each node links
 * the messages it delivers, so the deltas after the first are made where the subscriber is.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MsgFrame } from '@rt/protocol';
import { Collector, clients } from '../helpers/index.ts';
import { redisNodes } from '../helpers/redis.ts';
import { spying } from '../helpers/spy-transport.ts';

describe('deltas across two nodes (Redis)', () => {
  it('a delta subscriber on node 1 and a whole one on node 0 get the same payloads, deltas after the first', async () => {
    await using nodes = await redisNodes(2);
    const [n0, n1] = nodes.list as [(typeof nodes.list)[0], (typeof nodes.list)[0]];
    const seen: MsgFrame[] = [];
    await using c1 = clients(n1.url, 'websocket', { transports: [spying('websocket', seen)] });
    await using c0 = clients(n0.url, 'websocket');
    const withDeltas = new Collector<unknown>();
    const whole = new Collector<unknown>();
    await c1.make().topic('quotes').subscribe(withDeltas.push, { delta: true }).ready;
    await c0.make().topic('quotes').subscribe(whole.push).ready;
    const sent = Array.from({ length: 10 }, (_, price) => ({ symbol: 'ACME', price, pad: 'x'.repeat(1000) }));
    for (const q of sent) await n0.broker.publish('quotes/acme', q);
    await withDeltas.until(10, 10_000);
    await whole.until(10, 10_000);
    assert.deepEqual(withDeltas.items, sent);
    assert.deepEqual(whole.items, sent);
    assert.deepEqual(
      seen.map((f) => f.base !== undefined),
      [false, ...Array<boolean>(9).fill(true)],
    );
  });
});
