/**
 * The outbound bound holds for a burst queued within one turn too: an application that
 * publishes in a loop without yielding to I/O gives the transport no chance to take anything,
 * and the session's queue used to grow with the whole burst (50 × 1 MiB: 52 MB queued for one
 * plain SSE stream, nothing dropped). Past twice `maxOutboundBytes` the slow-consumer policy
 * applies whatever the transport: the queue stays bounded, the subscriber gets a `gap`
 * (`overflow`) for what was dropped, and what comes next arrives.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { GapEvent } from '@rt/client';
import { Collector, clients, startBroker } from '../helpers/index.ts';

const BOUND = 1024 * 1024;
const PAYLOAD = 'x'.repeat(256 * 1024);
const BURST = 40;

describe('outbound bound under a burst within one turn', () => {
  it(`a loop of ${BURST} publishes of 256 KiB never queues more than twice the bound for a subscriber; it gets an overflow gap, then the next message`, async () => {
    await using b = await startBroker({ limits: { maxOutboundBytes: BOUND } });
    await using c = clients(b.url, 'websocket');
    const got = new Collector<number>();
    const after = new Collector<number>();
    const gaps = new Collector<GapEvent>();
    const sub = c
      .make()
      .topic<{ n: number; pad: string }>('burst')
      .subscribe(({ n }) => (n === BURST ? after : got).push(n));
    sub.on('gap', gaps.push);
    await sub.ready;

    let peak = 0;
    for (let n = 0; n < BURST; n++) {
      await b.broker.publish('burst', { n, pad: PAYLOAD });
      peak = Math.max(peak, b.broker.stats().outboundQueued);
    }
    assert.ok(peak <= 2 * BOUND + PAYLOAD.length + 1024, `peak queue ${peak} B, bound ${BOUND} B`);

    await gaps.until(1, 10_000, 'an overflow gap');
    assert.equal(gaps.items[0]!.reason, 'overflow');
    await b.broker.publish('burst', { n: BURST, pad: '' });
    await after.until(1, 10_000, 'the message after the burst');
    const received = got.items;
    assert.ok(received.length < BURST, 'part of the burst was dropped (and the gap says so)');
    assert.deepEqual(
      received,
      [...received].sort((x, y) => x - y),
      'what arrives arrives in order',
    );
  });
});
