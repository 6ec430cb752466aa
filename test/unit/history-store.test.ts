/**
 * The memory engine's history budgets on their own: the byte budget evicts the oldest message
 * broker-wide (from every history that lists it), the topic cap evicts the least recently
 * published topic but never the publish's own, a history made again remembers what the topic
 * lost before, and payloads come back as published from the one form held.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EngineLimits } from '../../packages/server/src/engines/engine.ts';
import { MemoryEngine } from '../../packages/server/src/engines/memory.ts';
import { DEFAULT_LIMITS } from '../../packages/server/src/options.ts';

/** What one message of `payload` (JSON text of that many characters) on `topic` counts. */
const cost = (topic: string, textLength: number): number => textLength + topic.length + 128;

async function engine(limits: Partial<EngineLimits>): Promise<MemoryEngine> {
  const e = new MemoryEngine();
  await e.start({ deliverMessage() {}, deliverBus() {} }, { ...DEFAULT_LIMITS, ...limits });
  return e;
}

describe('memory engine: history budgets', () => {
  it('the byte budget evicts the oldest message broker-wide, from every history listing it', async () => {
    const e = await engine({ maxHistoryBytes: 3 * cost('a/x', 5) });
    const start = await e.position();
    await e.publish('a/x', 'one', { dataText: '"one"' });
    await e.publish('b', 'two', { dataText: '"two"' });
    await e.publish('a/x', 'thr', { dataText: '"thr"' });
    assert.equal(e.stats().historyMessages, 3);
    await e.publish('b', 'fou', { dataText: '"fou"' });
    const s = e.stats();
    assert.deepEqual([s.historyMessages, s.historyEvicted], [3, 1]);
    assert.ok(s.historyBytes! <= 3 * cost('a/x', 5));
    // 'one' is gone from a/x, from a and from the root alike; a/x knows it lost it.
    for (const topic of ['a/x', 'a']) {
      const r = await e.recover(topic, start.ep, start.off);
      assert.deepEqual([r.gap, r.messages.map((m) => m.data)], ['history', ['thr']], topic);
    }
    const root = await e.recover('', start.ep, start.off);
    assert.deepEqual(
      root.messages.map((m) => m.data),
      ['two', 'thr', 'fou'],
    );
    // b lost nothing: no gap.
    const b = await e.recover('b', start.ep, start.off);
    assert.deepEqual([b.gap, b.messages.map((m) => m.data)], [undefined, ['two', 'fou']]);
    await e.close();
  });

  it('a message bigger than the whole budget is delivered but not kept; recovering past it is a gap', async () => {
    const e = await engine({ maxHistoryBytes: 1000 });
    const start = await e.position();
    const big = 'x'.repeat(2000);
    await e.publish('big', big);
    assert.deepEqual([e.stats().historyMessages, e.stats().historyBytes], [0, 0]);
    const r = await e.recover('big', start.ep, start.off);
    assert.deepEqual([r.gap, r.messages], ['history', []]);
    await e.close();
  });

  it('the topic cap evicts the least recently published, never the publish’s own topics', async () => {
    // '' and 'a' and 'a/b': a publish on a/b needs three histories.
    const e = await engine({ maxHistoryTopics: 3 });
    const start = await e.position();
    await e.publish('x', 1);
    await e.publish('a/b', 2);
    const s = e.stats();
    assert.deepEqual([s.historyTopics, s.historyTopicsEvicted], [3, 1]);
    const x = await e.recover('x', start.ep, start.off);
    assert.deepEqual([x.gap, x.messages], ['history', []]);
    const ab = await e.recover('a/b', start.ep, start.off);
    assert.deepEqual([ab.gap, ab.messages.map((m) => m.data)], [undefined, [2]]);
    // Publishing x again evicts the least recently published of the rest: a (a/b was listed after it).
    await e.publish('x', 3);
    assert.deepEqual([e.stats().historyTopics, e.stats().historyTopicsEvicted], [3, 2]);
    const a = await e.recover('a', start.ep, start.off);
    assert.deepEqual([a.gap, a.messages], ['history', []]);
    const root = await e.recover('', start.ep, start.off);
    assert.deepEqual(
      root.messages.map((m) => m.data),
      [1, 2, 3],
      'the root was never evicted: it still lists x’s first message',
    );
    await e.close();
  });

  it('a topic’s history made again remembers what the topic lost before', async () => {
    const e = await engine({ maxHistoryTopics: 2 });
    const start = await e.position();
    await e.publish('t', 'lost');
    await e.publish('u', 'evicts t');
    await e.publish('t', 'back');
    const r = await e.recover('t', start.ep, start.off);
    assert.deepEqual([r.gap, r.messages.map((m) => m.data)], ['history', ['back']]);
    const caughtUp = await e.recover('t', start.ep, start.off + 2);
    assert.deepEqual([caughtUp.gap, caughtUp.messages.map((m) => m.data)], [undefined, ['back']]);
    await e.close();
  });

  it('payloads come back as published, JSON from its text and bytes as bytes', async () => {
    const e = await engine({});
    const start = await e.position();
    const object = { nested: [1, 'two', { three: null }], ü: '✓' };
    await e.publish('p', object);
    await e.publish('p', 'text', { dataText: '"text"' });
    await e.publish('p', new Uint8Array([0, 1, 255]));
    object.nested.push(4); // a later change by the publisher does not reach history
    const r = await e.recover('p', start.ep, start.off);
    assert.deepEqual(
      r.messages.map((m) => m.data),
      [{ nested: [1, 'two', { three: null }], ü: '✓' }, 'text', new Uint8Array([0, 1, 255])],
    );
    assert.deepEqual(
      r.messages.map((m) => m.dataText),
      ['{"nested":[1,"two",{"three":null}],"ü":"✓"}', '"text"', undefined],
    );
    await e.close();
  });
});
