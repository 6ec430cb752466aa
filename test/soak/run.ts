/**
 * `npm run soak`: the chaos harness (test/helpers/chaos.ts) for longer — more subscribers and
 * several fault cycles per run, several runs — with the same accounting, printed as a table
 * per run and a summary. Not in CI (minutes). Settings: SOAK_RUNS (default 3), SOAK_CYCLES
 * (fault cycles per run, default 3), SOAK_SUBSCRIBERS (per transport, default 10).
 * Exits 1 when any run had a silent hole, a duplicate, a message out of order or a stuck job.
 */
import { type ChaosReport, chaosTable, runChaos } from '../helpers/chaos.ts';

const runs = Number(process.env.SOAK_RUNS ?? 3);
const cycles = Number(process.env.SOAK_CYCLES ?? 3);
const subscribersPerTransport = Number(process.env.SOAK_SUBSCRIBERS ?? 10);
const reports: ChaosReport[] = [];
// Keeps the event loop alive while a run waits for a child (Redis is unref'd) to exit; the script ends with process.exit.
setInterval(() => undefined, 1000);
for (let run = 1; run <= runs; run++) {
  console.log(`\nrun ${run} of ${runs}: ${cycles} fault cycles, ${subscribersPerTransport} subscribers per transport`);
  const report = await runChaos({ cycles, subscribersPerTransport, log: (line) => console.log(`  ${line}`) });
  reports.push(report);
  console.log(chaosTable(report));
  for (const s of report.subscribers)
    if (s.silent > 0) console.log(`  silent holes at ${s.transport} on node ${s.node}: ${s.silentRanges.join(' ')}`);
}
const sum = (r: ChaosReport, key: 'silent' | 'duplicates' | 'outOfOrder' | 'missing' | 'covered'): number =>
  r.subscribers.reduce((s, x) => s + x[key], 0);
console.log(
  '\n| run | s | faults | accepted msgs | missing | covered by gap | silent holes | duplicates | out of order | jobs accepted | completed | repeated | stuck | lost with Redis |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const [i, r] of reports.entries()) {
  console.log(
    `| ${i + 1} | ${(r.durationMs / 1000).toFixed(0)} | ${r.faults.length} | ${r.published.accepted} | ${sum(r, 'missing')} | ${sum(r, 'covered')} | ${sum(r, 'silent')} | ${sum(r, 'duplicates')} | ${sum(r, 'outOfOrder')} | ${r.jobs.accepted} | ${r.jobs.completed} | ${r.jobs.repeated} | ${r.jobs.stuck} | ${r.jobs.lostWithRedis} |`,
  );
}
const bad = reports.filter((r) => sum(r, 'silent') + sum(r, 'duplicates') + sum(r, 'outOfOrder') + r.jobs.stuck > 0);
console.log(
  `\n${reports.length - bad.length} of ${reports.length} runs with 0 silent holes, 0 duplicates, 0 stuck jobs`,
);
process.exit(bad.length > 0 ? 1 : 0);
