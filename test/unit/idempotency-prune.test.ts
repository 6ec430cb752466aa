/**
 * The idempotency store forgets expired keys on a timer, not only when the next keyed
 * publish comes: a burst of keyed publishes followed by silence does not hold its keys (or a
 * timer) forever, and the count never passes `dedupeSize`.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import { Dedupe } from '../../packages/server/src/dedupe.ts';

afterEach(() => mock.timers.reset());

describe('idempotency keys are pruned without further requests', () => {
  it('expired keys go on the timer, with no run() after them', async () => {
    mock.timers.enable({ apis: ['Date', 'setInterval'], now: 1_000_000 });
    const dedupe = new Dedupe<number>(1000, 100_000);
    for (let i = 0; i < 10_000; i++) await dedupe.run(`k${i}`, async () => i);
    assert.equal(dedupe.size, 10_000);
    mock.timers.tick(1000);
    assert.equal(dedupe.size, 10_000, 'still inside the window');
    mock.timers.tick(1000);
    assert.equal(dedupe.size, 0, 'pruned one prune interval past the window');
    // Nothing left to prune: the timer stopped, and a new key starts it again.
    await dedupe.run('again', async () => 1);
    mock.timers.tick(2000);
    assert.equal(dedupe.size, 0);
  });

  it('never holds more than its size, the oldest going first', async () => {
    const dedupe = new Dedupe<number>(60_000, 100);
    for (let i = 0; i < 1000; i++) await dedupe.run(`k${i}`, async () => i);
    assert.ok(dedupe.size <= 101, `holds ${dedupe.size}`);
    let runs = 0;
    assert.equal(await dedupe.run('k999', async () => ++runs), 999, 'the newest is remembered');
    assert.equal(await dedupe.run('k0', async () => ++runs), 1, 'the oldest was forgotten');
  });
});
