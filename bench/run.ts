/**
 * `npm run bench`: measures rt over each transport and, in the same run, the baselines
 * (plain socket.io, plain `ws`, a minimal SSE server), each in its own processes on
 * loopback. Prints the markdown report and writes it, with the JSON, to bench/results/.
 *
 *   npm run bench                      # the full run (within 10 minutes on 2 cores)
 *   npm run bench -- --quick           # short phases, fewer connections (for development)
 *   npm run bench -- --only fan-out,round\ trip --systems rt/websocket,socket.io/websocket --fanout 1000
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeMachine } from './lib/machine.ts';
import { BENCH_DIR, killAll } from './lib/proc.ts';
import { markdown } from './lib/report.ts';
import { type Result, type Settings, fanout, hierarchy, idle, pushPull, roundTrip } from './scenarios.ts';
import { COMPARISONS, SYSTEMS, type Scenario, type System } from './systems.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    systems: { type: 'string' },
    out: { type: 'string' },
    fanout: { type: 'string' },
    'no-save': { type: 'boolean', default: false },
  },
});

const quick = values.quick ?? false;
const settings: Settings = quick
  ? {
      quick,
      durationMs: 1000,
      fanout: [100],
      payloads: [64, 1024],
      hierarchySubscribers: 200,
      pullers: 10,
      idleConnections: 500,
      workers: 2,
      window: 16,
      roundTripMs: 1000,
      roundTripRounds: 1,
      roundTripWarmMs: 500,
      pacedDeliveries: 10_000,
    }
  : {
      quick,
      durationMs: 3000,
      fanout: [100, 1000],
      payloads: [64, 1024],
      hierarchySubscribers: 400,
      pullers: 10,
      idleConnections: 2000,
      workers: 2,
      window: 16,
      roundTripMs: 1500,
      roundTripRounds: 3,
      roundTripWarmMs: 500,
      pacedDeliveries: 10_000,
    };

if (values.fanout) settings.fanout = values.fanout.split(',').map(Number);

const only = values.only?.split(',').map((s) => s.trim()) as Scenario[] | undefined;
const wantedSystems = values.systems?.split(',').map((s) => s.trim());
const systems = SYSTEMS.filter((s) => !wantedSystems || wantedSystems.includes(s.name));

/**
 * The whole run is bounded: no new measurement starts after BUDGET_MS (what is left is
 * reported as not measured), and past LIMIT_MS every process is killed and the run fails.
 */
const BUDGET_MS = 13 * 60_000;
const LIMIT_MS = 15 * 60_000;
const guard = setTimeout(() => {
  console.error(`bench: still running after ${LIMIT_MS / 60_000} minutes; stopping`);
  killAll();
  process.exit(2);
}, LIMIT_MS);
guard.unref();

type Run = [Scenario, (s: System) => Promise<Result[]>, rounds?: number];
const SCENARIOS: Run[] = [
  ...settings.fanout.map((n): Run => ['fan-out', (s) => fanout(s, settings, n)]),
  ['hierarchy', (s) => hierarchy(s, settings)],
  ['push/pull', (s) => pushPull(s, settings)],
  // Short and sensitive to bursts of other work on the machine: several interleaved rounds, the median kept.
  ['round trip', (s) => roundTrip(s, settings), settings.roundTripRounds],
  ['idle', (s) => idle(s, settings)],
];

/** The median of each metric over rounds of the same system and case. */
function median(rounds: Result[]): Result {
  const first = rounds[0]!;
  if (rounds.length === 1) return first;
  const metrics: Record<string, number> = {};
  for (const key of Object.keys(first.metrics)) {
    const values = rounds.map((r) => r.metrics[key]!).sort((a, b) => a - b);
    metrics[key] = values[Math.floor(values.length / 2)]!;
  }
  return { ...first, metrics: { ...metrics, rounds: rounds.length } };
}

const machine = describeMachine();
const results: Result[] = [];
/** Every round of scenarios measured in several rounds (results keep their medians). */
const rounds: Result[] = [];
const skipped: string[] = [];
const started = performance.now();
// Scenario by scenario, every system in turn: the figures of one comparison are taken
// close together in time, so a change in the machine's load skews them alike.
for (const [scenario, run, times = 1] of SCENARIOS) {
  if (only && !only.includes(scenario)) continue;
  const measured: Result[] = [];
  for (let round = 0; round < times; round++) {
    for (const system of systems) {
      const why = system.skip?.[scenario];
      if (why) {
        if (!skipped.some((s) => s.startsWith(`${system.name} ${scenario}:`)))
          skipped.push(`${system.name} ${scenario}: ${why}`);
        continue;
      }
      const t0 = performance.now();
      if (t0 - started > BUDGET_MS) {
        skipped.push(
          `${system.name} ${scenario}${times > 1 ? ` (round ${round + 1})` : ''}: not started, the run's time budget (${BUDGET_MS / 60_000} min) was spent`,
        );
        continue;
      }
      try {
        const got = await run(system);
        measured.push(...got);
        for (const r of got)
          console.error(
            `${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s  ${system.name.padEnd(20)} ${scenario.padEnd(10)} ${r.case.padEnd(28)} ${JSON.stringify(r.metrics)}`,
          );
      } catch (error) {
        const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
        skipped.push(`${system.name} ${scenario}${times > 1 ? ` (round ${round + 1})` : ''}: failed: ${message}`);
        console.error(`${system.name} ${scenario} failed after ${Math.round(performance.now() - t0)} ms: ${message}`);
      }
    }
  }
  if (times > 1) rounds.push(...measured);
  const keys = [...new Set(measured.map((r) => `${r.system}\u0000${r.case}`))];
  results.push(...keys.map((k) => median(measured.filter((r) => `${r.system}\u0000${r.case}` === k))));
}

const comparisons = COMPARISONS.filter(
  (c) => systems.some((s) => s.name === c.rt) && systems.some((s) => s.name === c.baseline),
);
const report = markdown(machine, settings, results, comparisons, skipped);
console.log(report);
if (!values['no-save']) {
  const dir = values.out ?? join(BENCH_DIR, 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = machine.date.slice(0, 19).replace(/[:T]/g, '-');
  const name = `${stamp}${quick ? '-quick' : ''}`;
  const elapsedS = Math.round((performance.now() - started) / 1000);
  writeFileSync(
    join(dir, `${name}.json`),
    JSON.stringify({ machine, settings, elapsedS, results, rounds, skipped }, null, 2) + '\n',
  );
  writeFileSync(join(dir, `${name}.md`), report);
  if (!quick) {
    writeFileSync(join(dir, 'latest.md'), report);
    writeFileSync(
      join(dir, 'latest.json'),
      JSON.stringify({ machine, settings, elapsedS, results, rounds, skipped }, null, 2) + '\n',
    );
  }
  console.error(`bench: ${elapsedS} s; results in ${dir}/${name}.{md,json}`);
}
clearTimeout(guard);
killAll();
