/**
 * The chaos harness (issue 14): broker processes on one Redis of the test's own, clients on
 * every transport behind TCP proxies, numbered publishers and a numbered pusher, and faults
 * (connection cuts, broker SIGKILL + restart, Redis restart with its data and without it).
 * Afterwards every subscriber's log is checked: each accepted message received once and in
 * order, or a `gap` event between the messages around each hole; a hole without one is a
 * silent hole. Jobs: every accepted job completed at least once, none stuck. Used by the
 * chaos test (bounded, in `npm test`) and by the soak (`npm run soak`).
 */
import { randomBytes } from 'node:crypto';
import type { Client, TransportName } from '@rt/client';
import { BrokerProcess, TRANSPORTS, type TestClients, clients } from './index.ts';
import { RedisServer } from './redis-server.ts';
import { type TcpProxy, startProxy } from './tcp-proxy.ts';

/** What a chaos run does. */
export interface ChaosOptions {
  /** Broker processes (at least 3). */
  nodes?: number;
  /** Subscribers per transport, spread over the nodes. */
  subscribersPerTransport?: number;
  /** Times the fault cycle runs (each cycle: cut, broker kill, Redis restart with data, cut, Redis restart empty, broker kill). */
  cycles?: number;
  /** Normal traffic between two faults, in ms. */
  settleMs?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** One subscriber's accounting. */
export interface SubscriberReport {
  transport: TransportName;
  node: number;
  received: number;
  duplicates: number;
  outOfOrder: number;
  /** Accepted messages not received. */
  missing: number;
  /** Missing messages with a `gap` event between the messages around them. */
  covered: number;
  /** Missing messages without such a gap: the failures. */
  silent: number;
  gaps: number;
  /** The silent holes, as `p<publisher>:<first>-<last>` (for the report). */
  silentRanges: string[];
}

/** What a run measured. */
export interface ChaosReport {
  durationMs: number;
  faults: string[];
  published: { accepted: number; rejected: number };
  subscribers: SubscriberReport[];
  jobs: {
    accepted: number;
    rejected: number;
    completed: number;
    /** Accepted jobs completed more than once. */
    repeated: number;
    /** Accepted jobs never completed by the end (not counting those Redis lost with its data). */
    stuck: number;
    /** Jobs waiting when Redis restarted empty, never completed: lost with Redis's data. */
    lostWithRedis: number;
    /** Longest time from an accepted push to its first completion, in ms. */
    slowestMs: number;
  };
}

type Entry = { p: number; n: number } | { gap: string };

const TOPIC = 'chaos';
const JOBS = 'chaos-jobs';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `check()` holds, polling; throws after `ms` saying `what`. */
async function until(check: () => boolean, ms: number, what: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what()}`);
    await sleep(20);
  }
}

/** Runs the fault cycles against a fresh cluster and returns the accounting (it asserts nothing). */
export async function runChaos(options: ChaosOptions = {}): Promise<ChaosReport> {
  const started = Date.now();
  const log = options.log ?? (() => undefined);
  const nodeCount = Math.max(3, options.nodes ?? 3);
  const perTransport = options.subscribersPerTransport ?? 3;
  const settleMs = options.settleMs ?? 2000;
  const faults: string[] = [];
  const fault = (what: string): void => {
    faults.push(what);
    log(`${((Date.now() - started) / 1000).toFixed(1)} s: ${what}`);
  };

  await using redis = await RedisServer.start({ appendOnly: true });
  const prefix = `rt-chaos:${randomBytes(4).toString('hex')}:`;
  const nodes = await Promise.all(
    Array.from({ length: nodeCount }, () =>
      new BrokerProcess(['--mode', 'production', '--redis', redis.url, '--redis-prefix', prefix]).start(),
    ),
  );
  const proxies: TcpProxy[] = [];
  const pools: TestClients[] = [];
  const everyone: Client[] = [];
  try {
    for (const node of nodes) proxies.push(await startProxy(node.port));
    const pool = (node: number, transport: TransportName): Client => {
      const made = clients(proxies[node]!.url, transport, { requestTimeoutMs: 5000 });
      pools.push(made);
      const client = made.make();
      everyone.push(client);
      client.on('error', ({ error }) => log(`  ${transport} client of node ${node}: ${error.message}`));
      return client;
    };
    const allOpen = (ms = 30_000): Promise<void> =>
      until(
        () => everyone.every((c) => c.state === 'open'),
        ms,
        () => `every client open (${everyone.filter((c) => c.state !== 'open').length} not)`,
      );

    // Subscribers: every transport, spread over the nodes; each logs messages and gaps in arrival order.
    const subscribers: { transport: TransportName; node: number; log: Entry[] }[] = [];
    const subscriberClients: Client[] = [];
    const ready: Promise<unknown>[] = [];
    for (const transport of TRANSPORTS) {
      for (let k = 0; k < perTransport; k++) {
        const node = (k + subscribers.length) % nodeCount;
        const entries: Entry[] = [];
        subscribers.push({ transport, node, log: entries });
        const client = pool(node, transport);
        subscriberClients.push(client);
        const sub = client.topic<{ p: number; n: number }>(TOPIC).subscribe((m) => entries.push({ p: m.p, n: m.n }));
        sub.on('gap', (e) => entries.push({ gap: e.reason }));
        ready.push(sub.ready);
      }
    }
    await Promise.all(ready);

    // Pullers: one per transport, on different nodes; a job is complete when its handler ran.
    const completions = new Map<number, number>();
    const firstDone = new Map<number, number>();
    for (const [i, transport] of TRANSPORTS.entries()) {
      await pool(i % nodeCount, transport)
        .topic<number>(JOBS)
        .pull(async (n) => {
          await sleep(2);
          completions.set(n, (completions.get(n) ?? 0) + 1);
          if (!firstDone.has(n)) firstDone.set(n, Date.now());
        }).ready;
    }

    // Numbered publishers (one per node) and a numbered pusher, until told to stop.
    const accepted: Set<number>[] = nodes.map(() => new Set());
    const pushedAt = new Map<number, number>();
    const lostWithRedis = new Set<number>();
    const inFlightAtWipe: number[] = [];
    let rejected = 0;
    let pushRejected = 0;
    let running = true;
    const publisherClients = nodes.map((_node, p) => pool(p, 'websocket'));
    const publishers = publisherClients.map(async (client, p) => {
      for (let n = 1; running; n++) {
        try {
          await client.topic<{ p: number; n: number }>(`${TOPIC}/p${p}`).publish({ p, n });
          accepted[p]!.add(n);
        } catch {
          rejected++;
        }
        await sleep(15);
      }
    });
    // The job whose push is under way (sent, not answered yet).
    let pushing: number | undefined;
    const pusher = (async () => {
      const client = pool(0, 'websocket');
      for (let n = 1; running; n++) {
        const at = Date.now();
        pushing = n;
        try {
          await client.topic<number>(JOBS).push(n);
          pushedAt.set(n, at);
        } catch {
          pushRejected++;
        }
        pushing = undefined;
        await sleep(40);
      }
    })();

    for (let cycle = 0; cycle < (options.cycles ?? 1); cycle++) {
      const [a, b, c] = [cycle % nodeCount, (cycle + 1) % nodeCount, (cycle + 2) % nodeCount];
      await sleep(settleMs);
      fault(`cut every connection through the proxy of node ${a} (${proxies[a]!.cut()} cut)`);
      await allOpen();
      await sleep(settleMs);
      fault(`SIGKILL node ${b}, restart it`);
      await nodes[b]!.kill('SIGKILL');
      await sleep(300);
      await nodes[b]!.start();
      await allOpen();
      await sleep(settleMs);
      fault('Redis SIGKILLed and restarted with its data (AOF)');
      await redis.kill();
      await sleep(300);
      await redis.restart();
      await sleep(settleMs);
      fault(`cut every connection through the proxies of nodes ${b} and ${c}`);
      proxies[b]!.cut();
      proxies[c]!.cut();
      await allOpen();
      await sleep(settleMs);
      fault('Redis SIGKILLed and restarted empty (no AOF: a new epoch)');
      // Waiting jobs go with Redis's data: they are lost by design (documented), not stuck.
      // So may the job whose push is under way: Redis may have queued it, its answer not back
      // yet (it is counted accepted when the answer comes).
      for (const n of pushedAt.keys()) if (!completions.has(n)) lostWithRedis.add(n);
      const underWay = pushing;
      if (underWay !== undefined) {
        lostWithRedis.add(underWay);
        inFlightAtWipe.push(underWay);
      }
      await redis.killAndWipe();
      await sleep(300);
      await redis.restart();
      await sleep(settleMs);
      fault(`SIGKILL node ${c}, restart it`);
      await nodes[c]!.kill('SIGKILL');
      await sleep(300);
      await nodes[c]!.start();
      await allOpen();
      await sleep(settleMs);
    }
    running = false;
    log('stopping the publishers');
    const faultsEnded = Date.now();
    await Promise.all([...publishers, pusher]);
    log('publishing the last messages');

    // A last accepted message from each publisher, so every hole has a message after it.
    const finals = await Promise.all(
      nodes.map(async (_node, p) => {
        const client = publisherClients[p]!;
        const n = Math.max(0, ...accepted[p]!) + 1_000_000;
        for (let tries = 0; ; tries++) {
          try {
            await client.topic<{ p: number; n: number }>(`${TOPIC}/p${p}`).publish({ p, n });
            accepted[p]!.add(n);
            return n;
          } catch (error) {
            if (tries > 50) throw error;
            await sleep(200);
          }
        }
      }),
    );
    log('waiting for every subscriber to get them');
    const last = (entries: Entry[], p: number): number => {
      for (let i = entries.length - 1; i >= 0; i--) {
        const e = entries[i]!;
        if ('p' in e && e.p === p) return e.n;
      }
      return 0;
    };
    await until(
      () => subscribers.every((s) => finals.every((n, p) => last(s.log, p) >= n)),
      30_000,
      () =>
        `every subscriber to get the last messages (${subscribers.filter((s) => !finals.every((n, p) => last(s.log, p) >= n)).length} have not)`,
    ).catch((error: unknown) => {
      log(String(error));
      for (const [i, s] of subscribers.entries()) {
        if (finals.every((n, p) => last(s.log, p) >= n)) continue;
        const client = subscriberClients[i]!;
        log(
          `  ${s.transport} on node ${s.node}: client ${client.state}, last ${JSON.stringify(s.log.slice(-3))}, ${s.log.length} entries`,
        );
      }
    });
    // A job whose acknowledgement a fault lost comes back at its ack deadline (30 s by default)
    // counted from its delivery: wait past that bound, not just up to it.
    await until(
      () => [...pushedAt.keys()].every((n) => completions.has(n) || lostWithRedis.has(n)),
      40_000,
      () => 'every accepted job to be completed',
    ).catch((error: unknown) => {
      log(String(error));
      const missing = [...pushedAt].filter(([n]) => !completions.has(n) && !lostWithRedis.has(n));
      log(
        `  missing jobs (number, ms from push to the end of the faults): ${JSON.stringify(missing.map(([n, at]) => [n, faultsEnded - at]))}`,
      );
      // Where the missing jobs are in Redis: pending under which consumer (live nodes renew
      // `node:<id>`), waiting in the delayed set, or not read yet.
      const queue = `${prefix}q:${JOBS}`;
      for (const args of [
        ['XPENDING', queue, 'rt'],
        ['XINFO', 'GROUPS', queue],
        ['ZRANGE', `${prefix}qd:${JOBS}`, '0', '20', 'WITHSCORES'],
        ['KEYS', `${prefix}node:*`],
      ]) {
        try {
          log(`  redis ${args.join(' ')}: ${redis.cli(...args).replace(/\n/g, ' ')}`);
        } catch (e) {
          log(`  redis ${args.join(' ')} failed: ${String(e)}`);
        }
      }
    });

    for (const n of inFlightAtWipe)
      log(
        `job ${n} was being pushed when Redis lost its data: ${completions.has(n) ? 'completed' : pushedAt.has(n) ? 'accepted, never completed (lost with Redis)' : 'refused'}`,
      );
    return {
      durationMs: Date.now() - started,
      faults,
      published: { accepted: accepted.reduce((sum, s) => sum + s.size, 0), rejected },
      subscribers: subscribers.map((s) => account(s.transport, s.node, s.log, accepted)),
      jobs: {
        accepted: pushedAt.size,
        rejected: pushRejected,
        completed: [...pushedAt.keys()].filter((n) => completions.has(n)).length,
        repeated: [...pushedAt.keys()].filter((n) => (completions.get(n) ?? 0) > 1).length,
        stuck: [...pushedAt.keys()].filter((n) => !completions.has(n) && !lostWithRedis.has(n)).length,
        lostWithRedis: [...lostWithRedis].filter((n) => pushedAt.has(n) && !completions.has(n)).length,
        slowestMs: Math.max(0, ...[...pushedAt].map(([n, at]) => (firstDone.get(n) ?? at) - at)),
      },
    };
  } finally {
    for (const client of everyone) client.close();
    for (const proxy of proxies) await proxy.close();
    await Promise.all(nodes.map((node) => node.kill('SIGKILL')));
  }
}

/** Checks one subscriber's log against what each publisher had accepted. */
function account(transport: TransportName, node: number, entries: Entry[], accepted: Set<number>[]): SubscriberReport {
  const report: SubscriberReport = {
    transport,
    node,
    received: 0,
    duplicates: 0,
    outOfOrder: 0,
    missing: 0,
    covered: 0,
    silent: 0,
    gaps: entries.filter((e) => 'gap' in e).length,
    silentRanges: [],
  };
  // Index of every gap event in the log, for "is there a gap between these two positions".
  const gapAt = entries.flatMap((e, i) => ('gap' in e ? [i] : []));
  const gapBetween = (from: number, to: number): boolean => gapAt.some((i) => i > from && i < to);
  for (const [p, wanted] of accepted.entries()) {
    const got: { n: number; at: number }[] = [];
    const seen = new Set<number>();
    for (const [at, e] of entries.entries()) {
      if (!('p' in e) || e.p !== p) continue;
      report.received++;
      if (seen.has(e.n)) report.duplicates++;
      else if (got.length > 0 && e.n < got[got.length - 1]!.n) report.outOfOrder++;
      seen.add(e.n);
      got.push({ n: e.n, at });
    }
    for (const n of wanted) {
      if (seen.has(n)) continue;
      report.missing++;
      // The messages received around the hole: the last one before it, the first one after it.
      let before = -1;
      let after = entries.length;
      for (const g of got) {
        if (g.n < n) before = Math.max(before, g.at);
        else if (g.n > n) after = Math.min(after, g.at);
      }
      if (gapBetween(before, after)) report.covered++;
      else {
        report.silent++;
        const range = report.silentRanges.at(-1)?.match(/^p(\d+):(\d+)-(\d+)$/);
        if (range && Number(range[1]) === p && Number(range[3]) === n - 1)
          report.silentRanges[report.silentRanges.length - 1] = `p${p}:${range[2]}-${n}`;
        else report.silentRanges.push(`p${p}:${n}-${n}`);
      }
    }
  }
  return report;
}

/** The report as a table (one row per transport, totals last). */
export function chaosTable(report: ChaosReport): string {
  const rows = [
    [
      'subscribers',
      'transport',
      'received',
      'gap events',
      'missing',
      'covered by gap',
      'silent holes',
      'duplicates',
      'out of order',
    ],
  ];
  const sum = (list: SubscriberReport[], key: keyof SubscriberReport): number =>
    list.reduce((s, r) => s + Number(r[key]), 0);
  for (const transport of [...TRANSPORTS, 'all'] as const) {
    const list = transport === 'all' ? report.subscribers : report.subscribers.filter((s) => s.transport === transport);
    rows.push([
      String(list.length),
      transport,
      ...(['received', 'gaps', 'missing', 'covered', 'silent', 'duplicates', 'outOfOrder'] as const).map((k) =>
        String(sum(list, k)),
      ),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padStart(widths[i]!)).join(' | ')} |`;
  const { jobs, published } = report;
  return [
    line(rows[0]!),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.slice(1).map(line),
    '',
    `publishes: ${published.accepted} accepted, ${published.rejected} refused (unavailable while Redis was down)`,
    `jobs: ${jobs.accepted} accepted, ${jobs.completed} completed, ${jobs.repeated} completed more than once, ${jobs.stuck} stuck, ${jobs.lostWithRedis} lost with Redis's data (restart without AOF), slowest ${jobs.slowestMs} ms; ${jobs.rejected} pushes refused`,
    `faults: ${report.faults.length} in ${(report.durationMs / 1000).toFixed(1)} s`,
  ].join('\n');
}
