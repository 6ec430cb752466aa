/**
 * The scenarios: each starts its system's server fresh, drives it from separate
 * load-generator processes, and returns figures. Throughput counts what subscribers or
 * pullers actually received, over the time from the first publish to the last delivery
 * (a backlog drained after publishing stopped counts against the system).
 */
import { Histogram, type Percentiles } from './lib/histogram.ts';
import { type Proc, type ServerProc, closeWorkers, startServer, startWorker } from './lib/proc.ts';
import type { System } from './systems.ts';

/** Run lengths and sizes. */
export interface Settings {
  quick: boolean;
  /** How long each measured phase publishes (ms). */
  durationMs: number;
  /** Fan-out subscriber counts. */
  fanout: number[];
  payloads: number[];
  hierarchySubscribers: number;
  pullers: number;
  idleConnections: number;
  /** Load-generator processes holding subscribers. */
  workers: number;
  /** Publishes (or pushes) a publisher keeps open. */
  window: number;
  /** Deliveries a second of the fixed-rate fan-out phase (publishes a second = this / subscribers). */
  pacedDeliveries: number;
  /** Length of one round of round trips (ms), and how many rounds (interleaved between systems; the median is kept). */
  roundTripMs: number;
  roundTripRounds: number;
  /** Round trips made before each measured round, not counted (ms). */
  roundTripWarmMs: number;
}

/** One measured figure set of one system in one scenario. */
export interface Result {
  system: string;
  scenario: string;
  /** Short label of the scenario's parameters, e.g. `S=1000 1024 B`. */
  case: string;
  metrics: Record<string, number>;
  note?: string;
}

interface Ctx {
  system: System;
  server: ServerProc;
  settings: Settings;
}

async function subscribers(ctx: Ctx, n: number, topics: string[]): Promise<{ workers: Proc[]; ms: number }> {
  const k = Math.min(ctx.settings.workers, n);
  const workers = await Promise.all(
    Array.from({ length: k }, (_, i) =>
      // With two nodes (the Redis scenarios), subscribers are on the second, the publisher on the first.
      startWorker(ctx.system.adapter, ctx.server.url2 ?? ctx.server.url, ctx.system.transport, `subscribers ${i}`),
    ),
  );
  const t0 = performance.now();
  let first = 0;
  await Promise.all(
    workers.map((w, i) => {
      const count = Math.floor(n / k) + (i < n % k ? 1 : 0);
      const p = w.ask({ cmd: 'subscribe', n: count, topics, first }, 180_000);
      first += count;
      return p;
    }),
  );
  return { workers, ms: performance.now() - t0 };
}

interface Report {
  received: number;
  lastUs: number;
  cpuUs: number;
  hist: { counts: number[]; maxUs: number };
}

/**
 * How long deliveries may pause before the rest counts as not delivered: a long-polling
 * subscriber's next poll over 1,000 connections on a loaded 2-core machine can come more than
 * a second after its last (1 s here counted such late messages as undelivered, and a later
 * phase then counted them as its own).
 */
const QUIET_MS = 3000;

/** Waits until `expected` deliveries arrived, or nothing arrived for {@link QUIET_MS} (bounded). */
async function drain(workers: Proc[], expected: number): Promise<void> {
  let last = -1;
  let still = 0;
  for (let waited = 0; waited < 30_000; waited += 100) {
    const counts = await Promise.all(workers.map((w) => w.ask<{ received: number }>({ cmd: 'count' })));
    const total = counts.reduce((a, c) => a + c.received, 0);
    if (total >= expected) return;
    still = total === last ? still + 100 : 0;
    if (still >= QUIET_MS) return;
    last = total;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Publishes from one client while `subs` receive; returns delivered msgs/s and latency. As
 * fast as accepted, or `rate` publishes a second.
 */
async function measurePublish(
  ctx: Ctx,
  subs: Proc[],
  topics: string[],
  size: number,
  reach: (topic: string) => number,
  rate?: number,
): Promise<Record<string, number>> {
  const publisher = await startWorker(ctx.system.adapter, ctx.server.url, ctx.system.transport, 'publisher');
  await Promise.all(subs.map((w) => w.ask({ cmd: 'reset' })));
  const cpu0 = await serverCpu(ctx);
  const redis0 = await redisUse(ctx);
  try {
    const r = await publisher.ask<{ sent: number; failed: number; startUs: number; perTopic: Record<string, number> }>(
      {
        cmd: 'publish',
        topics,
        size,
        durationMs: ctx.settings.durationMs,
        window: ctx.settings.window,
        ...(rate ? { rate } : {}),
      },
      ctx.settings.durationMs + 60_000,
    );
    let expected = 0;
    for (const [topic, n] of Object.entries(r.perTopic)) expected += n * reach(topic);
    expected = Math.round(expected * ((r.sent - r.failed) / Math.max(1, r.sent)));
    await drain(subs, expected);
    const serverUs = (await serverCpu(ctx)) - cpu0;
    const redis1 = await redisUse(ctx);
    const reports = await Promise.all(subs.map((w) => w.ask<Report>({ cmd: 'report' })));
    const hist = new Histogram();
    let delivered = 0;
    let lastUs = 0;
    let clientUs = 0;
    for (const rep of reports) {
      hist.merge(rep.hist);
      delivered += rep.received;
      lastUs = Math.max(lastUs, rep.lastUs);
      clientUs += rep.cpuUs;
    }
    const seconds = Math.max(1e-6, (lastUs - r.startUs) / 1e6);
    const perMsg = (us: number): number => round(us / Math.max(1, delivered), 2);
    return {
      msgsPerSec: Math.round(delivered / seconds),
      ...latency(hist.percentiles()),
      published: r.sent,
      failed: r.failed,
      deliveredPct: round((100 * delivered) / Math.max(1, expected), 2),
      serverCpuUsPerMsg: perMsg(serverUs),
      clientCpuUsPerMsg: perMsg(clientUs),
      ...(redis0.calls >= 0
        ? { redisCmdsPerPublish: round((redis1.calls - redis0.calls) / Math.max(1, r.sent), 2) }
        : {}),
      ...(redis0.cpuUs >= 0
        ? { redisCpuUsPerPublish: round((redis1.cpuUs - redis0.cpuUs) / Math.max(1, r.sent), 1) }
        : {}),
    };
  } finally {
    await closeWorkers([publisher]);
  }
}

function latency(p: Percentiles): Record<string, number> {
  return { p50ms: p.p50, p99ms: p.p99, maxMs: p.max };
}

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;

async function serverCpu(ctx: Ctx): Promise<number> {
  return (await ctx.server.proc.ask<{ cpuUs: number }>({ cmd: 'cpu' })).cpuUs;
}

/** Commands the system's Redis has executed so far and its CPU time in µs (-1: the system has no Redis, or no /proc). */
async function redisUse(ctx: Ctx): Promise<{ calls: number; cpuUs: number }> {
  const r = await ctx.server.proc.ask<{ calls: number; cpuUs?: number }>({ cmd: 'redis' });
  return { calls: r.calls, cpuUs: r.cpuUs ?? -1 };
}

async function withServer<T>(system: System, settings: Settings, run: (ctx: Ctx) => Promise<T>): Promise<T> {
  const server = await startServer(system.server);
  try {
    return await run({ system, server, settings });
  } finally {
    await server.proc.stop();
  }
}

/** 1 publisher to S subscribers of one topic, for each payload size. */
export async function fanout(system: System, settings: Settings, s: number): Promise<Result[]> {
  return withServer(system, settings, async (ctx) => {
    const { workers, ms } = await subscribers(ctx, s, ['fan']);
    try {
      const results: Result[] = [];
      for (const size of settings.payloads) {
        const metrics = await measurePublish(ctx, workers, ['fan'], size, () => s);
        results.push({
          system: system.name,
          scenario: 'fan-out',
          case: `S=${s} ${size} B`,
          metrics: { ...metrics, connectMs: Math.round(ms) },
        });
      }
      // Latency without queueing: a rate every system carries (saturated latency mostly measures the backlog).
      const rate = Math.max(1, Math.round(settings.pacedDeliveries / s));
      const size = settings.payloads[0]!;
      const metrics = await measurePublish(ctx, workers, ['fan'], size, () => s, rate);
      results.push({ system: system.name, scenario: 'fan-out', case: `S=${s} ${size} B, ${rate}/s`, metrics });
      return results;
    } finally {
      await closeWorkers(workers);
    }
  });
}

/** The topic tree `h/a/b/c` with 4 children per node, 3 levels: 84 topics, 64 leaves. */
function tree(): { nodes: string[]; leaves: string[] } {
  const nodes: string[] = [];
  const leaves: string[] = [];
  for (let a = 0; a < 4; a++) {
    nodes.push(`h/${a}`);
    for (let b = 0; b < 4; b++) {
      nodes.push(`h/${a}/${b}`);
      for (let c = 0; c < 4; c++) {
        nodes.push(`h/${a}/${b}/${c}`);
        leaves.push(`h/${a}/${b}/${c}`);
      }
    }
  }
  return { nodes, leaves };
}

/** Subscribers spread over every node of a topic tree; publishes go to the leaves in turn. */
export async function hierarchy(system: System, settings: Settings): Promise<Result[]> {
  const { nodes, leaves } = tree();
  const n = settings.hierarchySubscribers;
  const subsOf = new Map<string, number>();
  for (let i = 0; i < n; i++) subsOf.set(nodes[i % nodes.length]!, (subsOf.get(nodes[i % nodes.length]!) ?? 0) + 1);
  const reach = (leaf: string): number => {
    const parts = leaf.split('/');
    let total = 0;
    for (let i = 2; i <= parts.length; i++) total += subsOf.get(parts.slice(0, i).join('/')) ?? 0;
    return total;
  };
  return withServer(system, settings, async (ctx) => {
    const { workers } = await subscribers(ctx, n, nodes);
    try {
      const size = settings.payloads[0]!;
      const metrics = await measurePublish(ctx, workers, leaves, size, reach);
      return [{ system: system.name, scenario: 'hierarchy', case: `${n} subs on 84 topics, ${size} B`, metrics }];
    } finally {
      await closeWorkers(workers);
    }
  });
}

/** N pullers take work items (with acknowledgements) from one pusher, closed loop. */
export async function pushPull(system: System, settings: Settings): Promise<Result[]> {
  return withServer(system, settings, async (ctx) => {
    const w = await startWorker(system.adapter, ctx.server.url, system.transport, 'work queue');
    try {
      const r = await w.ask<Report & { sent: number; failed: number; startUs: number; unsupported?: boolean }>(
        {
          cmd: 'workqueue',
          pullers: settings.pullers,
          prefetch: 8,
          size: 64,
          durationMs: settings.durationMs,
          window: settings.window * 4,
        },
        settings.durationMs + 60_000,
      );
      if (r.unsupported) return [];
      const hist = new Histogram();
      hist.merge(r.hist);
      const seconds = Math.max(1e-6, (r.lastUs - r.startUs) / 1e6);
      return [
        {
          system: system.name,
          scenario: 'push/pull',
          case: `${settings.pullers} pullers, prefetch 8`,
          metrics: {
            itemsPerSec: Math.round(r.received / seconds),
            ...latency(hist.percentiles()),
            pushed: r.sent,
            failed: r.failed,
          },
        },
      ];
    } finally {
      await closeWorkers([w]);
    }
  });
}

/**
 * One client, one request at a time: a call answered by the server (`64 B`), and a publish
 * until it is back on the client's own subscription (`64 B publish→self`). Each starts with
 * `roundTripWarmMs` of round trips not measured, the same for every system.
 */
export async function roundTrip(system: System, settings: Settings): Promise<Result[]> {
  return withServer(system, settings, async (ctx) => {
    const results: Result[] = [];
    for (const mode of ['call', 'publish'] as const) {
      const w = await startWorker(system.adapter, ctx.server.url, system.transport, 'round trip');
      try {
        type Trips = { n: number; elapsedUs: number; cpuUs: number; hist: Report['hist'] };
        // Warm-up (JIT compilation on both sides is not what is compared), then the measured round.
        await w.ask<Trips>({ cmd: 'echo', size: 64, durationMs: settings.roundTripWarmMs, mode }, 60_000);
        const cpu0 = await serverCpu(ctx);
        const r = await w.ask<Trips>(
          { cmd: 'echo', size: 64, durationMs: settings.roundTripMs, mode },
          settings.roundTripMs + 60_000,
        );
        const serverUs = (await serverCpu(ctx)) - cpu0;
        const hist = new Histogram();
        hist.merge(r.hist);
        // CPU time per request is steadier than latency on a shared machine: it does not count waiting.
        results.push({
          system: system.name,
          scenario: 'round trip',
          case: mode === 'call' ? '64 B' : '64 B publish→self',
          metrics: {
            perSec: Math.round(r.n / (r.elapsedUs / 1e6)),
            ...latency(hist.percentiles()),
            serverCpuUs: round(serverUs / r.n, 1),
            clientCpuUs: round(r.cpuUs / r.n, 1),
          },
        });
      } finally {
        await closeWorkers([w]);
      }
    }
    return results;
  });
}

/** Opens idle connections, each subscribed to its own topic; broker memory per connection. */
export async function idle(system: System, settings: Settings): Promise<Result[]> {
  return withServer(system, settings, async (ctx) => {
    const n = settings.idleConnections;
    const before = await ctx.server.proc.ask<{ mem: { rss: number; heapUsed: number; external: number } }>({
      cmd: 'mem',
    });
    const topics = Array.from({ length: n }, (_, i) => `idle/${i}`);
    const cpu0 = await serverCpu(ctx);
    const { workers, ms } = await subscribers(ctx, n, topics);
    const openCpuUs = (await serverCpu(ctx)) - cpu0;
    try {
      const after = await ctx.server.proc.ask<{ mem: { rss: number; heapUsed: number; external: number } }>({
        cmd: 'mem',
      });
      const heap = after.mem.heapUsed + after.mem.external - before.mem.heapUsed - before.mem.external;
      return [
        {
          system: system.name,
          scenario: 'idle',
          case: `${n} connections`,
          metrics: {
            bytesPerConn: Math.round(heap / n),
            rssPerConn: Math.round((after.mem.rss - before.mem.rss) / n),
            openMs: Math.round(ms),
            opensPerSec: Math.round(n / Math.max(1e-6, ms / 1000)),
            serverCpuUsPerOpen: Math.round(openCpuUs / n),
          },
        },
      ];
    } finally {
      await closeWorkers(workers);
    }
  });
}
