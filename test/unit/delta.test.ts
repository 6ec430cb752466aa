/**
 * Deltas (issue 21): the broker's side (a node links each message to the one before it on its
 * topic, a session turns a message into a delta when it wrote that one, once per publish for
 * every session) and the client's decoder, end to end through the encoded frame text. Random
 * edit sequences rebuild exactly; a subscriber that missed the previous message gets it whole;
 * a decoder holding another base, or a delta that fails its checksum, yields nothing rather
 * than a wrong payload.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { connect } from '@rt/client';
import {
  type JsonValue,
  type MsgFrame,
  type Pace,
  decodeServerFrame,
  deltaText,
  paceFromQuery,
  paceProblem,
} from '@rt/protocol';
import { DeltaDecoder } from '../../packages/client/src/delta.ts';
import { DeltaBook } from '../../packages/server/src/delta.ts';
import { type Outgoing, messageOutgoing } from '../../packages/server/src/outgoing.ts';
import { Flusher, Session, type Wire } from '../../packages/server/src/session.ts';
import { FakeBroker } from '../helpers/fake-transport.ts';
import { Collector } from '../helpers/index.ts';

/** A node (its delta book) with sessions subscribed to `topic` with `pace`, and what each wrote. */
function node(topic: string, paces: Pace[]) {
  const book = new DeltaBook();
  const flusher = new Flusher();
  const sessions = paces.map((pace) => {
    const written: Outgoing[] = [];
    const wire: Wire = { transport: 'test', write: (batch) => written.push(...batch), close: () => undefined };
    const session = new Session(wire, flusher);
    session.subscriptions.add(topic);
    session.setPace(topic, pace);
    book.want(session, topic, pace.delta === true);
    return { session, written };
  });
  let off = 0;
  return {
    sessions,
    flusher,
    /** Delivers `data` on `topic` to this node, as the operations core does. */
    deliver(on: string, data: JsonValue): void {
      const out = messageOutgoing(on, data, ++off, JSON.stringify(data));
      book.link(out, on, off, JSON.stringify(data));
      for (const s of sessions) s.session.send(out);
    },
  };
}

/** A client's view of frames written to it: decoded from their text, rebuilt when deltas. */
function receiver() {
  const decoder = new DeltaDecoder(() => true);
  return (out: Outgoing): { frame: MsgFrame; data: unknown } => {
    const frame = decodeServerFrame(out.text()) as MsgFrame;
    return { frame, data: decoder.payload(frame) };
  };
}

/** An object of about 2 KiB that changes by random edits. */
const edit = fc.oneof(
  fc.record({
    op: fc.constant('set' as const),
    key: fc.string({ maxLength: 6 }),
    value: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<JsonValue>,
  }),
  fc.record({ op: fc.constant('delete' as const), key: fc.string({ maxLength: 6 }) }),
  fc.record({
    op: fc.constant('text' as const),
    key: fc.string({ maxLength: 6 }),
    value: fc.string({ unit: 'binary', maxLength: 20 }),
  }),
);

describe('deltas', () => {
  it('random edit sequences rebuild exactly, for a delta subscriber beside a whole one', () => {
    let deltas = 0;
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<JsonValue>),
        fc.array(edit, { maxLength: 30 }),
        (start, edits) => {
          const n = node('t', [{ delta: true }, {}]);
          const [withDeltas, whole] = n.sessions as [(typeof n.sessions)[0], (typeof n.sessions)[0]];
          const receive = receiver();
          const value: Record<string, JsonValue> = { ...start, pad: 'p'.repeat(2048) };
          const sent: unknown[] = [];
          const publish = () => {
            n.deliver('t', value);
            sent.push(JSON.parse(JSON.stringify(value)));
            n.flusher.run();
          };
          publish();
          for (const e of edits) {
            if (e.op === 'delete') delete value[e.key];
            else value[e.key] = e.value;
            publish();
          }
          const got = withDeltas.written.map((out) => {
            const { frame, data } = receive(out);
            if (frame.base !== undefined) deltas++;
            return data;
          });
          assert.deepEqual(got, sent);
          assert.deepEqual(
            whole.written.map((out) => (decodeServerFrame(out.text()) as MsgFrame).data),
            sent,
          );
          assert.equal(
            whole.written.every((out) => (out.frame as MsgFrame).base === undefined),
            true,
          );
        },
      ),
    );
    assert.ok(deltas > 100, `only ${deltas} deltas were sent`);
  });

  it('a delta is made once per publish for every session that holds the previous message, and is small', () => {
    const n = node('prices', [{ delta: true }, { delta: true }, { delta: true }]);
    const quote = { symbol: 'ACME', price: 1, pad: 'x'.repeat(2000) };
    n.deliver('prices/acme', quote);
    n.flusher.run();
    n.deliver('prices/acme', { ...quote, price: 2 });
    n.flusher.run();
    const second = n.sessions.map((s) => s.written[1]!);
    assert.equal((second[0]!.frame as MsgFrame).base, 1);
    assert.equal(second[1], second[0]);
    assert.equal(second[2], second[0]);
    assert.ok(second[0]!.text().length < 100, second[0]!.text());
  });

  it('a subscriber that missed the previous message (a latest pace skipped it) gets the next one whole', () => {
    const n = node('t', [{ delta: true, mode: 'latest' }]);
    const receive = receiver();
    const [s] = n.sessions;
    n.deliver('t', { v: 1, pad: 'x'.repeat(500) });
    n.flusher.run();
    // Two before a write: the first is replaced by the second, whose predecessor was never written.
    n.deliver('t', { v: 2, pad: 'x'.repeat(500) });
    n.deliver('t', { v: 3, pad: 'x'.repeat(500) });
    n.flusher.run();
    n.deliver('t', { v: 4, pad: 'x'.repeat(500) });
    n.flusher.run();
    const frames = s!.written.map(receive);
    assert.deepEqual(
      frames.map(({ frame }) => frame.base),
      [undefined, undefined, 3],
    );
    assert.deepEqual(
      frames.map(({ data }) => (data as { v: number }).v),
      [1, 3, 4],
    );
    assert.equal(frames[1]!.frame.skipped, 1);
  });

  it('a decoder holding another base, or a delta failing its checksum, yields nothing and forgets the base', () => {
    const n = node('t', [{ delta: true }]);
    for (let v = 1; v <= 3; v++) n.deliver('t', { v, pad: 'x'.repeat(500) });
    n.flusher.run();
    const [first, second, third] = n.sessions[0]!.written.map((out) => decodeServerFrame(out.text()) as MsgFrame);
    assert.equal(second!.base, 1);
    // The client missed the first: it holds nothing, then only the second's successor.
    const missed = new DeltaDecoder(() => true);
    assert.equal(missed.payload(second!), undefined);
    assert.equal(missed.payload(third!), undefined);
    // The right base, a corrupted delta: the checksum catches it.
    const corrupted = new DeltaDecoder(() => true);
    assert.deepEqual(corrupted.payload(first!), { v: 1, pad: 'x'.repeat(500) });
    const bad = { ...second!, data: (second!.data as string).replace('2', '7') };
    assert.equal(corrupted.payload(bad), undefined);
    assert.equal(corrupted.payload(third!), undefined);
    // And one that holds the right base rebuilds them.
    const fine = new DeltaDecoder(() => true);
    assert.deepEqual(
      [first, second, third].map((f) => fine.payload(f!)),
      [1, 2, 3].map((v) => ({ v, pad: 'x'.repeat(500) })),
    );
  });

  it('deltaText is ASCII and parses to the same value', () => {
    fc.assert(
      fc.property(fc.jsonValue() as fc.Arbitrary<JsonValue>, (value) => {
        const text = deltaText(value);
        assert.match(text, /^[\x20-\x7e]*$/);
        assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(value)));
      }),
    );
  });

  it('delta is an SDK option: a boolean in a pace, refused in a plain URL', () => {
    assert.equal(paceProblem({ delta: true, mode: 'latest' }), null);
    assert.equal(paceProblem({ delta: 'yes' }), '"delta" must be true or false');
    assert.match(String(paceFromQuery(new URLSearchParams('delta=1'))), /SDK subscriptions only/);
  });

  it('a client that cannot rebuild a delta delivers nothing of it, and takes the subscription again from its position', async () => {
    const n = node('quotes', [{ delta: true }]);
    const value = (v: number) => ({ v, pad: 'x'.repeat(500) });
    for (let v = 1; v <= 4; v++) n.deliver('quotes/acme', value(v));
    n.flusher.run();
    const frames = n.sessions[0]!.written.map((out) => decodeServerFrame(out.text()) as MsgFrame);
    assert.deepEqual(
      frames.map((f) => f.base),
      [undefined, 1, 2, 3],
    );

    const fake = new FakeBroker();
    const c = connect('http://fake.invalid', { transports: [fake.factory], lifecycle: false });
    const got = new Collector<unknown>();
    const sub = c.topic('quotes').subscribe(got.push, { delta: true });
    const conn = await fake.accept(0);
    const asked = await conn.ok('sub', { ep: 'e1', off: 0 });
    assert.deepEqual(asked, { t: 'sub', ref: asked.ref, topic: 'quotes', pace: { delta: true } });
    await sub.ready;
    conn.deliver(frames[0]!);
    conn.deliver(frames[1]!);
    await got.until(2);
    // The third was lost on the way: the fourth's base is not what the client holds.
    conn.deliver(frames[3]!);
    await conn.ok('unsub');
    const again = await conn.next((f) => f.t === 'sub', 'the subscription taken again');
    assert.deepEqual(again, { t: 'sub', ref: again.ref, topic: 'quotes', ep: 'e1', off: 2, pace: { delta: true } });
    // The broker replays what came after, whole, then answers.
    conn.deliver({ t: 'msg', topic: 'quotes/acme', off: 3, data: value(3) });
    conn.deliver({ t: 'msg', topic: 'quotes/acme', off: 4, data: value(4) });
    conn.deliver({ t: 'ok', ref: again.ref, ep: 'e1', off: 4 });
    await got.until(4);
    assert.deepEqual(got.items, [1, 2, 3, 4].map(value));
    c.close();
  });
});
