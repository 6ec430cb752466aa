/**
 * Hostile Mercure selectors (issue 13): a subscriber's selectors must not make matching cost
 * more than linear time in the topic's length, whatever they are, and an update must not test
 * every subscriber's selectors. On the old matcher (backtracking over every split of the topic
 * between expressions), the first test's health check took seconds to hours.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileSelector,
  MAX_PATTERN_SELECTORS,
  type Selector,
  SelectorIndex,
  type SelectorKind,
} from '../../packages/server/src/mercure/selectors.ts';
import { deadline } from '../helpers/index.ts';
import { hubUrl, publish, publisher, startHub, subscribe } from '../helpers/mercure.ts';

const HOSTILE_TEMPLATE = '{+v0}{+v1}{+v2}{+v3}{+v4}{+v5}{+v6}Z';
/** Six segment wildcards in one path segment: a backtracking engine tries every split of it. */
const HOSTILE_PATTERN = 'https://example.com/:a:b:c:d:e:f!';
/** The best of three health round trips must stay under 100 ms (the bound; one backtracking match cost 15.9 s on the old matcher). */
const HEALTH_BOUND_MS = 100;

async function healthRoundTrip(url: string): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${url}/rt/health`);
  await res.text();
  assert.equal(res.status, 200);
  return performance.now() - started;
}

describe('security: hostile Mercure selectors', () => {
  it(`keeps /rt/health under ${HEALTH_BOUND_MS} ms while hostile templates and URL patterns are subscribed`, async () => {
    await using b = await startHub();
    using hostile = subscribe(
      hubUrl(
        b.hub,
        [HOSTILE_TEMPLATE, `https://example.com/${HOSTILE_TEMPLATE}`],
        [['match_urlpattern', HOSTILE_PATTERN]],
      ),
    );
    using honest = subscribe(hubUrl(b.hub, ['https://example.com/{+rest}']));
    await Promise.all([hostile.opened, honest.opened]);
    const pub = await publisher();
    const topic = `https://example.com/${'a'.repeat(120)}`;
    for (let i = 0; i < 3; i++) {
      const res = await publish(
        b.hub,
        [
          ['topic', topic],
          ['data', `update ${i}`],
        ],
        pub,
      );
      assert.equal(res.status, 200, res.body);
    }
    // Delivery (the matching) has run for all three once the honest subscriber has them.
    await honest.events.until(3);
    const times = [await healthRoundTrip(b.url), await healthRoundTrip(b.url), await healthRoundTrip(b.url)];
    assert.ok(Math.min(...times) < HEALTH_BOUND_MS, `health round trips took ${times.map(Math.round).join(', ')} ms`);
    assert.equal(hostile.events.items.length, 0);
  });

  it('matches hostile selectors against long topics in linear time', { timeout: 20_000 }, () => {
    const template = compileSelector(HOSTILE_TEMPLATE);
    const pattern = compileSelector(HOSTILE_PATTERN, 'urlpattern');
    const long = 'x'.repeat(2000);
    // Each of these would not finish in a lifetime with a backtracking matcher.
    assert.equal(template.matches(long), false);
    assert.equal(template.matches(`${long}Z`), true);
    assert.equal(pattern.matches(`https://example.com/${long}`), false);
    assert.equal(pattern.matches(`https://example.com/${long}!`), true);
  });

  it('refuses URL patterns with regular expression groups, too many patterns and overlong selectors with 400', async () => {
    await using b = await startHub();
    const cases: [string, [string, string][], RegExp][] = [
      ['regexp group', [['match_urlpattern', 'https://example.com/:p((?:[^!]|[^!])*!)']], /regular expression/],
      ['overlong', [['topic', `https://example.com/{id}${'x'.repeat(3000)}`]], /longer than/],
      [
        'too many patterns',
        Array.from({ length: MAX_PATTERN_SELECTORS + 1 }, (_, i): [string, string] => ['topic', `t/${i}/{x}`]),
        /at most/,
      ],
    ];
    for (const [what, params, message] of cases) {
      const res = await fetch(hubUrl(b.hub, [], params));
      const body = await res.text();
      assert.equal(res.status, 400, what);
      assert.match(body, message, what);
    }
    // Plain topics are cheap: many of them are still fine.
    const many = Array.from({ length: MAX_PATTERN_SELECTORS * 2 }, (_, i) => `https://example.com/books/${i}`);
    using ok = subscribe(hubUrl(b.hub, many));
    await ok.opened;
  });

  it('indexes subscribers so that an update only tests the selectors that may match it', () => {
    type Owner = { selectors: Selector[]; name: string };
    const index = new SelectorIndex<Owner>();
    const owner = (name: string, value: string, kind?: SelectorKind): Owner => {
      const o = { name, selectors: [compileSelector(value, kind)] };
      index.add(o);
      return o;
    };
    for (let n = 0; n < 1000; n++) {
      owner(`template ${n}`, `https://example.com/users/${n}/{+rest}`);
      owner(`exact ${n}`, `https://example.com/books/${n}`);
    }
    for (let n = 0; n < 100; n++) owner(`other host ${n}`, `https://other.example/users/${n}/:x`, 'urlpattern');
    const sameHost = owner('same host', 'https://example.com/users/:n/:x', 'urlpattern');
    const wide = owner('wide', 'https://{host}/{+rest}');
    const names = (topic: string): string[] => [...index.candidates([topic])].map((o) => o.name).sort();
    assert.deepEqual(names('https://example.com/users/7/inbox'), ['same host', 'template 7', 'wide']);
    assert.deepEqual(names('https://example.com/books/7'), ['exact 7', 'same host', 'wide']);
    index.delete(wide);
    index.delete(sameHost);
    assert.deepEqual(names('https://example.com/users/70/inbox'), ['template 70']);
    assert.deepEqual(names('https://other.example/users/3/x').length, 100);
  });

  it('finds URL pattern subscribers by host name whatever the topic’s case', async () => {
    await using b = await startHub();
    using s = subscribe(hubUrl(b.hub, [], [['match_urlpattern', 'https://example.com/books/:id']]));
    await s.opened;
    const res = await publish(
      b.hub,
      [
        ['topic', 'HTTPS://EXAMPLE.COM/books/1'],
        ['data', 'one'],
      ],
      await publisher(),
    );
    assert.equal(res.status, 200, res.body);
    await deadline(s.events.until(1), 10_000, 'the update');
  });
});
