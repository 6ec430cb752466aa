/**
 * Deltas over every SDK transport (issue 21): a subscriber with `delta: true` and one without,
 * on the same topic, get identical payloads while a 2 KiB object changes one field at a time;
 * the delta subscriber's frames after the first are deltas. Cut off (a TCP proxy drops its
 * connection) while messages are published, it recovers them whole, and live messages are
 * deltas again against what it now holds. Payloads are the app's view; frames are seen
 * under the client, on its transport.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MsgFrame } from '@rt/protocol';
import { Collector, TRANSPORTS, clients, startBroker } from '../helpers/index.ts';
import { spying } from '../helpers/spy-transport.ts';
import { startProxy } from '../helpers/tcp-proxy.ts';
import { stateReached, whileCutOff } from '../helpers/reliability.ts';
import WebSocket from 'ws';

interface Quote {
  symbol: string;
  price: number;
  fields: Record<string, string>;
}

/** About 2 KiB of JSON of which only `price` changes. */
const quote = (price: number): Quote => {
  const fields: Record<string, string> = {};
  for (let i = 0; i < 48; i++) fields[`field${i}`] = `value ${i} – ünïcode ✓ ${'x'.repeat(12)}`;
  return { symbol: 'ACME', price, fields };
};

for (const transport of TRANSPORTS) {
  describe(`deltas over ${transport}`, () => {
    it('a delta subscriber gets what a whole one gets; after a cut, missed messages come whole, then deltas again', async () => {
      await using b = await startBroker();
      await using proxy = await startProxy(b.port);
      const seen: MsgFrame[] = [];
      await using viaProxy = clients(proxy.url, transport, { transports: [spying(transport, seen)] });
      await using direct = clients(b.url, transport);
      const deltaClient = viaProxy.make();
      const wholeClient = direct.make();

      const withDeltas = new Collector<Quote>();
      const whole = new Collector<Quote>();
      const subscription = deltaClient.topic<Quote>('quotes').subscribe(withDeltas.push, { delta: true });
      await subscription.ready;
      await wholeClient.topic<Quote>('quotes').subscribe(whole.push).ready;

      const sent: Quote[] = [];
      const publish = async (n: number) => {
        for (let i = 0; i < n; i++) {
          const q = quote(sent.length + 0.5);
          sent.push(q);
          await b.broker.publish('quotes/acme', q as never);
        }
      };

      await publish(10);
      await withDeltas.until(10);
      assert.deepEqual(
        seen.map((f) => f.base !== undefined),
        [false, ...Array<boolean>(9).fill(true)],
      );
      assert.ok((seen[1]!.data as string).length < 100, `a delta of ${(seen[1]!.data as string).length} characters`);

      // Cut off while three are published: recovered whole (a replay), then live deltas again.
      const restored = new Promise((resolve) => deltaClient.once('restored', resolve));
      await whileCutOff(proxy, deltaClient, () => publish(3));
      await stateReached(deltaClient, 'open');
      await restored;
      await withDeltas.until(13, 10_000);
      await publish(3);
      await withDeltas.until(16);
      await whole.until(16);

      assert.deepEqual(withDeltas.items, sent);
      assert.deepEqual(whole.items, sent);
      // The replay is whole; so may be the first live message (whether this node knew its
      // predecessor depends on when the broker saw the old connection go); then deltas.
      const afterCut = seen.slice(10).map((f) => ({ off: f.off, delta: f.base !== undefined }));
      assert.deepEqual(
        afterCut.map((f, i) => (i === 3 ? '?' : f.delta)),
        [false, false, false, '?', true, true],
        JSON.stringify(afterCut),
      );
    });
  });
}

describe('deltas without the SDK', () => {
  it('plain SSE and raw /sub refuse "delta" with HTTP 400 and say why', async () => {
    await using b = await startBroker();
    const sse = await fetch(`${b.url}/rt/sse?topic=quotes&delta=1`);
    assert.equal(sse.status, 400);
    assert.match(await sse.text(), /SDK subscriptions only/);
    const ws = new WebSocket(`${b.url.replace(/^http/, 'ws')}/sub/quotes?delta=1`);
    const [status, body] = await new Promise<[number, string]>((resolve, reject) => {
      ws.once('unexpected-response', (_req, res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve([res.statusCode ?? 0, text]));
      });
      ws.once('open', () => reject(new Error('the socket opened')));
    });
    assert.equal(status, 400);
    assert.match(body, /SDK subscriptions only/);
  });
});
