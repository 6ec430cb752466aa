/**
 * When the Flusher writes a session's frames: an idle connection's first frames go out at
 * once (before the event-loop turn ends, not one turn later), frames queued together still go
 * in one write, what is queued after that write in the same turn goes out together at the
 * turn's end, a fan-out to many connections is one write each at the turn's end, and no frame
 * ever overtakes an earlier one, whichever write carries it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Outgoing } from '../../packages/server/src/outgoing.ts';
import { Flusher, Session, type Wire } from '../../packages/server/src/session.ts';

/** A session whose wire records each write (the offsets of its `msg` frames). */
function recorded(flusher = new Flusher()): { session: Session; writes: number[][] } {
  const writes: number[][] = [];
  const wire: Wire = {
    transport: 'test',
    write: (batch) => writes.push(batch.map((out) => (out.frame as { off: number }).off)),
    close: () => undefined,
  };
  const session = new Session(wire, flusher);
  session.subscriptions.add('t');
  return { session, writes };
}

const msg = (off: number): Outgoing => new Outgoing({ t: 'msg', topic: 't', off, data: off });
/**
 * Resolves once the microtasks queued so far are done and the at-once write that follows them
 * went out: still within the current turn.
 */
const drained = (): Promise<void> => new Promise((resolve) => queueMicrotask(() => process.nextTick(resolve)));
/** Resolves once the event loop has reached its check phase (the end of the current turn). */
const turnEnd = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('Flusher', () => {
  it('writes an idle session at once: frames queued together in one write, before the turn ends', async () => {
    const { session, writes } = recorded();
    session.send(msg(1));
    session.send(msg(2));
    assert.deepEqual(writes, [], 'nothing is written while the code that queues is still running');
    await drained();
    assert.deepEqual(writes, [[1, 2]]);
  });

  it('waits for the promise steps under way: an answer a few steps behind a message goes in the same write', async () => {
    const { session, writes } = recorded();
    let turnEnded = false;
    setImmediate(() => (turnEnded = true));
    session.send(msg(1));
    // As a publish's `ok` comes a few promise steps after its message to the publisher.
    void Promise.resolve()
      .then(() => undefined)
      .then(() => undefined)
      .then(() => session.send(msg(2)));
    await drained();
    await drained();
    assert.equal(turnEnded, false);
    assert.deepEqual(writes, [[1, 2]]);
  });

  it('batches what is queued after the first write of a turn and writes it, in order, at the turn end', async () => {
    const { session, writes } = recorded();
    session.send(msg(1));
    await drained();
    for (let off = 2; off <= 5; off++) {
      session.send(msg(off));
      await drained();
    }
    assert.deepEqual(writes, [[1]], 'later frames of the same turn wait');
    await turnEnd();
    assert.deepEqual(writes, [[1], [2, 3, 4, 5]]);
    // A new turn: the next frame goes at once again.
    session.send(msg(6));
    await drained();
    assert.deepEqual(writes, [[1], [2, 3, 4, 5], [6]]);
  });

  it('writes a fan-out to many sessions once per session at the turn end, in order', async () => {
    const flusher = new Flusher();
    const sessions = Array.from({ length: 10 }, () => recorded(flusher));
    for (let off = 1; off <= 3; off++) for (const { session } of sessions) session.send(msg(off));
    await Promise.resolve();
    for (const { writes } of sessions) assert.deepEqual(writes, [], 'a fan-out waits for the turn end');
    await turnEnd();
    for (const { writes } of sessions) assert.deepEqual(writes, [[1, 2, 3]]);
  });

  it('keeps every session of a small fan-out in publish order across the two writes of a turn', async () => {
    const flusher = new Flusher();
    const sessions = Array.from({ length: 3 }, () => recorded(flusher));
    for (let off = 1; off <= 50; off++) {
      for (const { session } of sessions) session.send(msg(off));
      // Publishes are answered one by one (a promise each): the fan-out of each runs in its own microtask.
      if (off % 7 === 0) await Promise.resolve();
    }
    await turnEnd();
    for (const { writes } of sessions) {
      assert.ok(writes.length <= 2, `at most two writes in one turn, got ${writes.length}`);
      assert.deepEqual(
        writes.flat(),
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
    }
  });
});
