/**
 * The work-queue rules both engines share (engines/queue-rules.ts): strict turns that a
 * leaving puller does not shift, ack deadlines that take a job back and shrink the puller's
 * window to one job (each ack doubles it back to its prefetch), and the push budgets' refusals.
 */
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import type { Job, PullerHandle } from '../../packages/server/src/engines/engine.ts';
import { Leases, PushBudget, Turns } from '../../packages/server/src/engines/queue-rules.ts';

function puller(name: string, prefetch = 1, ackTimeoutMs = 1000): PullerHandle & { name: string } {
  return { name, topic: 'q', prefetch, ackTimeoutMs, inflight: new Map(), deliver: () => undefined };
}

const job = (id: string): Job => ({ id, topic: 'q', data: id });

describe('Turns', () => {
  it('the puller served longest ago goes first; one leaving changes nobody else’s turn', () => {
    const leases = new Leases(() => undefined);
    const turns = new Turns(leases);
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => puller(n, 100));
    for (const p of [a, b, c, d]) turns.add(p!);
    const next = () => (turns.next() as ReturnType<typeof puller>).name;
    assert.deepEqual([next(), next(), next(), next(), next(), next()], ['a', 'b', 'c', 'd', 'a', 'b']);
    turns.delete(a!);
    assert.deepEqual([next(), next(), next(), next()], ['c', 'd', 'b', 'c']);
    leases.clear();
  });

  it('skips pullers without room and the one to avoid', () => {
    const leases = new Leases(() => undefined);
    const turns = new Turns(leases);
    const a = puller('a');
    const b = puller('b');
    turns.add(a);
    turns.add(b);
    leases.hand(a, job('1'), 1);
    assert.equal(turns.next(), b, 'a is full');
    assert.equal(turns.next(b), undefined, 'only b has room, and b is avoided');
    assert.equal(turns.hasRoom(), true);
    leases.clear();
  });
});

describe('Leases', () => {
  it('a job past its deadline is taken back; the puller then holds one job until an ack, and each ack doubles its window', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const expired: string[] = [];
      const leases = new Leases((_p, j) => expired.push(j.id));
      const p = puller('p', 8, 1000);
      for (let n = 0; n < 8; n++) leases.hand(p, job(`j${n}`), 1);
      assert.equal(leases.room(p), 0);
      assert.ok(leases.settle(p, 'j0', true), 'acked in time');
      mock.timers.tick(1000);
      assert.deepEqual(expired, ['j1', 'j2', 'j3', 'j4', 'j5', 'j6', 'j7']);
      assert.equal(p.inflight.size, 0);
      assert.equal(leases.settle(p, 'j1', true), undefined, 'a late ack finds nothing');
      assert.equal(leases.room(p), 1, 'one job at a time after a missed deadline');
      leases.hand(p, job('k0'), 2);
      leases.settle(p, 'k0', true);
      assert.equal(leases.room(p), 2, 'an ack doubles the window');
      leases.hand(p, job('k1'), 1);
      leases.settle(p, 'k1', true);
      leases.hand(p, job('k2'), 1);
      leases.settle(p, 'k2', true);
      assert.equal(leases.room(p), 8, 'back to the prefetch, never past it');
      leases.clear();
    } finally {
      mock.timers.reset();
    }
  });
});

describe('PushBudget', () => {
  it('names the budget a push would break', () => {
    const budget = new PushBudget({
      historySize: 0,
      historyTtlMs: 0,
      pushTtlMs: 0,
      redeliveryDelayMs: 0,
      pushQueueSize: 2,
      pushQueueBytes: 100,
      pushTotalSize: 3,
      pushTotalBytes: 150,
    });
    const fits = { jobs: 0, bytes: 0 };
    assert.equal(budget.check('t', fits, fits, 10), undefined);
    assert.match(budget.check('t', { jobs: 2, bytes: 0 }, fits, 1)!.message, /pushQueueSize 2/);
    assert.match(budget.check('t', { jobs: 0, bytes: 95 }, fits, 10)!.message, /pushQueueBytes 100/);
    assert.match(budget.check('t', fits, { jobs: 3, bytes: 0 }, 1)!.message, /pushTotalSize 3/);
    assert.match(budget.check('t', fits, { jobs: 0, bytes: 145 }, 10)!.message, /pushTotalBytes 150/);
    assert.equal(budget.check('t', fits, fits, 10)?.code, undefined);
    assert.equal(budget.check('t', { jobs: 2, bytes: 0 }, fits, 1)!.code, 'queue_full');
    assert.equal(PushBudget.bytes('é'), 4, 'the UTF-8 length of the JSON text ("é")');
    assert.equal(PushBudget.bytes(new Uint8Array(7)), 7);
  });
});
