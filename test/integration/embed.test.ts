/**
 * `broker.attach(server)`: rt shares an application's HTTP server, answers only its own
 * paths, and `close()` leaves the application's server running.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBroker } from '@rt/server';
import WebSocket from 'ws';
import { Collector, clients, startBroker } from '../helpers/index.ts';

describe('embedding in an existing HTTP server', () => {
  it('serves the app and rt side by side, and close() leaves the app running', async () => {
    const server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`app saw ${req.method} ${req.url}`);
    });
    const broker = createBroker({ logger: { level: 'silent' } }).attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      assert.equal(await (await fetch(`${url}/hello?x=1`)).text(), 'app saw GET /hello?x=1');
      // Development mode does not take over `/` of a server the broker does not own.
      assert.equal(await (await fetch(`${url}/`)).text(), 'app saw GET /');
      assert.equal((await fetch(`${url}/rt/health`)).status, 200);
      {
        await using c = clients(url, 'websocket');
        const got = new Collector<unknown>();
        await c.make().topic('t').subscribe(got.push).ready;
        await broker.publish('t', 'via embed');
        assert.deepEqual(await got.until(1), ['via embed']);
      }
      await broker.close();
      assert.equal(await (await fetch(`${url}/after`)).text(), 'app saw GET /after');
    } finally {
      await broker.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('upgrades nobody serves', () => {
  it('get 404 on a server the broker owns, instead of hanging', async () => {
    await using b = await startBroker();
    const ws = new WebSocket(`${b.url.replace('http', 'ws')}/nowhere/at/all`);
    const status = await new Promise<number>((resolve, reject) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => reject(new Error('an unknown path was upgraded')));
      ws.once('error', () => undefined);
    });
    assert.equal(status, 404);
  });
});
