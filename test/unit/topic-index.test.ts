import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { covers } from '@rt/protocol';
import { Outgoing } from '../../packages/server/src/outgoing.ts';
import { Flusher, Session, type Wire } from '../../packages/server/src/session.ts';
import { TopicIndex } from '../../packages/server/src/topic-index.ts';

function session(): { session: Session; got: Outgoing[] } {
  const got: Outgoing[] = [];
  const wire: Wire = { transport: 'test', write: (batch) => got.push(...batch), close: () => undefined };
  const flusher = new Flusher();
  return { session: new Session(wire, flusher), got };
}

const segment = fc.constantFrom('a', 'b', 'c', 'ab');
const topic = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/'));

describe('topic index', () => {
  it('property: a publish reaches exactly the sessions with a covering subscription, once each', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(topic, { maxLength: 4 }), { minLength: 1, maxLength: 6 }),
        topic,
        (subsPerSession, published) => {
          const hub = new TopicIndex();
          const sessions = subsPerSession.map((subs) => {
            const s = session();
            for (const t of subs) hub.subscribe(s.session, t);
            return { ...s, subs };
          });
          const out = new Outgoing({ t: 'msg', topic: published, data: 1, off: 1 });
          const reached = hub.publish(published, out);
          const expected = sessions.filter((s) => s.subs.some((t) => covers(t, published)));
          assert.equal(reached, expected.length);
          for (const s of sessions) {
            s.session.flush();
            assert.equal(s.got.length, expected.includes(s) ? 1 : 0);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('unsubscribe prunes the trie and reports the last subscriber of a topic', () => {
    const hub = new TopicIndex();
    const { session: s1 } = session();
    const { session: s2 } = session();
    assert.equal(hub.subscribe(s1, 'a/b'), true);
    assert.equal(hub.subscribe(s2, 'a/b'), false);
    assert.equal(hub.unsubscribe(s1, 'a/b'), false);
    assert.equal(hub.unsubscribe(s2, 'a/b'), true);
    assert.equal(hub.unsubscribe(s2, 'a/b'), false);
    assert.equal(hub.publish('a/b', new Outgoing({ t: 'msg', topic: 'a/b', data: 1 })), 0);
  });

  it('reaches the subscribers of a topic and its ancestors, each once, through 0 → 1 → 3 → 1 → 0 subscribers', () => {
    // A node holds one subscriber directly and a set from the second on: the transitions matter.
    const hub = new TopicIndex();
    const [a, b, c] = [session(), session(), session()];
    const msg = (t: string): Outgoing => new Outgoing({ t: 'msg', topic: t, data: null });
    assert.equal(hub.subscribe(a.session, 'x/y'), true, 'first subscriber of x/y');
    assert.equal(hub.subscribe(b.session, 'x/y'), false);
    assert.equal(hub.subscribe(c.session, 'x/y'), false);
    assert.equal(hub.subscribe(a.session, 'x'), true, 'first subscriber of x');
    assert.equal(hub.publish('x/y/z', msg('x/y/z')), 3, 'a is covered twice and counted once');
    assert.equal(hub.unsubscribe(b.session, 'x/y'), false, 'a and c remain');
    assert.equal(hub.unsubscribe(c.session, 'x/y'), false, 'a remains');
    assert.equal(hub.publish('x/y', msg('x/y')), 1);
    assert.equal(hub.unsubscribe(c.session, 'x/y'), false, 'c is not subscribed any more');
    assert.equal(hub.unsubscribe(a.session, 'x/y'), true, 'x/y has no subscriber left');
    assert.equal(hub.publish('x/y', msg('x/y')), 1, 'a still has x');
    assert.equal(hub.unsubscribe(a.session, 'x'), true);
    assert.equal(hub.publish('x/y', msg('x/y')), 0);
    assert.equal(hub.subscribe(b.session, 'x/y'), true, 'a pruned branch grows back');
    assert.equal(hub.publish('x/y', msg('x/y')), 1);
  });

  it('bus reaches every peer of exactly the topic but the sender', () => {
    const hub = new TopicIndex();
    const [p1, p2, p3] = [session(), session(), session()];
    hub.join(p1.session, 'room');
    hub.join(p2.session, 'room');
    hub.join(p3.session, 'room/x');
    assert.equal(hub.bus('room', new Outgoing({ t: 'bus', topic: 'room', data: 1 }), p1.session.id), 1);
    for (const p of [p1, p2, p3]) p.session.flush();
    assert.deepEqual([p1.got.length, p2.got.length, p3.got.length], [0, 1, 0]);
  });
});
