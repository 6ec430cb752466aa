/**
 * Retained values are bounded (issue 13's memory budgets): at most `maxRetainedTopics` topics
 * keep a value, on the memory engine and on Redis. Past it the least recently retained value
 * goes (counted in `stats().retainedEvicted`); a topic retained again is recent again; a late
 * subscriber gets exactly the values still kept. Without the bound, any publisher could keep a
 * value on as many topics as it liked, for ever.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type BrokerOptions, redis } from '@rt/server';
import type { MessageMeta } from '@rt/client';
import { Collector, clients, quiet, startBroker } from '../helpers/index.ts';
import { REDIS_URL, cleanRedis, requireRedis, uniquePrefix } from '../helpers/redis.ts';

const MAX = 3;

const ENGINES: { name: string; options(): { options: Partial<BrokerOptions>; done(): void } }[] = [
  { name: 'memory', options: () => ({ options: {}, done: () => undefined }) },
  {
    name: 'redis',
    options() {
      requireRedis();
      const prefix = uniquePrefix();
      return { options: { engine: redis({ url: REDIS_URL, prefix }) }, done: () => cleanRedis(prefix) };
    },
  },
];

for (const engine of ENGINES) {
  describe(`retained values are bounded on ${engine.name}`, () => {
    it(`keeps at most ${MAX} topics' values, dropping the least recently retained, and counts the drops`, async () => {
      const { options, done } = engine.options();
      try {
        await using b = await startBroker({ ...options, limits: { maxRetainedTopics: MAX } });
        // t1..t5 retained in order, then t2 again: t1, t3 go (t2 became recent again).
        for (const t of ['t1', 't2', 't3', 't4']) await b.broker.publish(`cap/${t}`, t, { retain: true });
        await b.broker.publish('cap/t2', 't2 again', { retain: true });
        await b.broker.publish('cap/t5', 't5', { retain: true });
        assert.equal(b.broker.stats().retainedEvicted, 2);
        if (engine.name === 'memory') assert.equal(b.broker.stats().retainedTopics, MAX);

        await using c = clients(b.url, 'websocket');
        const got = new Collector<[unknown, string, boolean | undefined]>();
        await c
          .make()
          .topic('cap')
          .subscribe((data: unknown, meta: MessageMeta) => got.push([data, meta.topic, meta.retained])).ready;
        await quiet();
        assert.deepEqual(got.items, [
          ['t4', 'cap/t4', true],
          ['t2 again', 'cap/t2', true],
          ['t5', 'cap/t5', true],
        ]);

        // A dropped topic has no value for a later subscriber either; clearing a kept one frees its place.
        const lone = new Collector<unknown>();
        await c
          .make()
          .topic('cap/t1')
          .subscribe((data) => lone.push(data)).ready;
        await b.broker.publish('cap/t4', null, { retain: true });
        await b.broker.publish('cap/t6', 't6', { retain: true });
        assert.equal(b.broker.stats().retainedEvicted, 2, 'clearing t4 made room for t6');
        await quiet();
        assert.deepEqual(lone.items, [], 'cap/t1 was dropped: no retained value');
      } finally {
        done();
      }
    });
  });
}
