/**
 * Strict turns (issue 14, item 7): pushes go round-robin among the pullers with room, on both
 * engines, whatever pullers leave meanwhile. Four raw `/pull` sockets connected in order take
 * pushes 0 1 2 3 0 1; once the first one leaves, the others go on from where the turn was
 * (2 3 1 2 3 1), not shifted by the leaver (on main the turn was an index into the list of
 * pullers, so a puller leaving made the next one in line lose its turn).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { redis } from '@rt/server';
import { Collector, type TestBroker, startBroker } from '../helpers/index.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { condition } from '../helpers/reliability.ts';

function open(url: string, path: string): Promise<WebSocket> {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + path);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

const send = (ws: WebSocket, text: string): Promise<void> =>
  new Promise((resolve, reject) => ws.send(text, (e) => (e ? reject(e) : resolve())));

/** One round on a fresh topic: returns which puller got each push, in push order. */
async function round(b: TestBroker, topic: string): Promise<number[]> {
  const got = new Collector<[number, number]>();
  const pullers: WebSocket[] = [];
  for (let i = 0; i < 4; i++) {
    const ws = await open(b.url, `/pull/${topic}`);
    ws.on('message', (d: Buffer) => got.push([Number(d.toString()), i]));
    pullers.push(ws);
  }
  const pusher = await open(b.url, `/push/${topic}`);
  for (let n = 0; n < 6; n++) await send(pusher, String(n));
  await got.until(6, 10_000, 'the first 6 jobs');
  // The first puller leaves; the broker sees it go before the next pushes.
  const sessions = b.broker.stats().sessions;
  pullers[0]!.close();
  await condition(() => b.broker.stats().sessions === sessions - 1, 10_000, 'the broker to see the puller go');
  for (let n = 6; n < 12; n++) await send(pusher, String(n));
  await got.until(12, 10_000, 'the next 6 jobs');
  for (const ws of [...pullers, pusher]) ws.close();
  return got.items.sort((x, y) => x[0] - y[0]).map(([, who]) => who);
}

const TURNS = [0, 1, 2, 3, 0, 1, 2, 3, 1, 2, 3, 1];

async function twentyRounds(b: TestBroker): Promise<void> {
  for (let r = 0; r < 20; r++) assert.deepEqual(await round(b, `turns/${r}`), TURNS, `round ${r}`);
}

describe('pushes take strict turns among pullers', () => {
  it('memory: four raw /pull sockets, 20 rounds, one leaving in each', async () => {
    await using b = await startBroker();
    await twentyRounds(b);
  });

  it('Redis: four raw /pull sockets, 20 rounds, one leaving in each', async () => {
    await using server = await RedisServer.start();
    await using b = await startBroker({
      engine: redis({ url: server.url, prefix: `rt-test:${randomBytes(4).toString('hex')}:` }),
    });
    await twentyRounds(b);
  });
});
