/**
 * Soak: dozens of clients on every transport, each behind its own TCP proxy, while the
 * network misbehaves for 30 s (random cuts and stalls) and publishers keep publishing. At the
 * end every subscriber has every publisher's sequence complete and in order, nothing twice,
 * and no gap: all of it stayed within the history window. Seeded, so a failure reproduces
 * with `RT_SOAK_SEED`.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { Client, TransportName } from '@rt/client';
import { TRANSPORTS, clients, startBroker } from '../helpers/index.ts';
import { startProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { condition } from '../helpers/reliability.ts';

const CHAOS_MS = 30_000;
const PUBLISHERS = 5;
const SUBSCRIBERS = 20;
const PUBLISH_EVERY_MS = 40;

/** A small seeded PRNG (mulberry32), so a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Peer {
  client: Client;
  proxy: TcpProxy;
}

it(`soak: ${SUBSCRIBERS} subscribers and ${PUBLISHERS} publishers through random cuts and stalls for ${CHAOS_MS / 1000} s`, {
  timeout: 90_000,
}, async () => {
  const seed = Number(process.env.RT_SOAK_SEED ?? Date.now() % 1_000_000);
  const random = prng(seed);
  await using b = await startBroker();
  const proxies: TcpProxy[] = [];
  const pools: AsyncDisposable[] = [];
  const peer = async (i: number): Promise<Peer> => {
    const proxy = await startProxy(b.port);
    const transport: TransportName = TRANSPORTS[i % TRANSPORTS.length]!;
    const pool = clients(proxy.url, transport);
    proxies.push(proxy);
    pools.push(pool);
    return { client: pool.make(), proxy };
  };
  try {
    // Every subscriber records, per publisher, the sequence numbers in arrival order.
    const seen: Map<number, number[]>[] = [];
    const problems: string[] = [];
    const subscribers: Peer[] = [];
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const p = await peer(i);
      const record = new Map<number, number[]>();
      seen.push(record);
      // Half subscribe to the root, half to one publisher's topic and its parent.
      const topics = i % 2 === 0 ? ['soak'] : [`soak/p${i % PUBLISHERS}`];
      for (const topic of topics) {
        const sub = p.client.topic<{ p: number; n: number }>(topic).subscribe(({ p: from, n }) => {
          const list = record.get(from) ?? [];
          record.set(from, list);
          if (n !== list.length) problems.push(`subscriber ${i}: publisher ${from} sent ${n} after ${list.length - 1}`);
          list.push(n);
        });
        sub.on('gap', (e) => problems.push(`subscriber ${i}: gap ${e.reason} on ${e.topic}`));
        await sub.ready;
      }
      subscribers.push(p);
    }
    const publishers: Peer[] = [];
    for (let i = 0; i < PUBLISHERS; i++) publishers.push(await peer(SUBSCRIBERS + i));
    await Promise.all(publishers.map((p) => p.client.ready()));

    let chaos = true;
    const sent = new Array<number>(PUBLISHERS).fill(0);
    const publishing = publishers.map(async ({ client }, i) => {
      const topic = client.topic<{ p: number; n: number }>(`soak/p${i}`);
      while (chaos) {
        await topic.publish({ p: i, n: sent[i]! });
        sent[i]!++;
        await sleep(PUBLISH_EVERY_MS * (0.5 + random()));
      }
    });
    let cuts = 0;
    let stalls = 0;
    const everyone = [...subscribers, ...publishers];
    const started = Date.now();
    while (Date.now() - started < CHAOS_MS) {
      await sleep(100 + random() * 300);
      const victim = everyone[Math.floor(random() * everyone.length)]!;
      if (random() < 0.8) {
        victim.proxy.cut();
        cuts++;
      } else {
        victim.proxy.stall();
        stalls++;
        setTimeout(() => victim.proxy.resume(), 100 + random() * 400);
      }
    }
    chaos = false;
    await Promise.all(publishing);
    for (const proxy of proxies) proxy.resume();

    const expected = (i: number): number[] => (i % 2 === 0 ? [...Array(PUBLISHERS).keys()] : [i % PUBLISHERS]);
    const complete = (): boolean =>
      seen.every((record, i) => expected(i).every((p) => (record.get(p)?.length ?? 0) >= sent[p]!));
    await condition(complete, 30_000, `every subscriber to have every message (seed ${seed})`);
    assert.deepEqual(problems, [], `seed ${seed}`);
    seen.forEach((record, i) => {
      for (const p of expected(i)) {
        assert.deepEqual(
          record.get(p),
          Array.from({ length: sent[p]! }, (_, n) => n),
          `subscriber ${i}, publisher ${p} (seed ${seed})`,
        );
      }
    });
    const total = sent.reduce((x, y) => x + y, 0);
    assert.ok(total > PUBLISHERS * 100, `published ${total}`);
    assert.ok(cuts > 50, `cut ${cuts} connections`);
    console.log(
      `soak: seed ${seed}, ${total} messages, ${cuts} cuts, ${stalls} stalls, ${proxies.reduce((n, p) => n + p.accepted, 0)} connections`,
    );
  } finally {
    for (const pool of pools) await pool[Symbol.asyncDispose]();
    for (const proxy of proxies) await proxy.close();
  }
});
