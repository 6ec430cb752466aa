/**
 * Turns results into the markdown report: the machine, one table per comparison (each rt
 * figure beside its baseline's, with the ratio), and the targets met or missed.
 */
import type { Machine } from './machine.ts';
import type { Result, Settings } from '../scenarios.ts';
import type { Comparison } from '../systems.ts';

/** Metrics shown, in order, with their unit and whether more is better. */
const METRICS: Record<string, { label: string; higherIsBetter: boolean }> = {
  msgsPerSec: { label: 'delivered msgs/s', higherIsBetter: true },
  itemsPerSec: { label: 'items/s (acked)', higherIsBetter: true },
  perSec: { label: 'requests/s', higherIsBetter: true },
  p50ms: { label: 'p50 ms', higherIsBetter: false },
  p99ms: { label: 'p99 ms', higherIsBetter: false },
  maxMs: { label: 'max ms', higherIsBetter: false },
  serverCpuUsPerMsg: { label: 'server CPU µs/delivery', higherIsBetter: false },
  clientCpuUsPerMsg: { label: 'subscribers CPU µs/delivery', higherIsBetter: false },
  serverCpuUs: { label: 'server CPU µs/request', higherIsBetter: false },
  clientCpuUs: { label: 'client CPU µs/request', higherIsBetter: false },
  bytesPerConn: { label: 'heap+external bytes/conn', higherIsBetter: false },
  rssPerConn: { label: 'RSS bytes/conn', higherIsBetter: false },
  openMs: { label: 'ms to open all', higherIsBetter: false },
  opensPerSec: { label: 'connections opened + subscribed/s', higherIsBetter: true },
  serverCpuUsPerOpen: { label: 'server CPU µs per open + subscribe', higherIsBetter: false },
  redisCmdsPerPublish: { label: 'Redis commands per publish', higherIsBetter: false },
  redisCpuUsPerPublish: { label: 'Redis CPU µs per publish', higherIsBetter: false },
};

/** A target: the rt figure divided by the baseline's must be within `limit` (at least, or at most). */
interface Target {
  rt: string;
  baseline: string;
  scenario: string;
  metric: string;
  limit: number;
  atLeast: boolean;
  what: string;
}

const TARGETS: Target[] = [
  {
    rt: 'rt/websocket',
    baseline: 'socket.io/websocket',
    scenario: 'fan-out',
    metric: 'msgsPerSec',
    limit: 1,
    atLeast: true,
    what: 'fan-out throughput >= 1.0x socket.io (floor)',
  },
  {
    rt: 'rt/websocket',
    baseline: 'ws',
    scenario: 'fan-out',
    metric: 'msgsPerSec',
    limit: 1,
    atLeast: true,
    what: 'fan-out throughput >= 1.0x ws (aim)',
  },
  {
    rt: 'rt/websocket',
    baseline: 'socket.io/websocket',
    scenario: 'fan-out',
    metric: 'p99ms',
    limit: 1,
    atLeast: false,
    what: 'fan-out p99 <= socket.io',
  },
  {
    rt: 'rt/websocket',
    baseline: 'socket.io/websocket',
    scenario: 'round trip',
    metric: 'p50ms',
    limit: 1.2,
    atLeast: false,
    what: 'round-trip p50 <= 1.2x socket.io',
  },
  {
    rt: 'rt/websocket',
    baseline: 'socket.io/websocket',
    scenario: 'idle',
    metric: 'bytesPerConn',
    limit: 1,
    atLeast: false,
    what: 'memory per idle connection <= 1.0x socket.io',
  },
  {
    rt: 'rt/sse',
    baseline: 'sse',
    scenario: 'fan-out',
    metric: 'msgsPerSec',
    limit: 1,
    atLeast: true,
    what: 'SSE fan-out >= 1.0x minimal SSE server',
  },
  {
    rt: 'rt/polling',
    baseline: 'socket.io/polling',
    scenario: 'fan-out',
    metric: 'msgsPerSec',
    limit: 1,
    atLeast: true,
    what: 'long-polling fan-out >= 1.0x socket.io polling',
  },
  {
    rt: 'rt/polling',
    baseline: 'rt/websocket',
    scenario: 'fan-out',
    metric: 'serverCpuUsPerMsg',
    limit: 3,
    atLeast: false,
    what: 'long-polling broker CPU per delivery <= 3x rt over WebSocket',
  },
  {
    rt: 'rt/websocket+metrics',
    baseline: 'rt/websocket',
    scenario: 'fan-out',
    metric: 'msgsPerSec',
    limit: 0.95,
    atLeast: true,
    what: 'metrics on cost < 5% fan-out throughput',
  },
  {
    // The broker's own cost, steadier on a shared machine than throughput (which the
    // subscriber processes, on the same cores, bound as much as the broker).
    rt: 'rt/websocket+metrics',
    baseline: 'rt/websocket',
    scenario: 'fan-out',
    metric: 'serverCpuUsPerMsg',
    limit: 1.05,
    atLeast: false,
    what: 'metrics on cost < 5% broker CPU per delivery',
  },
];

const find = (results: Result[], system: string, scenario: string, kase: string): Result | undefined =>
  results.find((r) => r.system === system && r.scenario === scenario && r.case === kase);

function fmt(x: number | undefined): string {
  if (x === undefined || Number.isNaN(x)) return '–';
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  if (Math.abs(x) >= 10) return x.toFixed(1);
  if (Math.abs(x) >= 1 || x === 0) return x.toFixed(2);
  return String(Number(x.toPrecision(2)));
}

function ratio(rt: number | undefined, base: number | undefined): number | undefined {
  if (rt === undefined || base === undefined || base === 0) return undefined;
  return rt / base;
}

function comparisonTable(results: Result[], c: Comparison): string | undefined {
  const rows: string[] = [];
  const cases = results.filter((r) => r.system === c.rt);
  for (const r of cases) {
    const base = find(results, c.baseline, r.scenario, r.case);
    if (!base) continue;
    for (const [key, def] of Object.entries(METRICS)) {
      if (!(key in r.metrics)) continue;
      const q = ratio(r.metrics[key], base.metrics[key]);
      const good = q === undefined ? '' : (def.higherIsBetter ? q >= 1 : q <= 1) ? '' : ' ⚠';
      rows.push(
        `| ${r.scenario} | ${r.case} | ${def.label} ${def.higherIsBetter ? '↑' : '↓'} | ${fmt(r.metrics[key])} | ${fmt(base.metrics[key])} | ${q === undefined ? '–' : q.toFixed(2) + 'x'}${good} |`,
      );
    }
  }
  if (rows.length === 0) return undefined;
  return [
    `### ${c.title}`,
    '',
    `| scenario | case | metric | ${c.rt} | ${c.baseline} | ratio |`,
    '|---|---|---|--:|--:|--:|',
    ...rows,
  ].join('\n');
}

/** Each target, with every case it covers: met or missed. */
function targetLines(results: Result[]): string[] {
  const lines: string[] = [];
  for (const t of TARGETS) {
    for (const r of results.filter((x) => x.system === t.rt && x.scenario === t.scenario)) {
      const base = find(results, t.baseline, r.scenario, r.case);
      const q = ratio(r.metrics[t.metric], base?.metrics[t.metric]);
      if (q === undefined) continue;
      // Throughput and CPU targets are for publishing as fast as accepted, not for the
      // fixed-rate phase (whose CPU per delivery is mostly timers and idle wake-ups).
      if ((t.metric === 'msgsPerSec' || t.metric === 'serverCpuUsPerMsg') && r.case.includes('/s')) continue;
      const met = t.atLeast ? q >= t.limit : q <= t.limit;
      lines.push(`- ${met ? 'met' : '**missed**'}: ${t.what}, ${r.case}: ${q.toFixed(2)}x`);
    }
  }
  return lines;
}

export function markdown(
  machine: Machine,
  settings: Settings,
  results: Result[],
  comparisons: Comparison[],
  skipped: string[],
): string {
  const all = [
    '| system | scenario | case | figures |',
    '|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.system} | ${r.scenario} | ${r.case} | ${Object.entries(r.metrics)
          .map(([k, v]) => `${k} ${fmt(v)}`)
          .join(', ')} |`,
    ),
  ].join('\n');
  return [
    `# rt benchmark — ${machine.date.slice(0, 16).replace('T', ' ')} UTC${settings.quick ? ' (quick run: indicative only)' : ''}`,
    '',
    `Machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.os}; load average ${machine.loadAtStart} at start.`,
    `Every system runs in its own server process; clients run in ${settings.workers} subscriber processes plus one publisher process, all on loopback, all sharing the same cores.`,
    `Each phase publishes for ${settings.durationMs} ms with ${settings.window} publishes open; throughput counts deliveries from the first publish to the last delivery. Round trips: ${settings.roundTripRounds} rounds of ${settings.roundTripMs} ms per system, interleaved, median kept. Ratio = rt / baseline (↑: higher is better, ↓: lower is better; ⚠ marks the worse side).`,
    '',
    ...comparisons
      .map((c) => comparisonTable(results, c))
      .filter((t): t is string => t !== undefined)
      .flatMap((t) => [t, '']),
    '### Targets',
    '',
    ...targetLines(results),
    '',
    '### Every figure',
    '',
    all,
    ...(skipped.length ? ['', 'Not measured:', '', ...skipped.map((s) => `- ${s}`)] : []),
    '',
  ].join('\n');
}
