/**
 * Mercure authorization: publisher and subscriber tokens from every source in the spec's
 * order, private updates with and without the right claims, separate keys, anonymous
 * subscribers, 401/403 paths, `exp` ending the stream, draft-08 `authorization_details`,
 * cookie CSRF checks and CORS.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import { quiet, startBroker } from '../helpers/index.ts';
import {
  KEY,
  SUBSCRIBER_KEY,
  hubUrl,
  publish,
  publisher,
  rawStream,
  startHub,
  subscribe,
  subscriberToken,
  token,
} from '../helpers/mercure.ts';

const BOOK = 'https://example.com/books/1';

describe('mercure: publisher authorization', () => {
  it('401 without a token or with a forged one; 403 when mercure.publish does not cover every topic, and nothing is sent', async () => {
    await using b = await startHub();
    using all = subscribe(hubUrl(b.hub, ['*']));
    await all.opened;
    const form: [string, string][] = [
      ['topic', BOOK],
      ['topic', 'https://example.com/other'],
      ['data', 'x'],
    ];
    assert.equal((await publish(b.hub, form)).status, 401, 'no token');
    const noAuthHeader = await publish(b.hub, form, { headers: { authorization: 'Basic abc' } });
    assert.equal(noAuthHeader.status, 401, 'not a Bearer header');
    assert.equal((await publish(b.hub, form, await publisher(['*'], 'wrong key'))).status, 401, 'forged');
    assert.equal((await publish(b.hub, form, await subscriberToken(['*']))).status, 403, 'no publish claim');
    const partial = await publish(b.hub, form, await publisher(['https://example.com/books/{id}']));
    assert.equal(partial.status, 403, 'alternate topic not covered');
    assert.match(partial.headers.get('www-authenticate') ?? '', /insufficient_scope/);
    await quiet();
    assert.deepEqual(all.events.items, [], 'a refused update is not dispatched, even for its allowed topics');
    const ok = await publish(
      b.hub,
      form,
      await publisher(['https://example.com/books/{id}', 'https://example.com/other']),
    );
    assert.equal(ok.status, 200);
    await all.events.until(1);
  });

  it('reads the claim under https://mercure.rocks/ and draft-08 authorization_details', async () => {
    await using b = await startHub();
    using all = subscribe(hubUrl(b.hub, ['*']));
    await all.opened;
    const namespaced = await token({ 'https://mercure.rocks/': { publish: ['*'] } });
    assert.equal(
      (
        await publish(
          b.hub,
          [
            ['topic', BOOK],
            ['data', 'a'],
          ],
          namespaced,
        )
      ).status,
      200,
    );
    const details = await token({
      authorization_details: [
        {
          type: 'https://mercure.rocks/authorization-detail',
          actions: ['publish'],
          topics: [{ match: BOOK, match_type: 'exact' }],
        },
      ],
    });
    assert.equal(
      (
        await publish(
          b.hub,
          [
            ['topic', BOOK],
            ['data', 'b'],
          ],
          details,
        )
      ).status,
      200,
    );
    assert.equal(
      (
        await publish(
          b.hub,
          [
            ['topic', 'https://example.com/books/2'],
            ['data', 'c'],
          ],
          details,
        )
      ).status,
      403,
    );
    await all.events.until(2);
    await quiet();
    assert.deepEqual(
      all.events.items.map((e) => e.data),
      ['a', 'b'],
    );
  });

  it('checks the origin of cookie-authenticated publishes (CSRF), not of Bearer ones', async () => {
    await using b = await startHub({ key: KEY, anonymous: true, publishOrigins: ['https://app.example.com'] });
    const cookie = `mercureAuthorization=${await publisher()}`;
    const form: [string, string][] = [
      ['topic', BOOK],
      ['data', 'x'],
    ];
    assert.equal((await publish(b.hub, form, { headers: { cookie } })).status, 403, 'cookie without Origin');
    assert.equal(
      (await publish(b.hub, form, { headers: { cookie, origin: 'https://evil.example.net' } })).status,
      403,
      'foreign origin',
    );
    assert.equal(
      (await publish(b.hub, form, { headers: { cookie, origin: 'https://app.example.com' } })).status,
      200,
      'allowed origin',
    );
    assert.equal(
      (await publish(b.hub, form, { headers: { cookie, referer: 'https://app.example.com/page' } })).status,
      200,
      'allowed referer',
    );
    assert.equal((await publish(b.hub, form, await publisher())).status, 200, 'Bearer needs no Origin');
  });
});

describe('mercure: subscriber authorization', () => {
  it('401 without a token unless anonymous is on; an invalid token is 401 even when it is', async () => {
    await using closed = await startHub({ key: KEY });
    const missing = await fetch(hubUrl(closed.hub, ['*']));
    assert.equal(missing.status, 401);
    assert.match(missing.headers.get('www-authenticate') ?? '', /^Bearer/);
    await using open = await startHub({ key: KEY, anonymous: true });
    assert.equal(
      (
        await fetch(hubUrl(open.hub, ['*']), {
          headers: { authorization: `Bearer ${await subscriberToken(['*'], 'wrong')}` },
        })
      ).status,
      401,
    );
    const expired = await token({ mercure: { subscribe: ['*'] } }, KEY, Math.floor(Date.now() / 1000) - 60);
    assert.equal(
      (await fetch(hubUrl(open.hub, ['*']), { headers: { authorization: `Bearer ${expired}` } })).status,
      401,
    );
  });

  it('private updates reach only subscribers whose mercure.subscribe matches one of the update topics', async () => {
    await using b = await startHub();
    const pub = await publisher();
    const alternate = `https://example.com/users/foo/?topic=${encodeURIComponent(BOOK)}`;
    using anonymous = subscribe(hubUrl(b.hub, ['https://example.com/books/{id}']));
    using allowed = subscribe(hubUrl(b.hub, ['https://example.com/books/{id}']), {
      headers: { authorization: `Bearer ${await subscriberToken([BOOK])}` },
    });
    // The spec's example: routed by the books template, authorized by the alternate topic.
    using viaAlternate = subscribe(hubUrl(b.hub, ['https://example.com/books/{id}']), {
      headers: { authorization: `Bearer ${await subscriberToken(['https://example.com/users/foo/{?topic}'])}` },
    });
    using wrongClaim = subscribe(hubUrl(b.hub, ['https://example.com/books/{id}']), {
      headers: { authorization: `Bearer ${await subscriberToken(['https://example.com/books/2'])}` },
    });
    // A claim alone routes nothing: the topic parameters decide what is delivered.
    using notRouted = subscribe(hubUrl(b.hub, ['https://example.com/authors/{id}']), {
      headers: { authorization: `Bearer ${await subscriberToken(['*'])}` },
    });
    await Promise.all([anonymous.opened, allowed.opened, viaAlternate.opened, wrongClaim.opened, notRouted.opened]);
    await publish(
      b.hub,
      [
        ['topic', BOOK],
        ['topic', alternate],
        ['data', 'secret'],
        ['private', ''],
      ],
      pub,
    );
    await publish(
      b.hub,
      [
        ['topic', BOOK],
        ['data', 'public'],
      ],
      pub,
    );
    await Promise.all([
      allowed.events.until(2),
      viaAlternate.events.until(2),
      anonymous.events.until(1),
      wrongClaim.events.until(1),
    ]);
    await quiet();
    const data = (s: { events: { items: { data: string }[] } }): string[] => s.events.items.map((e) => e.data);
    assert.deepEqual(data(allowed), ['secret', 'public']);
    assert.deepEqual(data(viaAlternate), ['secret', 'public']);
    assert.deepEqual(data(anonymous), ['public']);
    assert.deepEqual(data(wrongClaim), ['public']);
    assert.deepEqual(data(notRouted), []);
  });

  it('takes the token from the Authorization header, else the authorization query parameter, else the cookie', async () => {
    await using b = await startHub({ key: KEY });
    const pub = await publisher();
    const good = await subscriberToken(['*']);
    const bad = await subscriberToken(['*'], 'wrong');
    const url = hubUrl(b.hub, [BOOK]);
    const cases: { what: string; url: string; headers: Record<string, string>; status: number }[] = [
      { what: 'header', url, headers: { authorization: `Bearer ${good}` }, status: 200 },
      { what: 'query', url: `${url}&authorization=${good}`, headers: {}, status: 200 },
      { what: 'cookie', url, headers: { cookie: `other=1; mercureAuthorization=${good}` }, status: 200 },
      { what: 'draft-08 cookie', url, headers: { cookie: `__Secure-mercure_access_token=${good}` }, status: 200 },
      {
        what: 'header wins over query',
        url: `${url}&authorization=${bad}`,
        headers: { authorization: `Bearer ${good}` },
        status: 200,
      },
      {
        what: 'a bad header is not rescued by the query',
        url: `${url}&authorization=${good}`,
        headers: { authorization: `Bearer ${bad}` },
        status: 401,
      },
      {
        what: 'query wins over cookie',
        url: `${url}&authorization=${good}`,
        headers: { cookie: `mercureAuthorization=${bad}` },
        status: 200,
      },
      {
        what: 'a bad query is not rescued by the cookie',
        url: `${url}&authorization=${bad}`,
        headers: { cookie: `mercureAuthorization=${good}` },
        status: 401,
      },
    ];
    for (const c of cases) {
      await using stream = await rawStream(c.url, c.headers);
      assert.equal(stream.status, c.status, c.what);
    }
    // And a real EventSource on each source receives a private update.
    using byHeader = subscribe(url, { headers: { authorization: `Bearer ${good}` } });
    using byQuery = subscribe(`${url}&authorization=${good}`);
    using byCookie = subscribe(url, { headers: { cookie: `mercureAuthorization=${good}` } });
    await Promise.all([byHeader.opened, byQuery.opened, byCookie.opened]);
    await publish(
      b.hub,
      [
        ['topic', BOOK],
        ['data', 'p'],
        ['private', 'on'],
      ],
      pub,
    );
    await Promise.all([byHeader.events.until(1), byQuery.events.until(1), byCookie.events.until(1)]);
  });

  it('verifies publisher and subscriber tokens with their own keys', async () => {
    await using b = await startHub({ publisherKey: KEY, subscriberKey: SUBSCRIBER_KEY });
    assert.equal(
      (await fetch(hubUrl(b.hub, ['*']), { headers: { authorization: `Bearer ${await subscriberToken(['*'], KEY)}` } }))
        .status,
      401,
    );
    using sub = subscribe(hubUrl(b.hub, ['*']), {
      headers: { authorization: `Bearer ${await subscriberToken(['*'], SUBSCRIBER_KEY)}` },
    });
    await sub.opened;
    assert.equal(
      (
        await publish(
          b.hub,
          [
            ['topic', BOOK],
            ['data', 'x'],
          ],
          await publisher(['*'], SUBSCRIBER_KEY),
        )
      ).status,
      401,
    );
    assert.equal(
      (
        await publish(
          b.hub,
          [
            ['topic', BOOK],
            ['data', 'x'],
            ['private', ''],
          ],
          await publisher(['*'], KEY),
        )
      ).status,
      200,
    );
    await sub.events.until(1);
  });

  it('verifies RS256 tokens with a PEM public key', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    await using b = await startHub({ key: await exportSPKI(publicKey) });
    const rs = await new SignJWT({ mercure: { publish: ['*'], subscribe: ['*'] } })
      .setProtectedHeader({ alg: 'RS256' })
      .sign(privateKey);
    using sub = subscribe(hubUrl(b.hub, [BOOK]), { headers: { authorization: `Bearer ${rs}` } });
    await sub.opened;
    assert.equal(
      (
        await publish(
          b.hub,
          [
            ['topic', BOOK],
            ['data', 'signed'],
            ['private', ''],
          ],
          rs,
        )
      ).status,
      200,
    );
    await sub.events.until(1);
    // An HMAC token is refused when the key is RSA (no algorithm confusion).
    assert.equal(
      (
        await publish(
          b.hub,
          [
            ['topic', BOOK],
            ['data', 'x'],
          ],
          await publisher(),
        )
      ).status,
      401,
    );
  });

  it('closes the stream when the subscriber token expires', async () => {
    await using b = await startHub();
    const exp = Math.floor(Date.now() / 1000) + 2;
    const expiring = await token({ mercure: { subscribe: ['*'] } }, KEY, exp);
    await using stream = await rawStream(hubUrl(b.hub, ['*']), { authorization: `Bearer ${expiring}` });
    assert.equal(stream.status, 200);
    let ended = false;
    void stream.ended.then(() => (ended = true));
    await quiet(200);
    assert.equal(ended, false, 'still open before exp');
    await stream.ended;
    assert.ok(Date.now() >= exp * 1000 - 50, 'ended at exp, not before');
  });

  it('draft-08 authorization_details grant private updates', async () => {
    await using b = await startHub();
    const details = await token({
      authorization_details: [
        {
          type: 'https://mercure.rocks/authorization-detail',
          actions: ['subscribe'],
          topics: [{ match: 'https://example.com/books/:id', match_type: 'urlpattern' }],
        },
      ],
    });
    using sub = subscribe(hubUrl(b.hub, ['*']), { headers: { authorization: `Bearer ${details}` } });
    await sub.opened;
    const pub = await publisher();
    await publish(
      b.hub,
      [
        ['topic', 'https://example.com/authors/1'],
        ['data', 'hidden'],
        ['private', ''],
      ],
      pub,
    );
    await publish(
      b.hub,
      [
        ['topic', BOOK],
        ['data', 'shown'],
        ['private', ''],
      ],
      pub,
    );
    await sub.events.until(1);
    await quiet();
    assert.deepEqual(
      sub.events.items.map((e) => e.data),
      ['shown'],
    );
  });

  it('answers CORS preflights and requests for allowed origins only, with credentials', async () => {
    await using b = await startHub({ key: KEY, anonymous: true, corsOrigins: ['https://app.example.com'] });
    const preflight = await fetch(b.hub, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'last-event-id',
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.equal(preflight.headers.get('access-control-allow-credentials'), 'true');
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /Last-Event-ID/);
    const foreign = await fetch(b.hub, { method: 'OPTIONS', headers: { origin: 'https://evil.example.net' } });
    assert.equal(foreign.headers.get('access-control-allow-origin'), null);
    await using stream = await rawStream(hubUrl(b.hub, ['*']), { origin: 'https://app.example.com' });
    assert.equal(stream.headers.get('access-control-allow-origin'), 'https://app.example.com');
    // Without corsOrigins: rt's allowOrigin rules, or no CORS at all.
    await using rtRules = await startBroker({ mercure: { key: KEY, anonymous: true }, allowOrigin: 'example.com' });
    const viaRt = await fetch(`${rtRules.url}/.well-known/mercure`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com' },
    });
    assert.equal(viaRt.headers.get('access-control-allow-origin'), 'https://app.example.com');
    await using none = await startHub();
    const off = await fetch(none.hub, { method: 'OPTIONS', headers: { origin: 'https://app.example.com' } });
    assert.equal(off.headers.get('access-control-allow-origin'), null);
  });
});
