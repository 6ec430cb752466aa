/**
 * The embedded engine on its own: publish fan-out and history (bounded by count and by age,
 * with a `gap` whenever recovery cannot be whole), and push/pull dispatch (turns, prefetch,
 * requeue of a lost puller's jobs, nack delay, queue bound).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import type {
  BusMessage,
  EngineLimits,
  Job,
  PullerHandle,
  StoredMessage,
} from '../../packages/server/src/engines/engine.ts';
import { MemoryEngine } from '../../packages/server/src/engines/memory.ts';

const LIMITS: EngineLimits = {
  historySize: 100,
  historyTtlMs: 60_000,
  pushQueueSize: 100,
  pushTtlMs: 0,
  redeliveryDelayMs: 1000,
};

async function engine(limits: Partial<EngineLimits> = {}): Promise<{
  engine: MemoryEngine;
  delivered: StoredMessage[];
  bus: BusMessage[];
}> {
  const delivered: StoredMessage[] = [];
  const bus: BusMessage[] = [];
  const e = new MemoryEngine();
  await e.start({ deliverMessage: (m) => delivered.push(m), deliverBus: (m) => bus.push(m) }, { ...LIMITS, ...limits });
  return { engine: e, delivered, bus };
}

/** A puller that records what it gets (as delivered) and holds it until acked. */
function puller(topic: string, prefetch = 1): PullerHandle & { got: Job[] } {
  const got: Job[] = [];
  // A copy: the engine counts attempts on the job object itself.
  return { topic, prefetch, ackTimeoutMs: 60_000, inflight: new Map(), got, deliver: (job) => got.push({ ...job }) };
}

const offs = (messages: readonly StoredMessage[]): number[] => messages.map((m) => m.off);

afterEach(() => mock.timers.reset());

describe('MemoryEngine: publish and history', () => {
  it('delivers every publish once, in order, with growing offsets', async () => {
    const { engine: e, delivered } = await engine();
    const a = await e.publish('a/b', 1);
    const b = await e.publish('c', 'two', { dataText: '"two"' });
    assert.deepEqual(offs(delivered), [a.off, b.off]);
    assert.ok(b.off > a.off);
    assert.equal(delivered[1]!.dataText, '"two"');
    assert.deepEqual((await e.position()).off, b.off);
    assert.equal(e.stats().published, 2);
    await e.close();
  });

  it('recovers a subtree: a topic, its descendants, never a sibling; the root gets everything', async () => {
    const { engine: e } = await engine();
    const start = await e.position();
    await e.publish('wong', 1);
    await e.publish('wong/amy', 2);
    await e.publish('wongo', 3);
    await e.publish('wong/amy/x', 4);
    const wong = await e.recover('wong', start.ep, start.off);
    assert.deepEqual(
      wong.messages.map((m) => m.data),
      [1, 2, 4],
    );
    assert.equal(wong.gap, undefined);
    const amy = await e.recover('wong/amy', start.ep, start.off + 2);
    assert.deepEqual(
      amy.messages.map((m) => m.data),
      [4],
    );
    const root = await e.recover('', start.ep, start.off);
    assert.deepEqual(
      root.messages.map((m) => m.data),
      [1, 2, 3, 4],
    );
    await e.close();
  });

  it('keeps historySize messages per topic; recovering from before them is a history gap', async () => {
    const { engine: e } = await engine({ historySize: 3 });
    const start = await e.position();
    for (let i = 1; i <= 5; i++) await e.publish('t', i);
    const all = await e.recover('t', start.ep, start.off);
    assert.deepEqual(
      all.messages.map((m) => m.data),
      [3, 4, 5],
    );
    assert.equal(all.gap, 'history');
    // From the newest message the history dropped onwards, nothing is missing.
    const fromFloor = await e.recover('t', start.ep, start.off + 2);
    assert.deepEqual(
      fromFloor.messages.map((m) => m.data),
      [3, 4, 5],
    );
    assert.equal(fromFloor.gap, undefined);
    await e.close();
  });

  it('forgets messages older than historyTtlMs; recovering across them is a history gap', async () => {
    mock.timers.enable({ apis: ['Date', 'setInterval'], now: 1_000_000 });
    const { engine: e } = await engine({ historyTtlMs: 1000 });
    const start = await e.position();
    await e.publish('t', 'old');
    mock.timers.tick(600);
    await e.publish('t', 'new');
    mock.timers.tick(600);
    const r = await e.recover('t', start.ep, start.off);
    assert.deepEqual(
      r.messages.map((m) => m.data),
      ['new'],
    );
    assert.equal(r.gap, 'history');
    // Once the sweeper removed the whole history, a topic with none still reports the gap.
    mock.timers.tick(5000);
    const later = await e.recover('t', start.ep, start.off);
    assert.deepEqual(later.messages, []);
    assert.equal(later.gap, 'history');
    await e.close();
  });

  it('a position from another epoch (a restart) is an epoch gap, with what this epoch kept', async () => {
    const { engine: e } = await engine();
    await e.publish('t', 1);
    const r = await e.recover('t', 'someone-else', 0);
    assert.equal(r.gap, 'epoch');
    assert.deepEqual(
      r.messages.map((m) => m.data),
      [1],
    );
    assert.equal(r.ep, e.epoch());
    const other = new MemoryEngine();
    assert.notEqual(other.epoch(), e.epoch());
    await e.close();
  });

  it('with historySize 0 keeps nothing: recovery gets no messages and no false gap for an unseen topic', async () => {
    const { engine: e, delivered } = await engine({ historySize: 0 });
    const start = await e.position();
    await e.publish('t', 1);
    assert.equal(delivered.length, 1);
    const r = await e.recover('t', start.ep, start.off);
    assert.deepEqual(r.messages, []);
    await e.close();
  });

  it('sends bus messages straight to the host', async () => {
    const { engine: e, bus } = await engine();
    await e.sendBus({ topic: 'room', data: 'hi', from: 's1' });
    assert.deepEqual(bus, [{ topic: 'room', data: 'hi', from: 's1' }]);
    await e.close();
  });
});

describe('MemoryEngine: push/pull dispatch', () => {
  it('pullers take turns, one job each within their prefetch; an ack frees room for the next', async () => {
    const { engine: e } = await engine();
    const p1 = puller('jobs');
    const p2 = puller('jobs');
    e.addPuller(p1);
    e.addPuller(p2);
    for (let i = 1; i <= 4; i++) await e.push('jobs', i);
    assert.deepEqual(
      p1.got.map((j) => j.data),
      [1],
    );
    assert.deepEqual(
      p2.got.map((j) => j.data),
      [2],
    );
    assert.equal(await e.ack(p1, p1.got[0]!.id), true);
    assert.deepEqual(
      p1.got.map((j) => j.data),
      [1, 3],
    );
    assert.equal(await e.ack(p1, p1.got[0]!.id), false, 'a job is acked once');
    assert.equal(await e.ack(p2, p2.got[0]!.id), true);
    assert.deepEqual(
      p2.got.map((j) => j.data),
      [2, 4],
    );
    assert.equal(e.stats().pushed, 4);
    await e.close();
  });

  it('jobs wait for a puller, oldest first, up to pushQueueSize; more is queue_full', async () => {
    const { engine: e } = await engine({ pushQueueSize: 2 });
    await e.push('q', 'a');
    await e.push('q', 'b');
    await assert.rejects(e.push('q', 'c'), { code: 'queue_full' });
    assert.equal(e.stats().pushRejected, 1);
    const p = puller('q', 10);
    e.addPuller(p);
    assert.deepEqual(
      p.got.map((j) => [j.data, j.attempt]),
      [
        ['a', 1],
        ['b', 1],
      ],
    );
    await e.close();
  });

  it("a removed puller's jobs go first in line to another puller, as a new attempt", async () => {
    const { engine: e } = await engine();
    const gone = puller('q', 2);
    e.addPuller(gone);
    await e.push('q', 'x');
    await e.push('q', 'y');
    await e.push('q', 'z');
    const next = puller('q', 3);
    e.addPuller(next);
    assert.deepEqual(
      next.got.map((j) => j.data),
      ['z'],
    );
    e.removePuller(gone);
    assert.deepEqual(
      next.got.map((j) => [j.data, j.attempt]),
      [
        ['z', 1],
        ['x', 2],
        ['y', 2],
      ],
    );
    assert.equal(e.stats().redelivered, 2);
    await e.close();
  });

  it('a nacked job goes to another puller with room at once, back to the same one only after the delay', async () => {
    mock.timers.enable({ apis: ['Date', 'setTimeout', 'setInterval'], now: 1_000_000 });
    const { engine: e } = await engine({ redeliveryDelayMs: 1000 });
    const p1 = puller('q');
    e.addPuller(p1);
    await e.push('q', 'job');
    const job = p1.got[0]!;
    assert.equal(await e.nack(p1, job.id), true);
    assert.equal(p1.got.length, 1, 'not straight back to the puller that failed it');
    mock.timers.tick(999);
    assert.equal(p1.got.length, 1);
    mock.timers.tick(1);
    assert.deepEqual(
      p1.got.map((j) => [j.data, j.attempt]),
      [
        ['job', 1],
        ['job', 2],
      ],
    );
    // With another puller with room, the nacked job goes there at once.
    const p2 = puller('q');
    e.addPuller(p2);
    assert.equal(await e.nack(p1, job.id), true);
    assert.deepEqual(
      p2.got.map((j) => [j.data, j.attempt]),
      [['job', 3]],
    );
    assert.equal(await e.nack(p1, job.id), false, 'p1 no longer holds it');
    await e.close();
  });
});
