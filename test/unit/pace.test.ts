/**
 * Paces in a session's outbound queue on their own (issue 21): what waits is replaced or
 * dropped, the next message written carries the count, its payload is not encoded again, and a
 * session without a pace writes the very `Outgoing` every subscriber shares.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type MsgFrame, type Pace, paceFromQuery, paceProblem } from '@rt/protocol';
import { type Outgoing, messageOutgoing } from '../../packages/server/src/outgoing.ts';
import { Flusher, Session, type Wire } from '../../packages/server/src/session.ts';

/** A session subscribed to `topics` (each with its pace, or none), and what it wrote. */
function session(topics: Record<string, Pace | undefined>): {
  session: Session;
  written: Outgoing[];
  flusher: Flusher;
} {
  const written: Outgoing[] = [];
  const wire: Wire = { transport: 'test', write: (batch) => written.push(...batch), close: () => undefined };
  const flusher = new Flusher();
  const s = new Session(wire, flusher);
  for (const [topic, pace] of Object.entries(topics)) {
    s.subscriptions.add(topic);
    s.setPace(topic, pace);
  }
  return { session: s, written, flusher };
}

const ns = (written: Outgoing[]): number[] => written.map((out) => ((out.frame as MsgFrame).data as { n: number }).n);

describe('paces', () => {
  it('latest: one message waits, the newest, with the count of those it replaced; not encoded again', () => {
    const { session: s, written, flusher } = session({ t: { mode: 'latest' } });
    const outs = Array.from({ length: 5 }, (_, n) => messageOutgoing('t', { n }, n + 1, `{"n":${n}}`));
    for (const out of outs) s.send(out);
    flusher.run();
    assert.deepEqual(ns(written), [4]);
    const out = written[0]!;
    assert.equal((out.frame as MsgFrame).skipped, 4);
    assert.equal(out.text(), `{"t":"msg","skipped":4,${outs[4]!.text().slice('{"t":"msg",'.length)}`);
    assert.deepEqual(JSON.parse(out.text()), { t: 'msg', skipped: 4, topic: 't', off: 5, data: { n: 4 } });
    // Then the count starts again.
    s.send(messageOutgoing('t', { n: 5 }, 6));
    flusher.run();
    assert.equal((written[1]!.frame as MsgFrame).skipped, undefined);
  });

  it('conflate: one per key (a JSON pointer, else the child topic), in publish order', () => {
    const { session: s, written, flusher } = session({ a: { mode: 'conflate', key: '/k' }, b: { mode: 'conflate' } });
    for (let n = 0; n < 6; n++) s.send(messageOutgoing('a', { k: n % 2, n }, n + 1));
    for (let n = 6; n < 12; n++) s.send(messageOutgoing(`b/${n % 3}`, { n }, n + 1));
    flusher.run();
    assert.deepEqual(ns(written), [4, 5, 9, 10, 11]);
    const skipped = written.reduce((sum, out) => sum + ((out.frame as MsgFrame).skipped ?? 0), 0);
    assert.equal(skipped, 12 - 5);
  });

  it('maxQueue drops the oldest; a session without a pace writes the shared Outgoing itself', () => {
    const paced = session({ t: { maxQueue: 3 } });
    const plain = session({ t: undefined });
    const outs = Array.from({ length: 10 }, (_, n) => messageOutgoing('t', { n }, n + 1));
    for (const out of outs) {
      paced.session.send(out);
      plain.session.send(out);
    }
    paced.flusher.run();
    plain.flusher.run();
    assert.deepEqual(ns(paced.written), [7, 8, 9]);
    assert.equal((paced.written[0]!.frame as MsgFrame).skipped, 7);
    assert.deepEqual(plain.written, outs);
  });

  it('a subscription without a pace that covers the message wins', () => {
    const { session: s, written, flusher } = session({ a: undefined, 'a/b': { mode: 'latest' } });
    for (let n = 0; n < 4; n++) s.send(messageOutgoing('a/b', { n }, n + 1));
    flusher.run();
    assert.deepEqual(ns(written), [0, 1, 2, 3]);
  });

  it('bad paces are named', () => {
    assert.equal(paceProblem({ mode: 'latest' }), null);
    assert.equal(paceProblem({ mode: 'conflate', key: '/a~1b/0', maxRate: 0.5 }), null);
    for (const bad of [
      null,
      [],
      { mode: 'fast' },
      { maxRate: 0 },
      { maxRate: 1001 },
      { maxQueue: 0 },
      { maxQueue: 2.5 },
    ])
      assert.equal(typeof paceProblem(bad), 'string', JSON.stringify(bad));
    assert.match(paceProblem({ key: '/id' }) ?? '', /needs "mode": "conflate"/);
    assert.match(paceProblem({ mode: 'conflate', key: 'id' }) ?? '', /JSON pointer/);
    assert.match(paceProblem({ every: 1 }) ?? '', /unknown option "every"/);
    assert.equal(paceFromQuery(new URLSearchParams('topic=t')), undefined);
    assert.deepEqual(paceFromQuery(new URLSearchParams('mode=latest&maxRate=5')), { mode: 'latest', maxRate: 5 });
    assert.equal(typeof paceFromQuery(new URLSearchParams('maxRate=')), 'string');
  });
});
