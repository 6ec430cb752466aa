/**
 * `client.close()` right after a pull handler returned: the acknowledgement still reaches the
 * broker, so the job is done and not handed to another puller.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Collector, clients, quiet, startBroker } from '../helpers/index.ts';

for (const transport of ['websocket', 'polling'] as const) {
  describe(`close after a job over ${transport}`, () => {
    it('flushes the acknowledgement queued in the same tick', async () => {
      await using b = await startBroker();
      await using c = clients(b.url, transport);
      const worker = c.make();
      const got = new Collector<string>();
      await worker.topic<string>('jobs').pull((job) => {
        got.push(job);
        // The handler has returned by the time the ack is queued; close in that same tick.
        queueMicrotask(() => queueMicrotask(() => worker.close()));
      }).ready;
      await c.make().topic<string>('jobs').push('once');
      await got.until(1);
      const other = new Collector<string>();
      await c.make().topic<string>('jobs').pull(other.push).ready;
      await quiet(300);
      assert.deepEqual(other.items, []);
      assert.equal(b.broker.stats().redelivered, 0);
    });
  });
}
