/**
 * Who may connect and what they may touch, over every transport: token rejections,
 * per-operation denials that leave the connection alive, hierarchy that must not leak,
 * token expiry with a refresh and no app code, and identity in actions.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RtError, type Client } from '@rt/client';
import { memory, type Identity } from '@rt/server';
import { Collector, TRANSPORTS, clients, deadline, quiet, startBroker } from '../helpers/index.ts';
import { SECRET, token } from '../helpers/security.ts';

/** The first `error` event of a client that never opens, as an RtError. */
function refusal(client: Client): Promise<RtError> {
  return deadline(
    new Promise<RtError>((resolve, reject) => {
      client.on('state', ({ to }) => {
        if (to === 'open') reject(new Error('the client connected, but it should have been refused'));
      });
      client.on('error', ({ error }) => resolve(error as RtError));
    }),
    5000,
    'the refusal',
  );
}

/** The error a promise rejects with (failing when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<RtError> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof RtError, `expected an RtError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a rejection');
}

for (const transport of TRANSPORTS) {
  describe(`security over ${transport}`, () => {
    it('refuses a missing, expired, not-yet-valid, forged or wrong-key token with unauthorized', async () => {
      await using b = await startBroker({ jwt: { key: SECRET } });
      await using c = clients(b.url, transport, { reconnect: false });
      const good = await token({ rt: { subscribe: ['*'] } });
      const [h, , s] = good.split('.');
      const forged = `${h}.${Buffer.from(JSON.stringify({ rt: { subscribe: ['*'], publish: ['*'] } })).toString('base64url')}.${s}`;
      const cases: [string, string | undefined, RegExp][] = [
        ['missing', undefined, /token is required/],
        ['expired', await token({}, { exp: -5 }), /expired/],
        ['not yet valid', await token({}, { nbf: 60 }), /nbf/],
        ['forged', forged, /signature/],
        [
          'wrong key',
          await token({}, { key: new TextEncoder().encode('another-secret-of-32-bytes-long!!!') }),
          /signature/,
        ],
        ['garbage', 'not-a-token', /invalid token/],
      ];
      for (const [what, auth, reason] of cases) {
        const error = await refusal(c.make(auth === undefined ? {} : { auth }));
        assert.equal(error.code, 'unauthorized', what);
        assert.match(error.message, reason, what);
      }
      assert.equal(b.broker.stats().sessions, 0);
      // The same broker admits a good token.
      const ok = c.make({ auth: good });
      await ok.ready();
      assert.equal(ok.transport, transport);
    });

    it('a forbidden operation gets forbidden, and the connection lives on', async () => {
      await using b = await startBroker({ jwt: { key: SECRET } });
      await using c = clients(b.url, transport);
      const client = c.make({ auth: await token({ rt: { subscribe: ['users/42'], publish: ['users/42/out'] } }) });
      await client.ready();
      const states = new Collector<string>();
      client.on('state', ({ to }) => states.push(to));
      for (const [what, attempt] of [
        ['subscribe users', () => client.topic('users').subscribe().ready],
        ['subscribe users/7', () => client.topic('users/7').subscribe().ready],
        ['publish users/42', () => client.topic('users/42').publish(1)],
        ['push users/42', () => client.topic('users/42').push(1)],
        ['bus join users/7', () => client.topic('users/7').bus().ready],
        ['bus send users/42', () => client.topic('users/42').bus().send(1)],
        ['pull users/7', () => client.topic('users/7').pull(() => undefined).ready],
      ] as const) {
        const error = await rejection(attempt());
        assert.equal(error.code, 'forbidden', what);
      }
      // Still the same connection, and allowed operations work on it.
      const got = new Collector<unknown>();
      await client.topic('users/42').subscribe(got.push).ready;
      await client.topic('users/42/out').publish('mine');
      await b.broker.publish('users/42/inbox', 'hello');
      await got.until(2);
      assert.deepEqual(got.items, ['mine', 'hello']);
      assert.deepEqual(states.items, []);
      assert.equal(client.state, 'open');
    });

    it('hierarchy does not leak: allowed users/42 never receives users/7 through any path', async () => {
      await using b = await startBroker({ jwt: { key: SECRET } });
      await using c = clients(b.url, transport);
      const alice = c.make({
        auth: await token({ sub: 'alice', rt: { subscribe: ['users/42'], publish: ['users/42'] } }),
      });
      const admin = c.make({ auth: await token({ sub: 'admin', rt: { subscribe: ['*'], publish: ['*'] } }) });
      await Promise.all([alice.ready(), admin.ready()]);
      // History exists on users/7 before anyone subscribes (a recovery replay would carry it).
      await b.broker.publish('users/7/secret', 'old');
      const leaked = new Collector<unknown>();
      const mine = new Collector<unknown>();
      assert.equal((await rejection(alice.topic('users').subscribe(leaked.push).ready)).code, 'forbidden');
      assert.equal((await rejection(alice.topic('users/7').subscribe(leaked.push).ready)).code, 'forbidden');
      const aliceBus = alice.topic('users/7').bus();
      aliceBus.on('message', ({ data }) => leaked.push(data));
      assert.equal((await rejection(aliceBus.ready)).code, 'forbidden');
      await alice.topic('users/42').subscribe(mine.push).ready;
      const adminBus = admin.topic('users/7').bus();
      await adminBus.ready;
      await admin.topic('users/7/secret').publish('live');
      await adminBus.send('bus');
      await b.broker.publish('users/7', 'server');
      await admin.topic('users/42/note').publish('for alice');
      await mine.until(1);
      await quiet();
      assert.deepEqual(leaked.items, []);
      assert.deepEqual(mine.items, ['for alice']);
    });

    it("async authorize keeps a session's frames in order, and its refusals are forbidden", async () => {
      let n = 0;
      await using b = await startBroker({
        // Every third check is slow: without ordering, later publishes would overtake it.
        authorize: async (_identity, op, topic) => {
          if (op === 'pub' && n++ % 3 === 0) await new Promise((r) => setTimeout(r, 15));
          return !topic.startsWith('secret');
        },
      });
      await using c = clients(b.url, transport);
      const sub = c.make();
      const pub = c.make();
      const got = new Collector<number>();
      await sub.topic<number>('seq').subscribe(got.push).ready;
      const sent = Array.from({ length: 60 }, (_, i) => pub.topic<number>('seq').publish(i));
      const refused = rejection(pub.topic('secret').publish(0));
      await Promise.all(sent);
      assert.equal((await refused).code, 'forbidden');
      await got.until(60);
      assert.deepEqual(
        got.items,
        Array.from({ length: 60 }, (_, i) => i),
      );
    });

    it('frames waiting on an async authorize for a connection that closed are dropped, leaving nothing behind', async () => {
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const asked = new Collector<string>();
      // Slow for one topic, immediate for the others: the later frames queue behind the slow one.
      const engine = memory();
      const listened: string[] = [];
      const listen = engine.listen.bind(engine);
      engine.listen = (topic) => {
        listened.push(topic);
        return listen(topic);
      };
      await using b = await startBroker({
        engine,
        authorize: (_identity, _op, topic) => {
          asked.push(topic);
          return topic === 'slow' ? gate.then(() => true) : true;
        },
      });
      await using c = clients(b.url, transport);
      const client = c.make();
      await client.ready();
      client.topic('slow').subscribe();
      client.topic('fast').subscribe();
      await asked.until(1);
      client.close();
      await deadline(
        (async () => {
          while (b.broker.stats().sessions > 0) await quiet(10);
        })(),
        5000,
        'the broker to see the connection close',
      );
      open();
      await quiet();
      assert.deepEqual(listened, [], 'no subscription of the closed connection');
      assert.deepEqual(asked.items, ['slow'], 'the frames behind it are not even authorized');
    });

    it('an expired token closes the connection with token_expired; the client refreshes and resumes by itself', async () => {
      await using b = await startBroker({ jwt: { key: SECRET } });
      b.broker.action('whoami', (session) => (session.identity as Identity & { sub?: string })?.sub ?? null);
      await using c = clients(b.url, transport);
      let issued = 0;
      // The first token lives 2 to 3 s (exp has whole seconds: 1 s would leave anywhere from 0 to
      // 1 s, too little for a loaded machine to connect in); later ones a minute. No other app code.
      const auth = (): Promise<string> => {
        issued++;
        return token(
          { sub: `user-${issued}`, rt: { subscribe: ['feed'], publish: ['feed'] } },
          { exp: issued === 1 ? 3 : 60 },
        );
      };
      const client = c.make({ auth });
      const reasons = new Collector<string>();
      client.on('state', ({ to, reason }) => {
        if (to === 'reconnecting') reasons.push(reason ?? '');
      });
      const got = new Collector<unknown>();
      await client.topic('feed').subscribe(got.push).ready;
      assert.equal(await client.call('whoami'), 'user-1');
      await reasons.until(1, 8000, 'the token to expire');
      assert.match(reasons.items[0]!, /^token_expired/);
      // Published while the client is away: recovered when it resubscribes.
      await b.broker.publish('feed', 'during');
      await deadline(client.ready(), 5000, 'the reconnect');
      assert.equal(await client.call('whoami'), 'user-2');
      // Resubscribed with no app code: a message published now arrives too.
      await b.broker.publish('feed', 'after');
      await got.until(2);
      assert.deepEqual(got.items, ['during', 'after']);
      assert.equal(issued, 2);
    });

    it("actions see the caller's identity; unknown and failing actions come back as errors", async () => {
      await using b = await startBroker({ jwt: { key: SECRET } });
      b.broker.action('whoami', (session) => ({
        sub: (session.identity as { sub?: string } | null)?.sub ?? null,
        session: typeof session.sessionId,
      }));
      b.broker.action('fail', () => {
        throw new Error('nope');
      });
      await using c = clients(b.url, transport);
      const client = c.make({ auth: await token({ sub: 'u42' }) });
      assert.deepEqual(await client.call('whoami'), { sub: 'u42', session: 'string' });
      assert.equal((await rejection(client.call('missing'))).code, 'unknown_action');
      const failed = await rejection(client.call('fail'));
      assert.equal(failed.code, 'action_failed');
      assert.match(failed.message, /nope/);
    });

    it('allowAnonymous grants: anonymous clients get exactly those topics; tokens still work', async () => {
      await using b = await startBroker({ jwt: { key: SECRET }, allowAnonymous: { subscribe: ['news'] } });
      await using c = clients(b.url, transport);
      const anonymous = c.make();
      await anonymous.ready();
      const got = new Collector<unknown>();
      await anonymous.topic('news').subscribe(got.push).ready;
      assert.equal((await rejection(anonymous.topic('news').publish('x'))).code, 'forbidden');
      assert.equal((await rejection(anonymous.topic('private').subscribe().ready)).code, 'forbidden');
      const writer = c.make({ auth: await token({ rt: { publish: ['news'] } }) });
      await writer.topic('news/today').publish('headline');
      await got.until(1);
      assert.deepEqual(got.items, ['headline']);
      // A bad token is refused even where anonymous connections are allowed.
      const bad = c.make({ auth: 'not-a-token', reconnect: false });
      assert.equal((await refusal(bad)).code, 'unauthorized');
    });

    it('authenticate hook: sees headers, query, cookies and the token; its identity and refusals apply', async () => {
      const logged: unknown[] = [];
      const logger = {
        debug() {},
        info() {},
        warn: (o: unknown) => logged.push(o),
        error: (o: unknown) => logged.push(o),
      };
      const seen: { token?: string; transport: string; hasHeaders: boolean }[] = [];
      await using b = await startBroker({
        logger,
        authenticate: ({ token: t, transport: name, headers }) => {
          seen.push({
            ...(t !== undefined ? { token: t } : {}),
            transport: name,
            hasHeaders: typeof headers === 'object',
          });
          if (t === 'sesame') return { user: 'ali', rt: { subscribe: ['cave'] } };
          throw new Error('unknown password');
        },
      });
      b.broker.action('who', (session) => session.identity);
      await using c = clients(b.url, transport, { reconnect: false });
      const ok = c.make({ auth: 'sesame' });
      assert.deepEqual(await ok.call('who'), { user: 'ali', rt: { subscribe: ['cave'] } });
      assert.equal((await rejection(ok.topic('treasure').subscribe().ready)).code, 'forbidden');
      await ok.topic('cave').subscribe().ready;
      const error = await refusal(c.make({ auth: 'open-barley' }));
      assert.equal(error.code, 'unauthorized');
      assert.equal(error.message.includes('open-barley'), false, "the client is not told the hook's reason");
      assert.equal(seen[0]!.token, 'sesame');
      assert.equal(seen[0]!.transport, transport);
      assert.ok(JSON.stringify(logged).includes('unknown password'), 'the reason is logged');
      assert.equal(JSON.stringify(logged).includes('open-barley'), false, 'the token is never logged');
    });
  });
}
