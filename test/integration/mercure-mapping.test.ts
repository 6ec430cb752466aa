/**
 * The Mercure topic ↔ rt topic mapping, and selector matching as the reference hub does it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hasDotSegment, isValidTopic } from '@rt/protocol';
import { mercureToRtTopic, rtToMercureTopic } from '@rt/server';
import { compileSelector } from '../../packages/server/src/mercure/selectors.ts';

describe('mercure: topic mapping', () => {
  it('maps IRIs to readable rt topics and back', () => {
    const cases: [string, string][] = [
      ['https://example.com/books/1', 'https:/example.com/books/1'],
      ['chat/room1', 'chat/room1'],
      ['urn:isbn:978-0', 'urn:isbn:978-0'],
      ['https://example.com/books/', 'https:/example.com/books/%'],
      ['https://example.com/a b?x=1#f', 'https:/example.com/a%20b%3Fx=1%23f'],
      ['https:/single-slash', 'https%3A/single-slash'],
      ['/.well-known/mercure', '%/.well-known/mercure'],
      ['100%', '100%25'],
      ['*', '%2A'],
      ['https://例え.jp/本', 'https:/例え.jp/本'],
    ];
    for (const [mercure, rt] of cases) {
      assert.equal(mercureToRtTopic(mercure), rt, mercure);
      assert.equal(rtToMercureTopic(rt), mercure, rt);
      assert.ok(isValidTopic(rt, { maxLength: 1000, maxDepth: 100 }), rt);
    }
  });

  it('is reversible and gives a valid rt topic for any string (within length limits)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.webUrl({ withQueryParameters: true, withFragments: true }),
          fc.string({ unit: 'grapheme' }),
        ),
        (topic) => {
          const rt = mercureToRtTopic(topic);
          assert.equal(rtToMercureTopic(rt), topic);
          // Dot segments are refused both ways (test/security/dot-segments.test.ts).
          const valid = isValidTopic(rt, { maxLength: 100_000, maxDepth: 100_000 });
          assert.equal(valid, !hasDotSegment(topic), `${JSON.stringify(topic)} -> ${rt}`);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('mercure: selectors', () => {
  it('match as the reference hub: *, equality, RFC 6570 templates of every level', () => {
    const cases: [string, string, boolean][] = [
      ['*', 'anything at all', true],
      ['https://example.com/books/1', 'https://example.com/books/1', true],
      ['https://example.com/books/1', 'https://example.com/books/10', false],
      ['https://example.com/books/{id}', 'https://example.com/books/1', true],
      ['https://example.com/books/{id}', 'https://example.com/books/', true],
      ['https://example.com/books/{id}', 'https://example.com/books/1/chapters', false],
      ['https://example.com/books/{id}', 'https://example.com/books/{id}', true],
      ['https://example.com/{+path}', 'https://example.com/a/b/c', true],
      ['https://example.com/books{/id}', 'https://example.com/books/1', true],
      [
        'https://example.com/users/foo/{?topic}',
        `https://example.com/users/foo/?topic=${encodeURIComponent('https://example.com/books/1')}`,
        true,
      ],
      ['/subscriptions{/topic}{/subscriber}', '/subscriptions', true],
      ['/subscriptions{/topic}{/subscriber}', '/subscriptions/a%3Ab/urn%3Auuid%3Ax', true],
      ['https://example.com/{unclosed', 'https://example.com/{unclosed', true],
      ['https://example.com/{unclosed', 'https://example.com/x', false],
    ];
    for (const [selector, topic, expected] of cases)
      assert.equal(compileSelector(selector).matches(topic), expected, `${selector} ~ ${topic}`);
  });
});
