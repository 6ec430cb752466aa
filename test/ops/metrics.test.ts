/**
 * Prometheus metrics at `/rt/metrics`: a scripted workload on each transport, then a scrape
 * parsed by a Prometheus text parser, with exact counter deltas and gauges; refusals counted
 * by reason; label sets bounded however many topics there are; off by default and protected
 * by its token or served on an address of its own.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client, TransportName } from '@rt/client';
import { createBroker } from '@rt/server';
import { Collector, ROOT, TRANSPORTS, clients, deadline, startBroker } from '../helpers/index.ts';
import { type Scrape, scrape } from '../helpers/prometheus.ts';
import { freePort } from '../helpers/redis-server.ts';
import { readSse } from '../helpers/sse.ts';
import WebSocket from 'ws';
import { condition, whileCutOff } from '../helpers/reliability.ts';
import { startProxy } from '../helpers/tcp-proxy.ts';

const TOKEN = 'metrics-token-for-tests';

/** Which door and transport label a client transport shows up under. */
const LABELS: Record<string, { door: string; transport: string }> = {
  websocket: { door: 'socket.io', transport: 'websocket' },
  polling: { door: 'socket.io', transport: 'polling' },
  sse: { door: 'sse', transport: 'sse' },
};

/** Scrapes until `check` holds for the scrape (a condition with a deadline); returns that scrape. */
async function scrapeUntil(url: string, check: (s: Scrape) => boolean, what: string): Promise<Scrape> {
  let last: Scrape | undefined;
  return deadline(
    (async () => {
      for (;;) {
        last = await scrape(url, TOKEN);
        if (check(last)) return last;
        await new Promise((r) => setTimeout(r, 50));
      }
    })(),
    20_000,
    what,
  );
}

/** `after - before` of every listed sample. */
function deltas(before: Scrape, after: Scrape, samples: [string, Record<string, string>?][]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, labels = {}] of samples) {
    const key = Object.keys(labels).length === 0 ? name : `${name}${JSON.stringify(labels)}`;
    out[key] = after.value(name, labels) - before.value(name, labels);
  }
  return out;
}

for (const transport of TRANSPORTS) {
  describe(`metrics over ${transport}`, () => {
    it('a scripted workload moves every counter by exactly what it did', async () => {
      const { door, transport: label } = LABELS[transport as string]!;
      await using b = await startBroker({
        metrics: { token: TOKEN },
        limits: { historySize: 5 },
      });
      const metricsUrl = `${b.url}/rt/metrics`;
      await using proxy = await startProxy(b.port);
      await using viaProxy = clients(proxy.url, transport as TransportName);
      await using c = clients(b.url, transport as TransportName);
      const before = await scrape(metricsUrl, TOKEN);
      // Sessions the clients opened (a long-polling client may reconnect by itself on a loaded machine).
      let opens = 0;
      const make = (from: typeof c): Client => {
        const client = from.make();
        client.on('state', ({ to }) => {
          if (to === 'open') opens++;
        });
        return client;
      };

      // pub/sub: 3 client publishes to one subscriber.
      const sub = make(viaProxy);
      const got = new Collector<number>();
      const gaps = new Collector<string>();
      const subscription = sub.topic<number>('w').subscribe(got.push);
      subscription.on('gap', (e) => gaps.push(e.reason));
      await subscription.ready;
      const pub = make(c);
      for (let i = 1; i <= 3; i++) await pub.topic<number>('w/x').publish(i);
      await got.until(3);
      // bus: 2 messages from one peer to the other.
      const [peerA, peerB] = [make(c), make(c)].map((client) => client.topic<string>('room').bus());
      const heard = new Collector<string>();
      peerB!.on('message', (e) => heard.push(e.data));
      await Promise.all([peerA!.ready, peerB!.ready]);
      await peerA!.send('one');
      await peerA!.send('two');
      await heard.until(2);
      // push/pull: 2 jobs, both acknowledged.
      const jobs = new Collector<string>();
      const puller = make(c);
      await puller.topic<string>('jobs').pull((job) => jobs.push(job)).ready;
      const pusher = make(c);
      await pusher.topic<string>('jobs').push('j1');
      await pusher.topic<string>('jobs').push('j2');
      await jobs.until(2);

      const mid = await scrapeUntil(
        metricsUrl,
        (s) =>
          s.value('rt_jobs_acked_total') - before.value('rt_jobs_acked_total') === 2 &&
          s.value('rt_connections', { door, transport: label }) === 6,
        'both acks counted, six connections open',
      );
      assert.equal(mid.value('rt_connections', { door, transport: label }), 6);
      assert.equal(mid.value('rt_subscriptions'), 1);
      assert.equal(mid.value('rt_topics'), 1);
      assert.equal(mid.value('rt_bus_joins'), 2);
      assert.equal(mid.value('rt_pullers'), 1);
      assert.equal(mid.value('rt_queue_depth'), 0);
      assert.equal(mid.value('rt_engine_up', { engine: 'memory' }), 1);

      // A gap: the subscriber is cut off while 8 messages go by; history keeps 5.
      await whileCutOff(proxy, sub, async () => {
        for (let i = 4; i <= 11; i++) await b.broker.publish('w', i);
      });
      await got.until(8, 15_000);
      await gaps.until(1);
      const after = await scrapeUntil(
        metricsUrl,
        (s) =>
          s.value('rt_connections', { door, transport: label }) === 6 &&
          s.value('rt_connections_opened_total', { door }) - before.value('rt_connections_opened_total', { door }) ===
            opens &&
          s.value('rt_connections_closed_total', { door }) - before.value('rt_connections_closed_total', { door }) ===
            opens - 6,
        'every session the clients opened counted, the cut one closed',
      );
      assert.deepEqual(got.items, [1, 2, 3, 7, 8, 9, 10, 11]);
      assert.deepEqual(
        deltas(before, after, [
          ['rt_messages_published_total'],
          ['rt_messages_delivered_total', { door, kind: 'pubsub' }],
          ['rt_messages_delivered_total', { door, kind: 'bus' }],
          ['rt_messages_delivered_total', { door, kind: 'job' }],
          ['rt_gaps_total', { reason: 'history' }],
          ['rt_gaps_total', { reason: 'epoch' }],
          ['rt_gaps_total', { reason: 'overflow' }],
          ['rt_jobs_pushed_total'],
          ['rt_jobs_acked_total'],
          ['rt_jobs_nacked_total'],
          ['rt_jobs_rejected_total'],
          ['rt_connections_opened_total', { door }],
          ['rt_connections_closed_total', { door }],
          ['rt_messages_dropped_total', { reason: 'slow_consumer' }],
          ['rt_slow_consumer_disconnects_total'],
          ['rt_bad_frames_total'],
        ]),
        {
          rt_messages_published_total: 11,
          [`rt_messages_delivered_total{"door":"${door}","kind":"pubsub"}`]: 8,
          [`rt_messages_delivered_total{"door":"${door}","kind":"bus"}`]: 2,
          [`rt_messages_delivered_total{"door":"${door}","kind":"job"}`]: 2,
          'rt_gaps_total{"reason":"history"}': 1,
          'rt_gaps_total{"reason":"epoch"}': 0,
          'rt_gaps_total{"reason":"overflow"}': 0,
          rt_jobs_pushed_total: 2,
          rt_jobs_acked_total: 2,
          rt_jobs_nacked_total: 0,
          rt_jobs_rejected_total: 0,
          // 6 clients, one of them twice (cut and back), plus any reconnect a client made by itself.
          [`rt_connections_opened_total{"door":"${door}"}`]: opens,
          [`rt_connections_closed_total{"door":"${door}"}`]: opens - 6,
          'rt_messages_dropped_total{"reason":"slow_consumer"}': 0,
          rt_slow_consumer_disconnects_total: 0,
          rt_bad_frames_total: 0,
        },
      );
      // Payloads in: 3 publishes of "1".."3", 2 bus messages, 2 pushes (JSON text).
      assert.equal(
        after.value('rt_bytes_in_total', { door }) - before.value('rt_bytes_in_total', { door }),
        3 + '"one""two"'.length + '"j1""j2"'.length,
      );
      assert.ok(after.value('rt_bytes_out_total', { door }) - before.value('rt_bytes_out_total', { door }) > 0);
      // Other doors saw nothing.
      for (const other of ['sse', 'socket.io', 'sse-plain', 'raw-ws'].filter((d) => d !== door))
        assert.equal(after.value('rt_connections_opened_total', { door: other }), 0, other);

      // Every client leaves: the gauges go back to 0.
      for (const client of [sub, pub, puller, pusher]) client.close();
      await viaProxy[Symbol.asyncDispose]();
      await c[Symbol.asyncDispose]();
      const end = await scrapeUntil(
        metricsUrl,
        (s) =>
          s.value('rt_connections', { door, transport: label }) === 0 &&
          s.value('rt_connections_closed_total', { door }) - before.value('rt_connections_closed_total', { door }) ===
            opens,
        'every connection closed',
      );
      assert.equal(end.value('rt_subscriptions'), 0);
      assert.equal(end.value('rt_bus_joins'), 0);
      assert.equal(end.value('rt_pullers'), 0);
      assert.ok(opens >= 7, `the clients opened ${opens} sessions`);
    });
  });
}

describe('metrics', () => {
  it('doors without the SDK: raw WebSocket, plain SSE, Mercure and HTTP publish are counted under their door', async () => {
    await using b = await startBroker({ metrics: { token: TOKEN }, mercure: true });
    const url = `${b.url}/rt/metrics`;
    const before = await scrape(url, TOKEN);
    const raw = new WebSocket(`${b.url.replace(/^http/, 'ws')}/sub/doors`);
    const rawGot = new Collector<string>();
    raw.on('message', (data: Buffer) => rawGot.push(data.toString('utf8')));
    await deadline(new Promise((resolve) => raw.once('open', resolve)), 10_000, 'the raw socket to open');
    await using plain = await readSse(`${b.url}/rt/sse?topic=doors`);
    await using mercure = await readSse(`${b.url}/.well-known/mercure?topic=${encodeURIComponent('doors')}`);
    assert.equal(plain.response.status, 200);
    assert.equal(mercure.response.status, 200);
    await scrapeUntil(
      url,
      (s) =>
        s.value('rt_subscriptions') === 2 && s.value('rt_connections', { door: 'mercure', transport: 'sse' }) === 1,
      'the raw and plain SSE subscriptions and the Mercure subscriber',
    );
    for (const data of ['d1', 'd2']) {
      const res = await fetch(`${b.url}/rt/publish?topic=doors`, { method: 'POST', body: data });
      assert.equal(res.status, 200);
    }
    await rawGot.until(2);
    const after = await scrapeUntil(
      url,
      (s) =>
        s.value('rt_messages_delivered_total', { door: 'sse-plain', kind: 'pubsub' }) -
          before.value('rt_messages_delivered_total', { door: 'sse-plain', kind: 'pubsub' }) ===
        2,
      'both messages written to the plain SSE stream',
    );
    assert.deepEqual(rawGot.items, ['d1', 'd2']);
    assert.deepEqual(
      deltas(before, after, [
        ['rt_messages_published_total'],
        ['rt_messages_delivered_total', { door: 'raw-ws', kind: 'pubsub' }],
        ['rt_connections_opened_total', { door: 'raw-ws' }],
        ['rt_connections_opened_total', { door: 'sse-plain' }],
      ]),
      {
        rt_messages_published_total: 2,
        'rt_messages_delivered_total{"door":"raw-ws","kind":"pubsub"}': 2,
        'rt_connections_opened_total{"door":"raw-ws"}': 1,
        'rt_connections_opened_total{"door":"sse-plain"}': 1,
      },
    );
    assert.equal(after.value('rt_connections', { door: 'raw-ws', transport: 'raw' }), 1);
    assert.equal(after.value('rt_connections', { door: 'sse-plain', transport: 'sse' }), 1);
    assert.equal(after.value('rt_connections', { door: 'mercure', transport: 'sse' }), 1);
    raw.close();
  });

  it('refusals are counted by reason', async () => {
    await using b = await startBroker({
      metrics: { token: TOKEN },
      jwt: { key: 'a-secret-key-of-32-bytes-or-more!!' },
    });
    await using c = clients(b.url, 'websocket');
    const refused = c.make({ reconnect: false });
    await scrapeUntil(
      `${b.url}/rt/metrics`,
      (s) => s.value('rt_auth_failures_total', { reason: 'token_required' }) >= 1,
      'the refused connection counted',
    );
    refused.close();
    const res = await fetch(`${b.url}/rt/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer not-a-jwt' },
      body: JSON.stringify({ topic: 't', data: 1 }),
    });
    assert.equal(res.status, 401);
    const s = await scrape(`${b.url}/rt/metrics`, TOKEN);
    assert.equal(s.value('rt_auth_failures_total', { reason: 'token_required' }), 1);
    assert.equal(s.value('rt_auth_failures_total', { reason: 'token_invalid' }), 1);
    assert.equal(s.value('rt_auth_failures_total', { reason: 'origin' }), 0);
  });

  it('jobs nacked, handed out again and expired are counted exactly', async () => {
    await using b = await startBroker({ metrics: { token: TOKEN }, limits: { pushTtlMs: 300 } });
    await using c = clients(b.url, 'websocket');
    const url = `${b.url}/rt/metrics`;
    const before = await scrape(url, TOKEN);
    // One job nobody pulls: it expires after pushTtlMs.
    await c.make().topic<string>('idle').push('late');
    // One job whose puller fails it once (nack), then takes it again and acknowledges it.
    const attempts = new Collector<number>();
    const worker = c.make();
    await worker.topic<string>('flaky').pull((_job, meta) => {
      attempts.push(meta.attempt ?? 1);
      if ((meta.attempt ?? 1) === 1) throw new Error('fails the first time');
    }).ready;
    await c.make().topic<string>('flaky').push('once');
    await attempts.until(2);
    const after = await scrapeUntil(
      url,
      (s) =>
        s.value('rt_jobs_expired_total') - before.value('rt_jobs_expired_total') === 1 &&
        s.value('rt_jobs_acked_total') - before.value('rt_jobs_acked_total') === 1,
      'the expired job and the ack counted',
    );
    assert.deepEqual(attempts.items, [1, 2]);
    assert.deepEqual(
      deltas(before, after, [
        ['rt_jobs_pushed_total'],
        ['rt_jobs_nacked_total'],
        ['rt_jobs_redelivered_total'],
        ['rt_jobs_acked_total'],
        ['rt_jobs_expired_total'],
      ]),
      {
        rt_jobs_pushed_total: 2,
        rt_jobs_nacked_total: 1,
        rt_jobs_redelivered_total: 1,
        rt_jobs_acked_total: 1,
        rt_jobs_expired_total: 1,
      },
    );
    assert.equal(after.value('rt_queue_depth'), 0);
  });

  it('messages a subscription pace skipped are counted as dropped for pace, as many as its messages said', async () => {
    await using b = await startBroker({ metrics: { token: TOKEN } });
    await using c = clients(b.url, 'websocket');
    const url = `${b.url}/rt/metrics`;
    const before = await scrape(url, TOKEN);
    const got: { n: number; skipped: number }[] = [];
    await c
      .make()
      .topic<number>('ticks')
      .subscribe((n, meta) => got.push({ n, skipped: meta.skipped ?? 0 }), { maxRate: 2 }).ready;
    for (let n = 1; n <= 20; n++) await b.broker.publish('ticks', n);
    // maxRate alone keeps the newest of each interval: the last one arrives, carrying the rest.
    await condition(() => got.at(-1)?.n === 20, 10_000, 'the last tick');
    const skipped = got.reduce((sum, m) => sum + m.skipped, 0);
    assert.ok(skipped > 0, JSON.stringify(got));
    assert.equal(got.length + skipped, 20);
    const pace = (s: Scrape): number =>
      s.value('rt_messages_dropped_total', { reason: 'pace' }) -
      before.value('rt_messages_dropped_total', { reason: 'pace' });
    const after = await scrapeUntil(url, (s) => pace(s) >= skipped, 'the skipped messages counted');
    assert.equal(pace(after), skipped);
  });

  it('label sets stay bounded with 10,000 topics', async () => {
    await using b = await startBroker({ metrics: { token: TOKEN }, limits: { maxSubscriptions: 10_000 } });
    await using c = clients(b.url, 'websocket');
    const client = c.make();
    const count = (s: Scrape): number =>
      [...s.families.values()].reduce((sum, family) => sum + family.metrics.length, 0);
    const before = await scrape(`${b.url}/rt/metrics`, TOKEN);
    const topics = Array.from({ length: 10_000 }, (_, i) => `many/t${i}`);
    await Promise.all(topics.map((t) => client.topic(t).subscribe(() => undefined).ready));
    for (const t of topics.slice(0, 100)) await b.broker.publish(t, 1);
    const after = await scrape(`${b.url}/rt/metrics`, TOKEN);
    assert.equal(after.value('rt_subscriptions'), 10_000);
    assert.equal(after.value('rt_topics'), 10_000);
    // The same series as before, plus none per topic (histogram and process series may add a handful).
    assert.ok(count(after) - count(before) < 20, `series grew from ${count(before)} to ${count(after)}`);
    assert.ok(!after.text.includes('many/t'), 'no topic name in any label');
  });

  it('off by default; refused without the token; on an address of its own when asked', async () => {
    {
      await using b = await startBroker();
      assert.equal((await fetch(`${b.url}/rt/metrics`)).status, 404);
    }
    {
      await using b = await startBroker({ metrics: { token: TOKEN } });
      const none = await fetch(`${b.url}/rt/metrics`);
      assert.equal(none.status, 401);
      assert.equal((await fetch(`${b.url}/rt/metrics`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
      assert.equal((await scrape(`${b.url}/rt/metrics`, TOKEN)).value('rt_frames_in_total'), 0);
    }
    {
      const port = await freePort();
      await using b = await startBroker({ mode: 'production', metrics: { listen: `http://127.0.0.1:${port}` } });
      assert.equal((await fetch(`${b.url}/rt/metrics`)).status, 404);
      const s = await scrape(`http://127.0.0.1:${port}/metrics`);
      assert.equal(s.value('rt_engine_up', { engine: 'memory' }), 1);
      assert.ok(s.families.has('rt_nodejs_eventloop_lag_seconds'), 'event-loop lag from the defaults');
      assert.ok(s.families.has('rt_process_cpu_seconds_total'), 'process metrics from the defaults');
    }
    assert.throws(
      () => createBroker({ mode: 'production', metrics: true, logger: { level: 'silent' } }),
      /metrics need a token/,
    );
    const refused = (options: Parameters<typeof createBroker>[0], message: RegExp): void => {
      assert.throws(() => createBroker({ logger: { level: 'silent' }, ...options }), message);
    };
    refused({ metrics: { token: 'short' } }, /metrics\.token must be a string of at least 8 characters/);
    refused({ metrics: { listen: '127.0.0.1' } }, /metrics\.listen must be an address with a port/);
    refused({ admin: { token: 'short' } }, /admin\.token must be a string of at least 8 characters/);
    refused({ mode: 'production', admin: true }, /the admin page needs a token/);
  });

  it('the Grafana dashboard queries only metrics the broker exposes', async () => {
    const dashboard = JSON.parse(readFileSync(join(ROOT, 'grafana', 'rt-broker.json'), 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    await using b = await startBroker({ metrics: { token: TOKEN } });
    const s = await scrape(`${b.url}/rt/metrics`, TOKEN);
    const used = new Set<string>();
    for (const panel of dashboard.panels)
      for (const target of panel.targets)
        for (const name of target.expr.match(/\brt_[a-z0-9_]+/g) ?? []) used.add(name.replace(/_bucket$/, ''));
    assert.ok(used.size >= 20, `the dashboard uses ${used.size} metrics`);
    for (const name of used)
      assert.ok(s.families.has(name), `the dashboard queries ${name}, which the broker does not expose`);
  });
});
