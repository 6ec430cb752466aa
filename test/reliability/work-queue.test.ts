/**
 * Work queues: at-least-once delivery with acknowledgements. A job is done only when its
 * puller acknowledges it (the handler resolved); a throw sends it back; jobs held by a
 * puller that goes away (its process killed, its connection cut) go to another puller; a
 * prefetch bound keeps a slow puller from hoarding; expiry is counted, never silent.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import type { JobMeta } from '@rt/client';
import { MemoryEngine, type PullerHandle } from '@rt/server';
import { Collector, ROOT, TRANSPORTS, clients, quiet, startBroker } from '../helpers/index.ts';
import { startProxy } from '../helpers/tcp-proxy.ts';
import { assertGrowingRedelivery, condition } from '../helpers/reliability.ts';

/** The memory engine, counting acknowledgements per job id. */
class CountingEngine extends MemoryEngine {
  readonly acks = new Map<string, number>();
  override async ack(puller: PullerHandle, id: string): Promise<boolean> {
    const done = await super.ack(puller, id);
    if (done) this.acks.set(id, (this.acks.get(id) ?? 0) + 1);
    return done;
  }
}

for (const transport of TRANSPORTS) {
  describe(`work queues over ${transport}`, () => {
    it('a puller process killed mid-work: every job acknowledged exactly once in the end, none lost', async () => {
      const engine = new CountingEngine();
      await using b = await startBroker({ engine });
      await using c = clients(b.url, transport);
      const total = 100;
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'test/fixtures/puller.ts'), b.url, transport, 'jobs', '15', '5'],
        {
          cwd: ROOT,
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      try {
        const lines = new Collector<string>();
        let buffer = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          buffer += chunk.toString();
          const parts = buffer.split('\n');
          buffer = parts.pop()!;
          for (const line of parts) lines.push(line);
        });
        await condition(() => lines.items.includes('ready'), 20_000, 'the puller process to start');

        const local: [number, JobMeta][] = [];
        await c
          .make()
          .topic<number>('jobs')
          .pull(async (n, meta) => {
            await new Promise((r) => setTimeout(r, 10));
            local.push([n, meta]);
          }).ready;
        const producer = c.make();
        await Promise.all(Array.from({ length: total }, (_, n) => producer.topic<number>('jobs').push(n)));

        // Kill it while a job is in its hands: started, not done (the fixture holds its sixth job forever).
        const working = (): number | undefined => {
          const last = lines.items.at(-1);
          return last?.startsWith('start ') && lines.items.filter((l) => l.startsWith('done')).length >= 5
            ? Number(last.slice(6))
            : undefined;
        };
        await condition(() => working() !== undefined, 15_000, 'the puller process to be mid-job');
        const interrupted = working()!;
        child.kill('SIGKILL');
        await once(child, 'exit');
        // Found dead at once: its socket (WebSocket, SSE stream, the last poll's connection) closed.
        await condition(
          () => local.some(([n]) => n === interrupted),
          5000,
          `job ${interrupted} redelivered within 5 s of the kill`,
        );

        await condition(
          () => engine.acks.size === total,
          20_000,
          `all ${total} jobs acknowledged (have ${engine.acks.size})`,
        );
        await quiet();
        assert.deepEqual(
          [...engine.acks.values()].filter((n) => n !== 1),
          [],
          'each job acknowledged once',
        );
        const remote = lines.items.filter((l) => l.startsWith('done ')).map((l) => Number(l.slice(5)));
        const processed = new Set([...remote, ...local.map(([n]) => n)]);
        assert.equal(processed.size, total, 'no job lost');
        // The job the killed process held went to the other puller, marked as a second attempt.
        const retried = local.find(([n]) => n === interrupted);
        assert.ok(retried, `job ${interrupted} was redelivered`);
        assert.equal(retried[1].attempt, 2);
        assert.equal(b.broker.stats().redelivered >= 1, true);
      } finally {
        child.kill('SIGKILL');
      }
    });

    it('jobs held by a puller whose connection is cut go to another puller', async () => {
      // Long-polling has no connection to break: the broker learns from the missed heartbeat.
      await using b = await startBroker({ heartbeatMs: 300 });
      await using proxy = await startProxy(b.port);
      await using behind = clients(proxy.url, transport);
      await using c = clients(b.url, transport);
      const stuck = new Collector<number>();
      await behind
        .make()
        .topic<number>('held')
        .pull(
          (n) => {
            stuck.push(n);
            return new Promise(() => undefined); // never finishes
          },
          { prefetch: 2 },
        ).ready;
      const producer = c.make();
      await producer.topic<number>('held').push(1);
      await producer.topic<number>('held').push(2);
      await stuck.until(2);
      proxy.refuse(true);
      proxy.cut();
      const got = new Collector<[number, number]>();
      await c
        .make()
        .topic<number>('held')
        .pull((n, meta) => got.push([n, meta.attempt ?? 0])).ready;
      await got.until(2, 10_000);
      assert.deepEqual(got.items, [
        [1, 2],
        [2, 2],
      ]);
    });

    it('prefetch: a slow puller holds one job at a time while a fast one takes the rest', async () => {
      await using b = await startBroker();
      await using c = clients(b.url, transport);
      const slowGot = new Collector<number>();
      const fastGot = new Collector<number>();
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      await c
        .make()
        .topic<number>('pf')
        .pull((n) => {
          slowGot.push(n);
          return gate;
        }).ready;
      await c.make().topic<number>('pf').pull(fastGot.push).ready;
      const producer = c.make();
      for (let n = 0; n < 20; n++) await producer.topic<number>('pf').push(n);
      await fastGot.until(19);
      await quiet();
      assert.equal(slowGot.items.length, 1);
      release();
      await producer.topic<number>('pf').push(20);
      await condition(() => slowGot.items.length + fastGot.items.length === 21, 5000, 'the last job');
    });

    it('a puller that fails and is the only one gets the job back after a growing delay', async () => {
      await using b = await startBroker({ limits: { redeliveryDelayMs: 50 } });
      await using c = clients(b.url, transport);
      // 50, 100, 200 ms between attempts (timers never fire early; allow clock rounding).
      await assertGrowingRedelivery(c.make(), c.make(), 'retry', 50, 2);
    });

    it('a failed job goes at once to another puller with room', async () => {
      await using b = await startBroker({ limits: { redeliveryDelayMs: 60_000 } });
      await using c = clients(b.url, transport);
      const failed = new Collector<number>();
      const done = new Collector<[number, number]>();
      await c
        .make()
        .topic<number>('other')
        .pull((n) => {
          failed.push(n);
          throw new Error('cannot');
        }).ready;
      await c
        .make()
        .topic<number>('other')
        .pull((n, meta) => done.push([n, meta.attempt ?? 0])).ready;
      const producer = c.make();
      await producer.topic<number>('other').push(1);
      await producer.topic<number>('other').push(2);
      await done.until(2, 5000);
      // Whichever puller each job met first, both end acknowledged by the working one.
      assert.deepEqual(done.items.map(([n]) => n).sort(), [1, 2]);
      assert.equal(failed.items.length, done.items.filter(([, attempt]) => attempt === 2).length);
    });

    it('pushes that wait longer than pushTtlMs expire and are counted', async () => {
      await using b = await startBroker({ limits: { pushTtlMs: 100 } });
      await using c = clients(b.url, transport);
      const producer = c.make();
      for (let n = 0; n < 3; n++) await producer.topic<number>('ttl').push(n);
      await condition(() => b.broker.stats().pushExpired === 3, 5000, 'the pushes to expire');
      const got = new Collector<number>();
      await c.make().topic<number>('ttl').pull(got.push).ready;
      await producer.topic<number>('ttl').push(9);
      await got.until(1);
      assert.deepEqual(got.items, [9]);
    });
  });
}
