/**
 * The four patterns checked end to end with nothing but the client API and HTTP, so they run
 * against any broker: in this process, in another process, behind a proxy.
 */
import assert from 'node:assert/strict';
import type { Client } from '@rt/client';
import { Collector, quiet } from './index.ts';

/** pub/sub: a subscriber gets its topic and descendants, in publish order, never siblings. */
export async function checkPubSub(make: () => Client): Promise<void> {
  const [sub, pub] = [make(), make()];
  const got = new Collector<[unknown, string]>();
  await sub.topic('ps/a').subscribe((d, m) => got.push([d, m.topic])).ready;
  for (const t of ['ps', 'ps/ab', 'ps/a', 'ps/a/b']) await pub.topic(t).publish(t);
  await Promise.all(Array.from({ length: 50 }, (_, i) => pub.topic('ps/a/seq').publish(i)));
  await pub.topic('ps/a').publish(new Uint8Array([0, 255]));
  await got.until(53);
  await quiet();
  assert.deepEqual(got.items.slice(0, 2), [
    ['ps/a', 'ps/a'],
    ['ps/a/b', 'ps/a/b'],
  ]);
  assert.deepEqual(
    got.items.slice(2, 52).map(([d]) => d),
    Array.from({ length: 50 }, (_, i) => i),
    'in order',
  );
  const bytes = got.items[52]![0];
  assert.ok(bytes instanceof Uint8Array && bytes[0] === 0 && bytes[1] === 255, 'binary stays binary');
  assert.equal(got.items.length, 53);
}

/** bus: a message reaches every other peer of exactly the topic. */
export async function checkBus(make: () => Client): Promise<void> {
  const peers = [make(), make(), make()].map((c) => c.topic<string>('bus/room').bus());
  const got = peers.map(() => new Collector<string>());
  peers.forEach((p, i) => {
    p.on('message', (e) => got[i]!.push(e.data));
  });
  await Promise.all(peers.map((p) => p.ready));
  await peers[0]!.send('hello');
  await Promise.all([got[1]!.until(1), got[2]!.until(1)]);
  await quiet();
  assert.deepEqual(
    got.map((g) => g.items),
    [[], ['hello'], ['hello']],
  );
}

/**
 * push/pull: each item to exactly one puller, taking turns. Pullers hold each job (prefetch 1)
 * until the test releases them, in rounds: every round each puller must hold exactly one
 * new job, whatever the transport's latency.
 */
export async function checkPushPull(make: () => Client, pullers = 2, rounds = 3): Promise<void> {
  const got = new Collector<[number, number]>();
  const held: (() => void)[] = [];
  const handles = Array.from({ length: pullers }, (_, w) =>
    make()
      .topic<number>('pp/jobs')
      .pull((n) => {
        got.push([w, n]);
        return new Promise<void>((release) => held.push(release));
      }),
  );
  await Promise.all(handles.map((p) => p.ready));
  const producer = make();
  for (let i = 0; i < pullers * rounds; i++) await producer.topic<number>('pp/jobs').push(i);
  for (let round = 1; round <= rounds; round++) {
    await got.until(pullers * round, 5000, `round ${round} of jobs`);
    await quiet(50);
    const perPuller = Array.from({ length: pullers }, (_, w) => got.items.filter(([who]) => who === w).length);
    assert.deepEqual(perPuller, Array(pullers).fill(round), `round ${round}: one job each`);
    for (const release of held.splice(0)) release();
  }
  assert.deepEqual(
    got.items.map(([, n]) => n).sort((x, y) => x - y),
    Array.from({ length: pullers * rounds }, (_, i) => i),
  );
}

/** Server publishing: an HTTP POST to the broker reaches SDK subscribers. */
export async function checkServerPublish(make: () => Client, brokerUrl: string): Promise<void> {
  const got = new Collector<unknown>();
  await make().topic('srv').subscribe(got.push).ready;
  const res = await fetch(`${brokerUrl}/rt/publish?topic=srv/x`, { method: 'POST', body: 'from a backend ✓' });
  assert.equal(res.status, 200);
  assert.deepEqual(await got.until(1), ['from a backend ✓']);
}

/** Every pattern, one after the other. */
export async function checkEveryPattern(make: () => Client, brokerUrl: string): Promise<void> {
  await checkPubSub(make);
  await checkBus(make);
  await checkPushPull(make);
  await checkServerPublish(make, brokerUrl);
}
