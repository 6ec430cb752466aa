/**
 * Discovery: an application server embedding the broker advertises the hub with
 * `addMercureLink` and hands the subscriber its token in the `mercureAuthorization` cookie
 * (`mercureCookie`); a client follows the link, as a Mercure client does.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { addMercureLink, createBroker, mercureCookie, mercureLink } from '@rt/server';
import { KEY, hubUrl, publish, publisher, subscribe, subscriberToken } from '../helpers/mercure.ts';

describe('mercure: discovery', () => {
  it('builds the link with its optional attributes', () => {
    assert.equal(
      mercureLink('https://example.com/.well-known/mercure'),
      '<https://example.com/.well-known/mercure>; rel="mercure"',
    );
    assert.equal(
      mercureLink('https://example.com/.well-known/mercure', {
        lastEventId: 'urn:uuid:1',
        contentType: 'application/ld+json',
        keySet: 'https://example.com/jwks.json',
      }),
      '<https://example.com/.well-known/mercure>; rel="mercure"; last-event-id="urn:uuid:1"; content-type="application/ld+json"; key-set="https://example.com/jwks.json"',
    );
    assert.equal(
      mercureCookie('abc', { maxAgeSeconds: 60 }),
      'mercureAuthorization=abc; Path=/.well-known/mercure; HttpOnly; Secure; SameSite=Strict; Max-Age=60',
    );
  });

  it('an application advertises the embedded hub; a subscriber follows the Link and authenticates with the cookie', async () => {
    const broker = createBroker({ mode: 'production', logger: { level: 'silent' }, mercure: { key: KEY } });
    const token = await subscriberToken(['https://example.com/books/{id}']);
    const app = createServer((req, res) => {
      if (req.url !== '/books/1') {
        res.writeHead(404).end();
        return;
      }
      res.setHeader('link', '</books/1>; rel="self"');
      addMercureLink(res, `http://${req.headers.host}/.well-known/mercure`);
      res.setHeader('set-cookie', mercureCookie(token, { secure: false }));
      res.setHeader('content-type', 'application/json');
      res.end('{"title":"Dune"}');
    });
    broker.attach(app);
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
    try {
      const page = await fetch(`${base}/books/1`);
      const links = page.headers.get('link') ?? '';
      assert.match(links, /<\/books\/1>; rel="self"/, "the application's own links are kept");
      const hub = /<([^>]+)>;\s*rel="mercure"/.exec(links)?.[1];
      assert.equal(hub, `${base}/.well-known/mercure`);
      const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
      using sub = subscribe(hubUrl(hub!, ['https://example.com/books/1']), { headers: { cookie } });
      await sub.opened;
      await publish(
        hub!,
        [
          ['topic', 'https://example.com/books/1'],
          ['data', 'private news'],
          ['private', ''],
        ],
        await publisher(),
      );
      const [event] = await sub.events.until(1);
      assert.equal(event!.data, 'private news');
    } finally {
      await broker.close();
      await new Promise<void>((resolve) => app.close(() => resolve()));
    }
  });
});
