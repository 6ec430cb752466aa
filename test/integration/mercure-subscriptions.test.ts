/**
 * Active subscriptions: the JSON-LD subscriptions API and the private subscription events.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { quiet } from '../helpers/index.ts';
import { KEY, hubUrl, startHub, subscribe, subscriberToken } from '../helpers/mercure.ts';

const BOOKS = 'https://example.com/books/{id}';
const API = '/.well-known/mercure/subscriptions';
const ALL_SUBSCRIPTIONS = `${API}{/topic}{/subscriber}`;

interface Doc {
  id: string;
  type: string;
  topic: string;
  subscriber: string;
  active: boolean;
  payload?: unknown;
  lastEventID?: string;
}
interface Collection {
  '@context': string;
  id: string;
  type: string;
  lastEventID: string;
  subscriptions: Doc[];
}

const escapeTopic = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

describe('mercure: active subscriptions', () => {
  it('lists subscriptions, those of one selector, and one, as JSON-LD with lastEventID', async () => {
    await using b = await startHub({ key: KEY, anonymous: true, subscriptions: true });
    const admin = { authorization: `Bearer ${await subscriberToken([ALL_SUBSCRIPTIONS])}` };
    using s1 = subscribe(hubUrl(b.hub, [BOOKS, 'chat/room1']), {
      headers: { authorization: `Bearer ${await subscriberToken(['chat/room1'], KEY, { user: 'kevin' })}` },
    });
    await s1.opened;

    const all = await fetch(`${b.url}${API}`, { headers: admin });
    assert.equal(all.status, 200);
    assert.equal(all.headers.get('content-type'), 'application/ld+json');
    const collection = (await all.json()) as Collection;
    assert.equal(collection['@context'], 'https://mercure.rocks/');
    assert.equal(collection.id, API);
    assert.equal(collection.type, 'Subscriptions');
    assert.equal(typeof collection.lastEventID, 'string');
    assert.equal(all.headers.get('etag'), `"${collection.lastEventID}"`);
    assert.deepEqual(collection.subscriptions.map((d) => d.topic).sort(), [BOOKS, 'chat/room1'].sort());
    const [doc] = collection.subscriptions.filter((d) => d.topic === BOOKS);
    assert.match(doc!.subscriber, /^urn:uuid:[0-9a-f-]{36}$/);
    assert.deepEqual(doc, {
      id: `${API}/${escapeTopic(BOOKS)}/${escapeTopic(doc!.subscriber)}`,
      type: 'Subscription',
      topic: BOOKS,
      subscriber: doc!.subscriber,
      active: true,
      payload: { user: 'kevin' },
    });

    const byTopic = (await (
      await fetch(`${b.url}${API}/${escapeTopic(BOOKS)}`, { headers: admin })
    ).json()) as Collection;
    assert.deepEqual(
      byTopic.subscriptions.map((d) => d.topic),
      [BOOKS],
    );

    const one = await fetch(`${b.url}${doc!.id}`, { headers: admin });
    assert.equal(one.status, 200);
    assert.deepEqual(await one.json(), {
      '@context': 'https://mercure.rocks/',
      ...doc,
      lastEventID: collection.lastEventID,
    });
    const unknown = await fetch(
      `${b.url}${API}/${escapeTopic(BOOKS)}/${escapeTopic('urn:uuid:00000000-0000-4000-8000-000000000000')}`,
      { headers: admin },
    );
    assert.equal(unknown.status, 404);

    const revalidate = await fetch(`${b.url}${API}`, {
      headers: { ...admin, 'if-none-match': all.headers.get('etag')! },
    });
    assert.equal(revalidate.status, 304);
  });

  it('needs a token whose mercure.subscribe matches the requested URL', async () => {
    await using b = await startHub({ key: KEY, anonymous: true, subscriptions: true });
    assert.equal((await fetch(`${b.url}${API}`)).status, 401);
    const narrow = { authorization: `Bearer ${await subscriberToken([`${API}/${escapeTopic(BOOKS)}`])}` };
    assert.equal((await fetch(`${b.url}${API}`, { headers: narrow })).status, 403);
    assert.equal((await fetch(`${b.url}${API}/${escapeTopic(BOOKS)}`, { headers: narrow })).status, 200);
  });

  it('publishes a private event when a subscription starts and ends, seen only by authorized subscribers', async () => {
    await using b = await startHub({ key: KEY, anonymous: true, subscriptions: true });
    using watcher = subscribe(hubUrl(b.hub, [ALL_SUBSCRIPTIONS]), {
      headers: { authorization: `Bearer ${await subscriberToken([ALL_SUBSCRIPTIONS])}` },
    });
    using anonymous = subscribe(hubUrl(b.hub, [ALL_SUBSCRIPTIONS]));
    await Promise.all([watcher.opened, anonymous.opened]);
    const before = watcher.events.items.length;
    const s = subscribe(hubUrl(b.hub, [BOOKS]));
    await s.opened;
    await watcher.events.until(before + 1);
    s.es.close();
    await watcher.events.until(before + 2);
    const [started, ended] = watcher.events.items
      .slice(before)
      .map((e) => ({ ...e, doc: JSON.parse(e.data) as Doc & { '@context': string } }));
    assert.equal(started!.doc['@context'], 'https://mercure.rocks/');
    assert.equal(started!.doc.type, 'Subscription');
    assert.equal(started!.doc.topic, BOOKS);
    assert.equal(started!.doc.active, true);
    assert.equal(started!.doc.id, `${API}/${escapeTopic(BOOKS)}/${escapeTopic(started!.doc.subscriber)}`);
    assert.deepEqual({ ...ended!.doc }, { ...started!.doc, active: false });
    assert.match(started!.id, /^urn:uuid:/);
    await quiet();
    assert.deepEqual(anonymous.events.items, [], 'subscription events are private');
  });

  it('is not served unless subscriptions is on', async () => {
    await using b = await startHub();
    assert.equal(
      (await fetch(`${b.url}${API}`, { headers: { authorization: `Bearer ${await subscriberToken(['*'])}` } })).status,
      404,
    );
  });
});
