import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ancestry, covers, isValidTopic, topicProblem } from '@rt/protocol';

const segment = fc.stringMatching(/^[a-z0-9_\-~:@]{1,8}$/).filter((s) => s !== '.' && s !== '..');
const topic = fc.array(segment, { minLength: 1, maxLength: 6 }).map((s) => s.join('/'));

describe('topic rules', () => {
  it('accepts ordinary topics, unicode letters and URL-safe punctuation', () => {
    for (const t of [
      'wong',
      'wong/amy',
      'a/b/c/d',
      'chat:room-1',
      'user@host',
      'café/ünï',
      'a.b/c_d~e',
      "x(1)+y=2;z,w!$&'",
    ]) {
      assert.equal(topicProblem(t), null, t);
    }
  });

  it('refuses empty segments, dot segments, reserved characters and wrong types, saying why', () => {
    const cases: [unknown, RegExp][] = [
      ['', /empty/],
      ['/a', /empty segment/],
      ['a/', /empty segment/],
      ['a//b', /empty segment/],
      ['a/../b', /"\.\."/],
      ['./a', /"\."/],
      ['a b', /not allowed/],
      ['a/*', /not allowed/],
      ['a#b', /not allowed/],
      ['a?b', /not allowed/],
      ['a\nb', /not allowed/],
      [42, /must be a string/],
      [null, /must be a string/],
      [{}, /must be a string/],
    ];
    for (const [t, why] of cases) assert.match(String(topicProblem(t)), why, JSON.stringify(t));
  });

  it('enforces the length and depth limits, configurable', () => {
    assert.equal(isValidTopic('a'.repeat(256)), true);
    assert.match(String(topicProblem('a'.repeat(257))), /longer than 256/);
    assert.equal(isValidTopic(Array(16).fill('a').join('/')), true);
    assert.match(String(topicProblem(Array(17).fill('a').join('/'))), /more than 16 segments/);
    assert.match(String(topicProblem('a/b/c', { maxLength: 100, maxDepth: 2 })), /more than 2 segments/);
  });

  it('covers: a topic covers itself and its descendants only', () => {
    assert.equal(covers('a', 'a'), true);
    assert.equal(covers('a', 'a/b/c'), true);
    assert.equal(covers('a/b', 'a/b/c'), true);
    assert.equal(covers('a', 'ab'), false);
    assert.equal(covers('a/b', 'a/bc'), false);
    assert.equal(covers('a/b', 'a'), false);
    assert.equal(covers('a/b/c', 'a/b'), false);
  });

  it('property: covers(s, t) holds exactly when s is one of the ancestry of t', () => {
    fc.assert(
      fc.property(topic, topic, (s, t) => {
        assert.equal(covers(s, t), ancestry(t).includes(s));
      }),
      { numRuns: 2000 },
    );
  });

  it('property: every generated topic is valid and its ancestry ends with itself, one entry per segment', () => {
    fc.assert(
      fc.property(topic, (t) => {
        assert.equal(isValidTopic(t), true);
        const chain = ancestry(t);
        assert.equal(chain.length, t.split('/').length);
        assert.equal(chain.at(-1), t);
        for (const a of chain) assert.equal(covers(a, t), true);
      }),
      { numRuns: 1000 },
    );
  });
});
