/**
 * Transport choice and fallback: through a proxy that refuses WebSocket upgrades the client
 * ends on SSE; with SSE refused or held back too, on long-polling; every pattern works there,
 * and the transport that worked is tried first on reconnect.
 */
import { type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type Client, type ConnectOptions, type TransportName, connect } from '@rt/client';
import { Collector, startBroker } from '../helpers/index.ts';
import { checkEveryPattern } from '../helpers/pattern-checks.ts';
import { type ProxyOptions, startProxy } from '../helpers/proxy.ts';

/** Clients with the default transport order, each recording its `transport` and `error` events. */
function fallbackClients(url: string, options: ConnectOptions = {}) {
  const made: { client: Client; transports: Collector<TransportName>; errors: Collector<string> }[] = [];
  return {
    made,
    make(): Client {
      const client = connect(url, {
        reconnect: { initialDelayMs: 50, maxDelayMs: 300 },
        openTimeoutMs: 1500,
        ...options,
      });
      const transports = new Collector<TransportName>();
      const errors = new Collector<string>();
      client.on('transport', (e) => transports.push(e.name));
      client.on('error', (e) => errors.push(e.error.message));
      made.push({ client, transports, errors });
      return client;
    },
    async [Symbol.asyncDispose]() {
      for (const m of made) m.client.close();
    },
  };
}

/** Title, proxy, the transport the client must end on, its error events, and whether to run every pattern through it. */
const cases: [string, ProxyOptions, TransportName, RegExp[], boolean][] = [
  [
    'refuses WebSocket upgrades: the client ends on SSE',
    { refuseWebSocket: true },
    'sse',
    [/^websocket to http:\/\/127\.0\.0\.1:\d+\/rt did not open: .*403/],
    true,
  ],
  [
    'refuses WebSocket and SSE: the client ends on long-polling',
    { refuseWebSocket: true, sse: 'refuse' },
    'polling',
    [/^websocket to \S+ did not open: .*403/, /^sse to \S+ did not open.*502/],
    true,
  ],
  // Every client made here waits openTimeoutMs for the held-back stream; the patterns over polling
  // through this proxy are the case above, so one round trip is checked here.
  [
    'refuses WebSocket and buffers SSE: the stalled stream fails within openTimeoutMs, the client ends on long-polling',
    { refuseWebSocket: true, sse: 'stall' },
    'polling',
    [/^websocket to \S+ did not open: .*403/, /^sse to \S+ did not open: sse: no session within 1500 ms/],
    false,
  ],
];

describe('transport fallback', () => {
  for (const [title, proxyOptions, expected, errors, patterns] of cases) {
    it(`a proxy that ${title}, and ${patterns ? 'every pattern works' : 'it works'}`, async () => {
      await using b = await startBroker();
      await using proxy = await startProxy(b.url, proxyOptions);
      await using c = fallbackClients(proxy.url);
      const client = c.make();
      await client.ready();
      assert.equal(client.transport, expected);
      const first = c.made[0]!;
      assert.deepEqual(first.transports.items, [expected], 'one transport event, naming the transport in use');
      assert.equal(first.errors.items.length, errors.length, first.errors.items.join('; '));
      errors.forEach((re, i) => {
        assert.match(first.errors.items[i]!, re);
      });
      if (!patterns) {
        const got = new Collector<string>();
        await client.topic<string>('one').subscribe(got.push).ready;
        await client.topic<string>('one').publish('round trip');
        assert.deepEqual(await got.until(1), ['round trip']);
        return;
      }
      await checkEveryPattern(() => c.make(), proxy.url);
      assert.ok(
        c.made.every((m) => m.client.transport === expected),
        'every client ended on the same transport',
      );
    });
  }

  it('tries the transport that worked first when it reconnects, and resubscribes', async () => {
    await using b = await startBroker();
    await using proxy = await startProxy(b.url, { refuseWebSocket: true });
    await using c = fallbackClients(proxy.url);
    const client = c.make();
    const got = new Collector<string>();
    await client.topic<string>('after').subscribe(got.push).ready;
    const { transports, errors } = c.made[0]!;
    const errorsBefore = errors.items.length;
    proxy.dropConnections();
    await transports.until(2, 5000, 'a second transport event');
    assert.deepEqual(transports.items, ['sse', 'sse']);
    assert.equal(errors.items.length, errorsBefore, 'websocket was not tried again');
    await client.ready();
    const res = await fetch(`${b.url}/rt/publish?topic=after`, { method: 'POST', body: 'still here' });
    assert.equal(res.status, 200);
    assert.deepEqual(await got.until(1), ['still here']);
  });
});

describe('sse stall detection', () => {
  it('closes an open stream that goes silent for twice the heartbeat interval, and reconnects', async () => {
    // A broker stand-in whose stream opens, announces a 100 ms heartbeat, answers the client's
    // hello (the round trip that makes a connection open), then goes silent.
    let streams = 0;
    const open = new Map<string, ServerResponse>();
    const server = createServer((req, res) => {
      const post = /^\/rt\/sse\/(t\d+)$/.exec(req.url ?? '');
      if (req.method === 'POST' && post) {
        let body = '';
        req.on('data', (d: Buffer) => (body += d.toString()));
        req.on('end', () => {
          for (const frame of JSON.parse(body) as { t: string; ref: number }[])
            if (frame.t === 'hello') open.get(post[1]!)?.write(`data: {"t":"ok","ref":${frame.ref}}\n\n`);
          res.writeHead(204).end();
        });
        return;
      }
      if (!req.url?.startsWith('/rt/sse?frames=1')) return void res.writeHead(404).end();
      streams++;
      open.set(`t${streams}`, res);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`event: session\ndata: {"url":"sse/t${streams}","heartbeatMs":100}\n\n`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const client = connect(`http://127.0.0.1:${port}`, {
      transports: ['sse'],
      reconnect: { initialDelayMs: 50, maxDelayMs: 50 },
    });
    const states = new Collector<string>();
    client.on('state', (e) => states.push(`${e.to}${e.reason ? `: ${e.reason}` : ''}`));
    try {
      await states.until(3, 5000, 'open, stalled, open again');
      assert.equal(states.items[0], 'open');
      assert.match(states.items[1]!, /^reconnecting: sse: no event for 1200 ms \(stalled\)$/);
      assert.equal(states.items[2], 'open');
      assert.equal(streams, 2);
    } finally {
      client.close();
      server.closeAllConnections();
      server.close();
    }
  });
});
