/**
 * A fan-out's batch is encoded once and shared by every connection that gets the same batch
 * (WebSocket frame included): each subscriber, whatever its transport, must still get every
 * message, in order, and a connection whose batch differs must get its own.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Collector, clients, startBroker } from '../helpers/index.ts';

describe('fan-out batches', () => {
  it('subscribers over WebSocket and long-polling get every message of a burst, in order', async () => {
    await using b = await startBroker();
    await using ws = clients(b.url, 'websocket');
    await using poll = clients(b.url, 'polling');
    const subs = [ws.make(), ws.make(), poll.make(), poll.make()];
    const got = subs.map(() => new Collector<number>());
    await Promise.all(subs.map((c, i) => c.topic<number>('burst').subscribe(got[i]!.push).ready));
    // One subscriber also listens to a second topic, so its batches differ from the others'.
    const other = new Collector<string>();
    await subs[1]!.topic<string>('other').subscribe(other.push).ready;
    const publisher = ws.make();
    const n = 200;
    // Sent together (one packet), so the broker writes them in the same turn: subs[1]'s batch has 'x' in the middle.
    await Promise.all([
      ...Array.from({ length: n / 2 }, (_, i) => publisher.topic<number>('burst').publish(i)),
      publisher.topic<string>('other').publish('x'),
      ...Array.from({ length: n / 2 }, (_, i) => publisher.topic<number>('burst').publish(n / 2 + i)),
    ]);
    await Promise.all(got.map((g) => g.until(n)));
    await other.until(1);
    for (const g of got)
      assert.deepEqual(
        g.items,
        Array.from({ length: n }, (_, i) => i),
      );
    assert.deepEqual(other.items, ['x']);
  });
});
