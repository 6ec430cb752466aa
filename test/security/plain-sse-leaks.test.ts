/**
 * Regressions of the leaks issue 12 found: plain SSE (`GET /rt/sse?topic=`) replayed from
 * `Last-Event-ID: <epoch>-0` what the socket.io path filters out: private Mercure updates, and
 * Mercure subscription events (other subscribers' documents with their JWT payloads). The
 * epoch is public (every `ready` id has it). With the README quick start (key + anonymous)
 * and with rt JWT on.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { quiet, startBroker } from '../helpers/index.ts';
import { KEY, hubUrl, publish, publisher, subscribe, subscriberToken } from '../helpers/mercure.ts';
import { SECRET, token as rtToken } from '../helpers/security.ts';
import { readSse, untilMessages } from '../helpers/sse.ts';

const SUBSCRIPTION_EVENTS = '%/.well-known/mercure/subscriptions';

for (const rtJwt of [false, true]) {
  describe(`plain SSE replay with the Mercure hub on${rtJwt ? ' and rt JWT' : ''}`, () => {
    it('never replays private Mercure updates nor subscription events', async () => {
      await using b = await startBroker({
        mercure: { key: KEY, anonymous: true, subscriptions: true },
        ...(rtJwt ? { jwt: { key: SECRET } } : {}),
      });
      const hub = `${b.url}/.well-known/mercure`;
      const pub = await publisher();
      // A subscriber whose token carries a payload: its subscription event is private.
      using watcher = subscribe(hubUrl(hub, ['https://example.com/secret']), {
        headers: {
          authorization: `Bearer ${await subscriberToken(['*'], KEY, { email: 'alice@example.com' })}`,
        },
      });
      await watcher.opened;
      for (const [data, priv] of [
        ['private', true],
        ['public', false],
      ] as const) {
        const fields: [string, string][] = [
          ['topic', 'https://example.com/secret'],
          ['data', data],
        ];
        if (priv) fields.push(['private', 'on']);
        assert.equal((await publish(hub, fields, pub)).status, 200);
      }
      const { ep } = await b.broker.engine.position();
      // rt JWT: a grant that covers both topics (privacy is per message, not per topic).
      const headers: Record<string, string> = rtJwt
        ? {
            authorization: `Bearer ${await rtToken({ sub: 'u', rt: { subscribe: ['https:', SUBSCRIPTION_EVENTS] } })}`,
          }
        : {};
      for (const topic of ['https:', SUBSCRIPTION_EVENTS]) {
        await using reader = await readSse(
          `${b.url}/rt/sse?topic=${encodeURIComponent(topic)}&lastEventId=${ep}-0`,
          headers,
        );
        assert.equal(reader.response.status, 200);
        await untilMessages(reader, 1);
        if (topic === 'https:') await untilMessages(reader, 2);
        await quiet(300);
        const data = reader
          .messages()
          .filter((e) => e.event === 'message')
          .map((e) => e.data);
        assert.deepEqual(data, topic === 'https:' ? ['public'] : [], `replay of ${topic}`);
        assert.ok(!reader.messages().some((e) => e.data.includes('alice@example.com')), 'no JWT payload');
      }
    });
  });
}
