/**
 * The chaos test (issue 14): three broker processes on a Redis of the test's own, subscribers
 * and pullers on every transport behind TCP proxies, numbered publishers and a pusher, through
 * one cycle of faults: connection cuts, a broker SIGKILLed and restarted, Redis restarted with
 * its data (AOF) and without it. Pass line: 0 silent holes (every accepted message received
 * once and in order, or a `gap` between the messages around each hole), no duplicate, every
 * accepted job completed, none stuck. Bounded: about a minute. The longer run is `npm run soak`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chaosTable, runChaos } from '../helpers/chaos.ts';

describe('chaos: brokers, Redis and connections fail under traffic', () => {
  it('no silent hole for any subscriber on any transport; every accepted job completed', {
    timeout: 90_000,
  }, async (t) => {
    // The harness's log (faults, and where missing jobs are in Redis) goes with a failure.
    const lines: string[] = [];
    const report = await runChaos({ subscribersPerTransport: 3, settleMs: 1500, log: (line) => lines.push(line) });
    const accounting = chaosTable(report);
    const table = `${accounting}\n${lines.join('\n')}`;
    const total = (key: 'silent' | 'duplicates' | 'outOfOrder'): number =>
      report.subscribers.reduce((sum, s) => sum + s[key], 0);
    assert.ok(report.published.accepted > 100, `only ${report.published.accepted} publishes accepted\n${table}`);
    assert.equal(total('silent'), 0, `silent holes\n${table}`);
    assert.equal(total('duplicates'), 0, `duplicates\n${table}`);
    assert.equal(total('outOfOrder'), 0, `out of order\n${table}`);
    assert.equal(report.jobs.stuck, 0, `stuck jobs\n${table}`);
    assert.ok(report.jobs.accepted > 30, `only ${report.jobs.accepted} jobs accepted\n${table}`);
    // The run's accounting in the test output, passed or not (CI logs keep it).
    for (const line of accounting.split('\n')) t.diagnostic(line);
  });
});
