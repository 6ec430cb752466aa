import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { covers } from '@rt/protocol';
import { Flusher, Hub, Outgoing, Session, type Wire } from '@rt/server';

function session(): { session: Session; got: Outgoing[] } {
  const got: Outgoing[] = [];
  const wire: Wire = { transport: 'test', write: (batch) => got.push(...batch), close: () => undefined };
  const flusher = new Flusher();
  return { session: new Session(wire, flusher), got };
}

const segment = fc.constantFrom('a', 'b', 'c', 'ab');
const topic = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/'));

describe('hub', () => {
  it('property: a publish reaches exactly the sessions with a covering subscription, once each', () => {
    fc.assert(
      fc.property(fc.array(fc.array(topic, { maxLength: 4 }), { minLength: 1, maxLength: 6 }), topic, (subsPerSession, published) => {
        const hub = new Hub();
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
      }),
      { numRuns: 500 },
    );
  });

  it('unsubscribe prunes the trie and reports the last subscriber of a topic', () => {
    const hub = new Hub();
    const { session: s1 } = session();
    const { session: s2 } = session();
    assert.equal(hub.subscribe(s1, 'a/b'), true);
    assert.equal(hub.subscribe(s2, 'a/b'), false);
    assert.equal(hub.unsubscribe(s1, 'a/b'), false);
    assert.equal(hub.unsubscribe(s2, 'a/b'), true);
    assert.equal(hub.unsubscribe(s2, 'a/b'), false);
    assert.equal(hub.publish('a/b', new Outgoing({ t: 'msg', topic: 'a/b', data: 1 })), 0);
  });

  it('bus reaches every peer of exactly the topic but the sender', () => {
    const hub = new Hub();
    const [p1, p2, p3] = [session(), session(), session()];
    hub.join(p1.session, 'room');
    hub.join(p2.session, 'room');
    hub.join(p3.session, 'room/x');
    assert.equal(hub.bus('room', new Outgoing({ t: 'bus', topic: 'room', data: 1 }), p1.session.id), 1);
    for (const p of [p1, p2, p3]) p.session.flush();
    assert.deepEqual([p1.got.length, p2.got.length, p3.got.length], [0, 1, 0]);
  });
});
