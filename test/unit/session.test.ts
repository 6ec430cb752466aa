/**
 * A session's outbound bound on its own: a burst passes while the transport takes it; once the
 * transport is full and the queue passes the bound, `drop` discards the oldest messages and
 * puts one `overflow` gap per subscription or bus in front, and `disconnect` gives up.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServerFrame } from '@rt/protocol';
import { Outgoing } from '../../packages/server/src/outgoing.ts';
import {
  Flusher,
  type Outbound,
  Session,
  type SlowConsumerPolicy,
  type Wire,
} from '../../packages/server/src/session.ts';

const MAX_BYTES = 1000;

/** A session whose transport reports `buffered` bytes, with what it wrote and what the bound reported. */
function slow(policy: SlowConsumerPolicy): {
  session: Session;
  written: ServerFrame[];
  transport: { buffered: number };
  dropped: number[];
  gaveUp: Session[];
} {
  const written: ServerFrame[] = [];
  const transport = { buffered: 0 };
  const wire: Wire = {
    transport: 'test',
    write: (batch) => written.push(...batch.map((out) => out.frame)),
    close: () => undefined,
    buffered: () => transport.buffered,
  };
  const dropped: number[] = [];
  const gaveUp: Session[] = [];
  const outbound: Outbound = {
    maxBytes: MAX_BYTES,
    policy,
    epoch: () => 'E',
    dropped: (_, frames) => dropped.push(frames),
    giveUp: (s) => gaveUp.push(s),
  };
  return { session: new Session(wire, new Flusher(), outbound), written, transport, dropped, gaveUp };
}

/** A `msg` frame of about 100 bytes on the wire. */
const msg = (topic: string, off: number): Outgoing =>
  new Outgoing({ t: 'msg', topic, off, data: 'x'.repeat(100 - 40 - topic.length) });
const bus = (topic: string, n: number): Outgoing => new Outgoing({ t: 'bus', topic, data: `${n}`.padEnd(60, '.') });

describe('Session outbound bound', () => {
  it('lets a burst larger than the bound (up to twice it) through while the transport takes it', () => {
    const { session, written, dropped, gaveUp } = slow('drop');
    session.subscriptions.add('t');
    let sent = 0;
    while (session.queuedBytes + msg('t', sent + 1).size <= 2 * MAX_BYTES) session.send(msg('t', ++sent));
    assert.ok(session.queuedBytes > MAX_BYTES, 'the burst is larger than the bound');
    session.flush();
    assert.equal(written.length, sent);
    assert.deepEqual(dropped, []);
    assert.deepEqual(gaveUp, []);
  });

  it('a burst past twice the bound within one turn meets the policy even while the transport takes everything', () => {
    const { session, dropped, gaveUp } = slow('drop');
    session.subscriptions.add('t');
    // Five times the bound's worth of messages, in one turn.
    const count = Math.ceil((5 * MAX_BYTES) / msg('t', 1).size);
    let peak = 0;
    for (let off = 1; off <= count; off++) {
      session.send(msg('t', off));
      peak = Math.max(peak, session.queuedBytes);
    }
    assert.ok(peak <= 2 * MAX_BYTES + msg('t', 1).size, `the queue stays bounded (peak ${peak} bytes)`);
    assert.ok(dropped.length >= 1, 'the policy applied (drop, with a gap)');
    assert.deepEqual(gaveUp, []);
  });

  it('drop: a full transport and a queue past the bound drop the oldest messages behind one gap per subscription', () => {
    const { session, written, transport, dropped, gaveUp } = slow('drop');
    session.subscriptions.add('a');
    session.subscriptions.add('b/c');
    transport.buffered = MAX_BYTES;
    session.send(new Outgoing({ t: 'ok', ref: 1 }));
    for (let off = 1; off <= 12; off++) session.send(msg(off % 2 ? 'a/x' : 'b/c', off));
    assert.ok(session.queuedBytes <= MAX_BYTES, `the queue stays bounded (${session.queuedBytes} bytes)`);
    assert.equal(dropped.length, 1);
    assert.deepEqual(gaveUp, []);
    // The transport drains: the session writes what it kept, gaps first.
    transport.buffered = 0;
    session.flush();
    const gaps = written.flatMap((f) => (f.t === 'gap' ? [f] : []));
    const msgs = written.flatMap((f) => (f.t === 'msg' ? [f] : []));
    assert.deepEqual(
      written.slice(0, gaps.length).map((f) => f.t),
      gaps.map(() => 'gap'),
      'gaps come before everything kept',
    );
    assert.deepEqual(gaps.map((g) => g.topic).sort(), ['a', 'b/c']);
    for (const gap of gaps) assert.deepEqual({ reason: gap.reason, ep: gap.ep }, { reason: 'overflow', ep: 'E' });
    assert.ok(
      written.some((f) => f.t === 'ok'),
      'answers are never dropped',
    );
    // Nothing is lost silently: every message is written, or a gap of its subscription covers it.
    assert.equal(msgs.length + dropped[0]!, 12);
    const keptOffs = msgs.map((m) => m.off ?? 0);
    assert.deepEqual(
      keptOffs,
      [...keptOffs].sort((x, y) => x - y),
      'the newest messages are kept, in order',
    );
    for (const gap of gaps) {
      const lost = Array.from({ length: 12 }, (_, i) => i + 1).filter(
        (off) => (off % 2 ? 'a' : 'b/c') === gap.topic && !keptOffs.includes(off),
      );
      assert.equal(gap.off, Math.max(...lost), `the ${gap.topic} gap covers up to its newest dropped message`);
    }
  });

  it('drop: a bus overflow is a gap marked bus, and a second overflow folds into the pending gap', () => {
    const { session, written, transport, dropped } = slow('drop');
    session.joins.add('room');
    transport.buffered = MAX_BYTES;
    for (let n = 0; n < 40; n++) session.send(bus('room', n));
    assert.ok(dropped.length >= 2, 'overflowed more than once');
    transport.buffered = 0;
    session.flush();
    const gaps = written.flatMap((f) => (f.t === 'gap' ? [f] : []));
    assert.equal(gaps.length, 1, 'one gap for the whole stretch');
    assert.deepEqual(
      { topic: gaps[0]!.topic, bus: gaps[0]!.bus, reason: gaps[0]!.reason },
      {
        topic: 'room',
        bus: true,
        reason: 'overflow',
      },
    );
    assert.equal(written.filter((f) => f.t === 'bus').length + dropped.reduce((a, b) => a + b, 0), 40);
  });

  it('drop: gives up when only answers and jobs are queued (nothing may be dropped)', () => {
    const { session, transport, dropped, gaveUp } = slow('drop');
    transport.buffered = MAX_BYTES;
    for (let ref = 1; ref <= 40; ref++) session.send(new Outgoing({ t: 'ok', ref, off: ref }));
    assert.deepEqual(gaveUp, [session]);
    assert.deepEqual(dropped, []);
  });

  it('disconnect: a full transport and a queue past the bound give up on the peer', () => {
    const { session, written, transport, dropped, gaveUp } = slow('disconnect');
    session.subscriptions.add('t');
    transport.buffered = MAX_BYTES;
    for (let off = 1; off <= 9; off++) session.send(msg('t', off));
    assert.deepEqual(gaveUp, [], 'not past the bound yet');
    for (let off = 10; off <= 12; off++) session.send(msg('t', off));
    assert.deepEqual(gaveUp, [session]);
    assert.deepEqual(dropped, []);
    session.flush();
    assert.deepEqual(written, [], 'nothing more is written to a peer given up on');
  });
});
