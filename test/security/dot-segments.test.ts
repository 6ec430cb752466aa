/**
 * Dot segments (issue 13): a user allowed to publish only `…/users/42` got 200 on
 * `…/users/42/%2E%2E/7`, which the Mercure side saw as `https://example.com/users/42/../7` and
 * URL-pattern matching resolved to user 7's topic. rt topics now never carry `.`/`..` segments
 * in any encoding, and the Mercure ↔ rt mapping refuses them the same way in both directions.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hasDotSegment, isValidTopic, topicProblem } from '@rt/protocol';
import { mercureToRtTopic, rtToMercureTopic } from '@rt/server';
import { hubUrl, publish, publisher, startHub, subscribe } from '../helpers/mercure.ts';
import { quiet, startBroker } from '../helpers/index.ts';
import { SECRET, token } from '../helpers/security.ts';

const DOTTY = ['..', '.', '%2E%2E', '%2e%2E', '.%2E', '%2E.', '%2E', '%252E%252E', 'x%2F..%2Fy', 'x%5C..%5Cy', '%2F..'];

describe('security: dot segments', () => {
  it('are never in an rt topic, in any encoding', () => {
    for (const segment of DOTTY) {
      const topic = `users/42/${segment}/7`;
      assert.match(topicProblem(topic) ?? '', /dot segment/, topic);
    }
    for (const fine of ['users/...', 'users/.hidden', 'a.b/c..d', 'v1.2/%2E%2E%2E', 'a%2Fb'])
      assert.equal(topicProblem(fine), null, fine);
  });

  it('are refused identically by the Mercure → rt mapping and by rt topics', () => {
    const dotty = fc.oneof(fc.constantFrom(...DOTTY, '/', '\\', 'a', '%', '2E', '25'), fc.string({ maxLength: 3 }));
    fc.assert(
      fc.property(fc.array(dotty, { maxLength: 8 }), (pieces) => {
        const mercure = `https://example.com/${pieces.join('')}`;
        const rt = mercureToRtTopic(mercure);
        assert.equal(rtToMercureTopic(rt), mercure);
        const valid = isValidTopic(rt, { maxLength: 100_000, maxDepth: 100_000 });
        // A Mercure topic is refused exactly when its rt topic is.
        assert.equal(valid, !hasDotSegment(mercure), `${mercure} -> ${rt}`);
        // And a valid rt topic never gives a Mercure topic with a dot segment.
        if (valid) assert.equal(hasDotSegment(rtToMercureTopic(rt)), false);
      }),
      { numRuns: 3000 },
    );
  });

  it('cannot reach another user through POST /rt/publish: %2E%2E is 400, not 200', async () => {
    await using b = await startBroker({ jwt: { key: SECRET } });
    const auth = `Bearer ${await token({ rt: { publish: ['https:/example.com/users/42'] } })}`;
    const post = async (topic: string): Promise<number> => {
      const res = await fetch(`${b.url}/rt/publish`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify({ topic, data: 'x' }),
      });
      await res.text();
      return res.status;
    };
    assert.equal(await post('https:/example.com/users/42/inbox'), 200);
    assert.equal(await post('https:/example.com/users/7'), 403);
    for (const segment of DOTTY) assert.equal(await post(`https:/example.com/users/42/${segment}/7`), 400, segment);
  });

  it('cannot reach a match_urlpattern subscriber through a Mercure topic or alternate topic', async () => {
    await using b = await startHub();
    using victim = subscribe(hubUrl(b.hub, [], [['match_urlpattern', 'https://example.com/users/7']]));
    await victim.opened;
    const pub = await publisher(['https://example.com/users/42', 'https://example.com/users/42/{+rest}']);
    for (const topics of [
      ['https://example.com/users/42/../7'],
      ['https://example.com/users/42/%2E%2E/7'],
      ['https://example.com/users/42', 'https://example.com/users/42/%2e./7'],
      ['https://example.com/users/42', 'https://example.com/users/42/x/..%5C..%5C7'],
    ]) {
      const res = await publish(b.hub, [...topics.map((t): [string, string] => ['topic', t]), ['data', 'leak']], pub);
      assert.equal(res.status, 400, `${topics.join(' ')}: ${res.body}`);
      assert.match(res.body, /dot segment/);
    }
    await quiet();
    assert.equal(victim.events.items.length, 0);
  });
});
