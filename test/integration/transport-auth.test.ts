/**
 * Every transport sends its handshake through `broker.admit`, with the client's token: as a
 * header where the runtime can send one, else as a query parameter (or the `rt_token` cookie).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { type Handshake, RtError } from '@rt/server';
import { sse } from '@rt/client';
import { Collector, TRANSPORTS, clients, startBroker } from '../helpers/index.ts';

/** A broker whose `admit` records handshakes and lets in only the token `good`. */
async function guarded() {
  const b = await startBroker();
  const seen: Handshake[] = [];
  b.broker.admit = async (handshake: Handshake) => {
    seen.push(handshake);
    if (handshake.token !== 'good') throw new RtError('unauthorized', 'bad or missing token');
    return { user: 'ann' };
  };
  return Object.assign(b, { seen });
}

describe('tokens on every transport', () => {
  for (const transport of TRANSPORTS) {
    it(`${transport}: the token reaches admit, and a bad one keeps the client out`, async () => {
      await using b = await guarded();
      await using c = clients(b.url, transport);
      const ok = c.make({ auth: () => 'good' });
      await ok.ready();
      const mine = b.seen.filter((h) => h.token === 'good');
      assert.ok(
        mine.length >= 1 && mine.every((h) => h.transport === transport),
        JSON.stringify(b.seen.map((h) => h.transport)),
      );
      if (transport === 'sse') {
        assert.equal(mine[0]!.headers.authorization, 'Bearer good', 'Node sends it as a header');
        assert.equal(mine[0]!.query.get('token'), null, 'not in the URL');
      }
      const bad = c.make({ auth: 'bad', reconnect: false });
      const errors = new Collector<string>();
      bad.on('error', (e) => errors.push(e.error.message));
      await assert.rejects(bad.ready());
      assert.match(errors.items[0] ?? '', /did not open/);
    });
  }

  it('sse with a browser-like EventSource (no headers) sends the token as ?token=', async () => {
    await using b = await guarded();
    await using c = clients(b.url, 'sse');
    const client = c.make({ auth: 'good', EventSource });
    await client.ready();
    const h = b.seen.find((s) => s.transport === 'sse')!;
    assert.equal(h.query.get('token'), 'good');
    const got = new Collector<string>();
    await client.topic<string>('t').subscribe(got.push).ready;
    await client.topic<string>('t').publish('works');
    assert.deepEqual(await got.until(1), ['works']);
  });

  it('plain SSE, raw WebSocket and raw POST take ?token=, Authorization: Bearer and the rt_token cookie', async () => {
    await using b = await guarded();
    assert.equal((await fetch(`${b.url}/rt/sse?topic=a`)).status, 401);
    const plain = await fetch(`${b.url}/rt/sse?topic=a&token=good`);
    assert.equal(plain.status, 200);
    await plain.body?.cancel();
    const cookie = await fetch(`${b.url}/rt/sse?topic=a`, { headers: { cookie: 'other=1; rt_token=good' } });
    assert.equal(cookie.status, 200);
    await cookie.body?.cancel();
    assert.equal((await fetch(`${b.url}/pub/a`, { method: 'POST', body: 'x' })).status, 401);
    assert.equal(
      (await fetch(`${b.url}/pub/a`, { method: 'POST', body: 'x', headers: { authorization: 'Bearer good' } })).status,
      200,
    );
    const status = (path: string): Promise<number> =>
      new Promise((resolve) => {
        const ws = new WebSocket(b.url.replace('http', 'ws') + path);
        ws.once('open', () => {
          ws.close();
          resolve(101);
        });
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      });
    assert.equal(await status('/sub/a'), 401);
    assert.equal(await status('/sub/a?token=good'), 101);
    assert.deepEqual(new Set(b.seen.map((h) => h.transport)), new Set(['sse', 'http', 'raw']));
  });
});

describe('sse availability', () => {
  const context = {
    url: 'http://127.0.0.1:9',
    prefix: '/rt',
    token: undefined,
    openTimeoutMs: 1000,
    WebSocket: undefined,
  };
  it('needs fetch, and an EventSource (given, global, or the eventsource package in Node)', () => {
    assert.equal(sse.available({ ...context, EventSource: undefined, fetch: undefined }), false);
    assert.equal(sse.available({ ...context, EventSource, fetch }), true);
    assert.equal(sse.available({ ...context, EventSource: undefined, fetch }), true, 'Node: the eventsource package');
  });
});
