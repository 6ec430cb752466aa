/**
 * Latest-value topics, piece by piece (issue 21): which topics the broker's patterns retain,
 * where the setting comes from, how the memory engine keeps values by subtree, and how a
 * session merges a new subscription's retained values with the live messages held meanwhile
 * (each value once, in offset order, a late live copy dropped).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type MsgFrame, parseClientFrame } from '@rt/protocol';
import { createBroker } from '@rt/server';
import { loadConfig } from '../../packages/server/src/config.ts';
import { MemoryEngine } from '../../packages/server/src/engines/memory.ts';
import { RetainPatterns, queryRetain, retainedOutgoing } from '../../packages/server/src/ops/retain.ts';
import { type Outgoing, messageOutgoing } from '../../packages/server/src/outgoing.ts';
import { Flusher, Session, type Wire } from '../../packages/server/src/session.ts';

describe('retain patterns', () => {
  it('a topic, topic/# (with its descendants), # (all), + (one segment)', () => {
    const p = new RetainPatterns(['a/b', 'prices/#', 'dev/+/status', 'x/+/#']);
    const yes = ['a/b', 'prices', 'prices/eur', 'prices/eur/bid', 'dev/7/status', 'x/1', 'x/1/2/3'];
    const no = ['a', 'a/b/c', 'pricesx', 'dev/7', 'dev/7/status/x', 'dev/status', 'x'];
    for (const t of yes) assert.equal(p.matches(t), true, t);
    for (const t of no) assert.equal(p.matches(t), false, t);
    assert.equal(new RetainPatterns(['#']).matches('any/thing'), true);
    assert.equal(new RetainPatterns().matches('any'), false);
  });

  it('createBroker refuses a bad pattern, saying which', () => {
    for (const bad of ['a/#/b', '', 'a//b', 'a#', 'a/*']) {
      assert.throws(
        () => createBroker({ retain: [bad] }),
        (e: Error) => e instanceof TypeError && e.message.includes('retain pattern'),
        bad,
      );
    }
    assert.throws(() => createBroker({ retain: 'prices/#' as never }), /retain must be an array/);
  });

  it('comes from rt.config.json, then RT_RETAIN, then --retain', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rt-config-'));
    assert.equal(loadConfig({}, {}, dir).retain, undefined);
    writeFileSync(join(dir, 'rt.config.json'), JSON.stringify({ retain: ['prices/#'] }));
    assert.deepEqual(loadConfig({}, {}, dir).retain, ['prices/#']);
    assert.deepEqual(loadConfig({}, { RT_RETAIN: 'a/#, b' }, dir).retain, ['a/#', 'b']);
    assert.deepEqual(loadConfig({ retain: 'c/+/d' }, { RT_RETAIN: 'a/#' }, dir).retain, ['c/+/d']);
    writeFileSync(join(dir, 'rt.config.json'), JSON.stringify({ retain: 3 }));
    assert.throws(() => loadConfig({}, {}, dir), /"retain" must be a string or an array of strings/);
  });

  it("a pub frame's retain is true or false; ?retain= is 1, true, 0 or false", () => {
    const frame = (retain: unknown) =>
      parseClientFrame(JSON.stringify({ t: 'pub', ref: 1, topic: 't', data: 1, retain }));
    assert.equal(frame(true).ok, true);
    assert.equal(frame('yes').ok, false);
    const q = (s: string) => queryRetain(new URL(`http://x/p${s}`));
    assert.deepEqual(
      [q(''), q('?retain=1'), q('?retain=true'), q('?retain'), q('?retain=0'), q('?retain=false')],
      [false, true, true, true, false, false],
    );
    assert.throws(() => q('?retain=maybe'), /"retain" must be/);
  });
});

describe('memory engine: retained values', () => {
  it('keeps the newest per topic, found by subtree in offset order; null clears; not-retained publishes change nothing', async () => {
    const e = new MemoryEngine();
    await e.start(
      { deliverMessage: () => undefined, deliverBus: () => undefined },
      {
        historySize: 10,
        historyTtlMs: 60_000,
        pushQueueSize: 10,
        pushTtlMs: 0,
        redeliveryDelayMs: 100,
      },
    );
    await e.publish('p/usd', 1, { retain: true });
    await e.publish('p/eur', 2, { retain: true });
    await e.publish('p/usd', 3, { retain: true });
    await e.publish('p/usd', 4);
    await e.publish('px', 5, { retain: true });
    const values = async (t: string) => (await e.retained(t)).map((m) => [m.topic, m.data, m.off]);
    assert.deepEqual(await values('p'), [
      ['p/eur', 2, 2],
      ['p/usd', 3, 3],
    ]);
    assert.deepEqual(await values('p/eur'), [['p/eur', 2, 2]]);
    await e.publish('p/eur', null, { retain: true });
    assert.deepEqual(await values('p'), [['p/usd', 3, 3]]);
    assert.deepEqual(await values('p/eur'), []);
    await e.close();
  });
});

describe('session: retained values among held live messages', () => {
  const make = () => {
    const written: Outgoing[] = [];
    const wire: Wire = { transport: 'test', write: (batch) => written.push(...batch), close: () => undefined };
    const flusher = new Flusher();
    const s = new Session(wire, flusher);
    s.subscriptions.add('p');
    const sent = () => {
      flusher.run();
      return written.map((o) => {
        const f = o.frame as MsgFrame;
        return [f.topic, f.off, f.retained ?? false];
      });
    };
    return { s, sent };
  };
  const live = (topic: string, off: number) => messageOutgoing(topic, off, off);
  const kept = (topic: string, off: number) => retainedOutgoing({ topic, data: off, off });

  it('each value once, in offset order with the held live messages; a late live copy (or older message) of that topic is dropped', () => {
    const { s, sent } = make();
    s.hold();
    // Published while the subscription read the values: p/b@4 is also the retained value.
    s.send(live('p/a', 3));
    s.send(live('p/b', 4));
    s.retain([kept('p/c', 2), kept('p/b', 4)]);
    s.release();
    // Still on its way from another node (Redis): an older p/c, then a copy of p/b@4.
    s.send(live('p/c', 1));
    s.send(live('p/b', 4));
    // Another topic below the floor is a live message like any other.
    s.send(live('p/d', 4));
    s.send(live('p/c', 5));
    // Floors are gone once a message above them came: an old offset is not filtered any more.
    s.send(live('p/c', 2));
    assert.deepEqual(sent(), [
      ['p/c', 2, true],
      ['p/a', 3, false],
      ['p/b', 4, true],
      ['p/d', 4, false],
      ['p/c', 5, false],
      ['p/c', 2, false],
    ]);
  });

  it('the retained frame is the msg frame with retained: true, its payload text reused', () => {
    const out = retainedOutgoing({ topic: 't', data: { a: 1 }, dataText: '{"a":1}', off: 7 });
    assert.equal(out.text(), '{"t":"msg","retained":true,"topic":"t","off":7,"data":{"a":1}}');
    assert.deepEqual(JSON.parse(out.withSkipped(2).text()), {
      t: 'msg',
      skipped: 2,
      retained: true,
      topic: 't',
      off: 7,
      data: { a: 1 },
    });
  });
});
