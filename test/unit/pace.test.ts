/**
 * Paces in a session's outbound queue on their own (issue 21): what waits is replaced or
 * dropped, the next message written carries the count, its payload is not encoded again, and a
 * session without a pace writes the very `Outgoing` every subscriber shares.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
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

  it('whenever the session writes, each paced message is the newest of its key and counts the messages of its key skipped before it', () => {
    // Subscriptions: latest, conflate by pointer, conflate by child topic, maxQueue, and none.
    const paces: Record<string, Pace | undefined> = {
      l: { mode: 'latest' },
      p: { mode: 'conflate', key: '/k' },
      c: { mode: 'conflate' },
      q: { maxQueue: 3 },
      a: undefined,
    };
    /** The key a message is the newest of, as its subscription's pace sees it. */
    const keyOf = (topic: string, k: number): string => {
      const sub = topic.split('/')[0]!;
      return sub === 'l' ? 'l' : sub === 'p' ? `p:${k}` : topic;
    };
    const step = fc.oneof(
      fc.record({
        op: fc.constant('publish' as const),
        sub: fc.constantFrom('l', 'p', 'c', 'q', 'a'),
        k: fc.integer({ min: 0, max: 2 }),
      }),
      // The transport takes what is queued, or is full (the peer is not reading).
      fc.record({ op: fc.constant('flush' as const), full: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 200 }), (steps) => {
        let full = false;
        const written: Outgoing[][] = [];
        const wire: Wire = {
          transport: 'test',
          write: (batch) => written.push([...batch]),
          close: () => undefined,
          buffered: () => (full ? 1 << 20 : 0),
        };
        // A full transport is tried again by the test's own flushes, not a timer.
        const flusher = new Flusher();
        flusher.retry = () => undefined;
        const s = new Session(wire, flusher);
        for (const [topic, pace] of Object.entries(paces)) {
          s.subscriptions.add(topic);
          s.setPace(topic, pace);
        }
        const newest = new Map<string, number>();
        /** Per key, what was published, in order. */
        const byKey = new Map<string, number[]>();
        const published = new Map<string, number[]>();
        const queued: number[] = [];
        let n = 0;
        const flush = (): void => {
          const before = written.length;
          s.flush();
          for (const batch of written.slice(before))
            for (const out of batch) {
              const frame = out.frame as MsgFrame;
              const { k, n: m } = frame.data as { k: number; n: number };
              const sub = frame.topic.split('/')[0]!;
              if (sub === 'a' || sub === 'q') continue;
              assert.equal(m, newest.get(keyOf(frame.topic, k)), `${frame.topic} #${m} is not the newest of its key`);
            }
          // maxQueue: what is written is the newest three of those waiting.
          const q = written
            .slice(before)
            .flat()
            .filter((out) => out.frame.t === 'msg' && out.frame.topic === 'q')
            .map((out) => ((out.frame as MsgFrame).data as { n: number }).n);
          if (written.length > before) {
            assert.deepEqual(q, queued.slice(-3));
            queued.length = 0;
          }
        };
        for (const st of steps) {
          if (st.op === 'flush') {
            full = st.full;
            flush();
            continue;
          }
          const topic = st.sub === 'c' ? `c/${st.k}` : st.sub;
          const data = { k: st.k, n: n++ };
          s.send(messageOutgoing(topic, data, n, JSON.stringify(data)));
          newest.set(keyOf(topic, st.k), data.n);
          const key = keyOf(topic, st.k);
          byKey.set(key, [...(byKey.get(key) ?? []), data.n]);
          if (st.sub === 'q') queued.push(data.n);
          published.set(st.sub, [...(published.get(st.sub) ?? []), data.n]);
        }
        full = false;
        flush();
        const frames = written.flat().map((out) => out.frame as MsgFrame);
        for (const sub of Object.keys(paces)) {
          const mine = frames.filter((f) => f.topic.split('/')[0] === sub);
          const got = mine.map((f) => (f.data as { n: number }).n);
          const skipped = mine.reduce((sum, f) => sum + (f.skipped ?? 0), 0);
          const sent = published.get(sub) ?? [];
          assert.equal(got.length + skipped, sent.length, `"${sub}": delivered + skipped = published`);
          assert.deepEqual(
            got,
            [...got].sort((x, y) => x - y),
            `"${sub}" in publish order`,
          );
          if (sub === 'a') assert.deepEqual(got, sent, 'the subscription without a pace gets everything');
          // Each message counts exactly the messages of its key skipped since the one before it;
          // in the end, the newest of every key was delivered.
          const last = new Map<string, number>();
          for (const f of mine) {
            const { k, n: m } = f.data as { k: number; n: number };
            const key = keyOf(f.topic, k);
            const since = last.get(key) ?? -1;
            const between = (byKey.get(key) ?? []).filter((p) => p > since && p < m).length;
            assert.equal(f.skipped ?? 0, between, `${f.topic} #${m} says ${f.skipped ?? 0} skipped before it`);
            last.set(key, m);
          }
          for (const [key, m] of newest)
            if (key.startsWith(sub)) assert.equal(last.get(key), m, `the newest of ${key}`);
        }
        s.clearPaces();
      }),
      { numRuns: 300 },
    );
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
