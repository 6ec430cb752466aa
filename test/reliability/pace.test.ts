/**
 * Each subscriber chooses its pace (issue 21): `latest`, `conflate` by key and `maxRate`
 * subscribers behind a stalled or a throttled TCP proxy, while a publisher sends about 1,000 messages a
 * second. The broker's queue for them stays bounded, what they get is in order and ends with
 * the newest message (per key), the `skipped` counts add up exactly to what was published,
 * and an `all` subscriber of the same topic gets every message. Long-polling clients reconnect
 * after the stall (a transport error on their held poll) and recover from history: the
 * replay goes through the pace too, so the counts still add up.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageMeta } from '@rt/client';
import type { Pace } from '@rt/protocol';
import { Collector, TRANSPORTS, clients, deadline, startBroker } from '../helpers/index.ts';
import { startProxy } from '../helpers/tcp-proxy.ts';
import { condition } from '../helpers/reliability.ts';
import { readSse } from '../helpers/sse.ts';
import WebSocket from 'ws';

const MESSAGES = 1500;
const KEYS = 4;
/**
 * Payload padding: enough for a stalled WebSocket or SSE stream to fill the loopback's socket
 * buffers quickly; long-polling holds everything in the broker until the next poll anyway, and
 * at 4 MB/s its polls fail (a transport error and a reconnect, with or without a pace).
 */
const padFor = (transport: string): string => 'x'.repeat(transport === 'polling' ? 256 : 4 * 1024);
const MAX_OUTBOUND = 256 * 1024;
/** A slow link: about a quarter of what is published (4 KiB messages at about 1,000 a second); the loopback's socket buffers hold a few MB, which it drains too. */
const THROTTLE_BYTES_PER_S = 1024 * 1024;

interface Tick {
  id: number;
  n: number;
}

/** What one paced subscriber received: the messages, in order, and the skipped counts they carried. */
class Received {
  readonly got: Tick[] = [];
  /** The skipped count each message carried. */
  readonly skips: number[] = [];
  skipped = 0;
  readonly push = (tick: Tick, meta: MessageMeta): void => {
    this.got.push({ id: tick.id, n: tick.n });
    this.skips.push(meta.skipped ?? 0);
    this.skipped += meta.skipped ?? 0;
  };
  last(id?: number): number | undefined {
    for (let i = this.got.length - 1; i >= 0; i--)
      if (id === undefined || this.got[i]!.id === id) return this.got[i]!.n;
    return undefined;
  }
}

/** Publishes MESSAGES ticks (`id` = n mod KEYS) at about 1,000 a second; `sample` runs between bursts. */
async function publishTicks(
  pad: string,
  publish: (tick: { id: number; n: number; pad: string }) => Promise<unknown>,
  sample: () => void,
) {
  for (let n = 0; n < MESSAGES; ) {
    for (const end = n + 10; n < end; n++) await publish({ id: n % KEYS, n, pad });
    sample();
    await new Promise((r) => setTimeout(r, 10));
  }
}

const lastOf = (id: number): number => MESSAGES - KEYS + id;

for (const transport of TRANSPORTS) {
  describe(`paced subscribers over ${transport}`, () => {
    const pad = padFor(transport);
    for (const link of ['stalled', 'throttled'] as const)
      it(`latest, conflate and maxRate stay bounded behind a ${link} link and account for every message`, async (t) => {
        await using b = await startBroker({ limits: { maxOutboundBytes: MAX_OUTBOUND, historySize: 2 * MESSAGES } });
        await using proxy = await startProxy(b.port);
        await using slowClients = clients(proxy.url, transport);
        // The `all` subscriber is on a WebSocket: a long-polling one lags at 4 MB/s and its own
        // queue would hide the paced ones' in `outboundQueued`.
        await using c = clients(b.url, 'websocket');

        const paces: Record<string, Pace> = {
          latest: { mode: 'latest' },
          conflate: { mode: 'conflate', key: '/id' },
          maxRate: { maxRate: 20 },
        };
        const received: Record<string, Received> = {};
        const subs = Object.entries(paces).map(([name, pace]) => {
          const r = (received[name] = new Received());
          return slowClients.make().topic<Tick>('ticks').subscribe(r.push, pace);
        });
        const all = new Collector<number>();
        subs.push(
          c
            .make()
            .topic<Tick>('ticks')
            .subscribe(({ n }) => all.push(n)),
        );
        await Promise.all(subs.map((s) => s.ready));

        if (link === 'stalled') proxy.stall();
        else proxy.throttle(THROTTLE_BYTES_PER_S);
        let peakQueued = 0;
        await publishTicks(
          pad,
          (tick) => b.broker.publish('ticks', tick),
          () => (peakQueued = Math.max(peakQueued, b.broker.stats().outboundQueued)),
        );
        const whilePublishing = Object.fromEntries(Object.entries(received).map(([name, r]) => [name, r.got.length]));
        await all.until(MESSAGES, 20_000, 'every message to the "all" subscriber');
        peakQueued = Math.max(peakQueued, b.broker.stats().outboundQueued);
        if (link === 'stalled') proxy.resume();

        const done = (name: string): boolean =>
          name === 'conflate'
            ? Array.from({ length: KEYS }, (_, id) => id).every((id) => received[name]!.last(id) === lastOf(id))
            : received[name]!.last() === MESSAGES - 1;
        for (const name of Object.keys(paces))
          await condition(() => done(name), 20_000, `the newest ticks to "${name}"`);

        assert.deepEqual(
          all.items,
          Array.from({ length: MESSAGES }, (_, i) => i),
        );
        // The paced queues held about one message per key, never the outbound bound.
        assert.ok(peakQueued <= 16 * (pad.length + 200), `queued ${peakQueued} bytes for paced subscribers`);
        assert.equal(b.broker.stats().outboundDropped, 0, 'nothing overflowed');
        t.diagnostic(
          `peak queued ${peakQueued} B for 3 paced subscribers; delivered ${Object.entries(received)
            .map(([name, r]) => `${name} ${r.got.length}`)
            .join(', ')} of ${MESSAGES}${
            link === 'throttled' ? ` (while publishing: ${JSON.stringify(whilePublishing)})` : ''
          }`,
        );
        for (const [name, r] of Object.entries(received)) {
          assert.ok(r.got.length < MESSAGES, `"${name}" got ${r.got.length}: its pace skipped nothing`);
          assert.equal(r.got.length + r.skipped, MESSAGES, `"${name}": delivered + skipped = published`);
          if (link === 'throttled') {
            // The link carried messages while they were being published, not only after.
            assert.ok(whilePublishing[name]! > 1, `"${name}" got ${whilePublishing[name]} while publishing`);
            if (name !== 'conflate') {
              // One count per subscription: each message says exactly how many came between it and the one before.
              const between = r.got.map((tick, i) => tick.n - (i === 0 ? -1 : r.got[i - 1]!.n) - 1);
              assert.deepEqual(r.skips, between, `"${name}": the skipped count of each message`);
            }
          }
          // In order, once each: the newest (per key) whenever one went out.
          const ns = r.got.map((t) => t.n);
          assert.deepEqual(
            ns,
            [...new Set(ns)].sort((x, y) => x - y),
            `"${name}" in order without duplicates`,
          );
        }
      });

    it('maxRate caps the rate; maxQueue drops the oldest', async () => {
      await using b = await startBroker({ limits: { maxOutboundBytes: MAX_OUTBOUND, historySize: 2 * MESSAGES } });
      await using proxy = await startProxy(b.port);
      await using slowClients = clients(proxy.url, transport);
      await using c = clients(b.url, transport);
      const rated = new Received();
      const queued = new Received();
      const subs = [
        c.make().topic<Tick>('rate').subscribe(rated.push, { maxRate: 10 }),
        slowClients.make().topic<Tick>('rate').subscribe(queued.push, { maxQueue: 5 }),
      ];
      await Promise.all(subs.map((s) => s.ready));
      proxy.stall();
      const started = performance.now();
      await publishTicks(
        pad,
        (tick) => b.broker.publish('rate', tick),
        () => undefined,
      );
      const elapsed = (performance.now() - started) / 1000;
      await condition(() => rated.last() === MESSAGES - 1, 20_000, 'the last tick to the rated subscriber');
      // At most one per 100 ms while publishing (plus the first and the last).
      assert.ok(rated.got.length <= Math.ceil(elapsed * 10) + 2, `${rated.got.length} in ${elapsed} s`);
      assert.equal(rated.got.length + rated.skipped, MESSAGES);
      proxy.resume();
      await condition(() => queued.last() === MESSAGES - 1, 20_000, 'the last tick to the queued subscriber');
      assert.ok(queued.got.length < MESSAGES);
      assert.equal(queued.got.length + queued.skipped, MESSAGES);
      const ns = queued.got.map((t) => t.n);
      assert.deepEqual(
        ns,
        [...ns].sort((x, y) => x - y),
      );
      // Drop-oldest: the five newest are all there, in a row, at the end.
      assert.deepEqual(ns.slice(-5), [1495, 1496, 1497, 1498, 1499]);
    });
  });
}

/** Publishes `count` messages `{ n }` on `topic` in one go: they reach the session's queue before it is written. */
async function burst(
  b: { broker: { publish(topic: string, data: { n: number }): Promise<unknown> } },
  topic: string,
  count: number,
) {
  await Promise.all(Array.from({ length: count }, (_, n) => b.broker.publish(topic, { n })));
}

describe('pace without the SDK', () => {
  it('plain SSE takes the pace as query parameters and says what it skipped in a "conflated" gap', async () => {
    await using b = await startBroker();
    await using s = await readSse(`${b.url}/rt/sse?topic=t&mode=latest`);
    assert.equal(s.response.status, 200);
    await s.events.until(1, 10_000, 'the ready event');
    await burst(b, 't', 50);
    await condition(() => s.messages().some((e) => e.data === '{"n":49}'), 10_000, 'the newest message');
    const events = s.messages().slice(1);
    const messages = events.filter((e) => e.event === 'message').map((e) => (JSON.parse(e.data) as { n: number }).n);
    const skipped = events
      .filter((e) => e.event === 'gap')
      .map((e) => JSON.parse(e.data) as { topic: string; reason: string; skipped: number })
      .reduce((sum, gap) => {
        assert.equal(gap.reason, 'conflated');
        assert.equal(gap.topic, 't');
        return sum + gap.skipped;
      }, 0);
    assert.ok(messages.length < 50, `latest got ${messages.length} of a burst of 50`);
    assert.equal(messages.length + skipped, 50);
    assert.deepEqual(
      messages,
      [...messages].sort((x, y) => x - y),
    );
  });

  it('a bad pace is refused with 400 on plain SSE and raw /sub', async () => {
    await using b = await startBroker();
    for (const query of ['mode=fast', 'maxRate=0', 'maxQueue=1.5', 'mode=latest&key=/id', 'mode=conflate&key=id']) {
      const res = await fetch(`${b.url}/rt/sse?topic=t&${query}`);
      assert.equal(res.status, 400, query);
      const body = (await res.json()) as { error: { code: string } };
      assert.equal(body.error.code, 'bad_frame');
      const ws = new WebSocket(`${b.url.replace(/^http/, 'ws')}/sub/t?${query}`);
      const status = await deadline(
        new Promise<number>((resolve) => ws.once('unexpected-response', (_req, r) => resolve(r.statusCode ?? 0))),
        10_000,
        'the refused handshake',
      );
      assert.equal(status, 400, query);
    }
  });

  it('raw /sub takes the pace as query parameters', async () => {
    await using b = await startBroker();
    const ws = new WebSocket(`${b.url.replace(/^http/, 'ws')}/sub/t?mode=conflate&key=/k`);
    const got: { k: number; n: number }[] = [];
    ws.on('message', (data: Buffer) => got.push(JSON.parse(data.toString('utf8')) as { k: number; n: number }));
    await deadline(new Promise((resolve) => ws.once('open', resolve)), 10_000, 'the raw socket');
    try {
      await Promise.all(Array.from({ length: 40 }, (_, n) => b.broker.publish('t', { k: n % 2, n })));
      await condition(() => got.some((m) => m.n === 39) && got.some((m) => m.n === 38), 10_000, 'the newest per key');
      assert.ok(got.length < 40, `conflate got ${got.length} of a burst of 40`);
    } finally {
      ws.close();
    }
  });
});
