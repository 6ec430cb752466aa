/**
 * Mercure reconnection from rt's history (`Last-Event-ID` header, `lastEventID` parameter,
 * `earliest`, unknown ids, a real EventSource reconnecting by itself), and one system: rt SDK
 * clients and Mercure subscribers and publishers on the same topics.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Collector, clients, quiet, startBroker } from '../helpers/index.ts';
import { frameStream } from '../helpers/sse.ts';
import { KEY, hubUrl, publish, publisher, rawStream, startHub, subscribe, token } from '../helpers/mercure.ts';

const BOOKS = 'https://example.com/books/{id}';
const book = (n: number): string => `https://example.com/books/${n}`;

async function publishBooks(hub: string, ids: string[]): Promise<void> {
  const pub = await publisher();
  for (const [i, id] of ids.entries()) {
    const res = await publish(
      hub,
      [
        ['topic', book(i + 1)],
        ['data', `book ${i + 1}`],
        ['id', id],
      ],
      pub,
    );
    assert.equal(res.status, 200);
  }
}

describe('mercure: reconnection from history', () => {
  it('lastEventID replays what came after that id, then goes live; the response carries Last-Event-ID', async () => {
    await using b = await startHub();
    await publishBooks(b.hub, ['a', 'b', 'c']);
    await using raw = await rawStream(hubUrl(b.hub, [BOOKS], [['lastEventID', 'a']]));
    assert.equal(raw.headers.get('last-event-id'), 'a');
    using sub = subscribe(hubUrl(b.hub, [BOOKS], [['lastEventID', 'a']]));
    await sub.events.until(2);
    await publish(
      b.hub,
      [
        ['topic', book(4)],
        ['data', 'book 4'],
        ['id', 'd'],
      ],
      await publisher(),
    );
    await sub.events.until(3);
    await quiet();
    assert.deepEqual(
      sub.events.items.map((e) => e.id),
      ['b', 'c', 'd'],
    );
    await raw.until((t) => t.includes('id: d\n'));
    assert.equal((raw.text().match(/^id: /gm) ?? []).length, 3);
  });

  it('accepts the draft-08 last_event_id parameter and answers Mercure-Last-Event-ID too', async () => {
    await using b = await startHub();
    await publishBooks(b.hub, ['a', 'b']);
    await using raw = await rawStream(hubUrl(b.hub, [BOOKS], [['last_event_id', 'a']]));
    assert.equal(raw.headers.get('mercure-last-event-id'), 'a');
    const text = await raw.until((t) => t.includes('id: b\n'));
    assert.ok(!text.includes('id: a\n'));
  });

  it('the Last-Event-ID header wins over the lastEventID parameter', async () => {
    await using b = await startHub();
    await publishBooks(b.hub, ['a', 'b', 'c']);
    using sub = subscribe(hubUrl(b.hub, [BOOKS], [['lastEventID', 'a']]), { headers: { 'last-event-id': 'b' } });
    await sub.events.until(1);
    await quiet();
    assert.deepEqual(
      sub.events.items.map((e) => e.id),
      ['c'],
    );
  });

  it('earliest replays everything history holds for the selectors, private updates only with the claim', async () => {
    await using b = await startHub();
    const pub = await publisher();
    await publish(
      b.hub,
      [
        ['topic', book(1)],
        ['data', '1'],
        ['id', 'a'],
      ],
      pub,
    );
    await publish(
      b.hub,
      [
        ['topic', 'https://example.com/authors/1'],
        ['data', 'author'],
        ['id', 'x'],
      ],
      pub,
    );
    await publish(
      b.hub,
      [
        ['topic', book(2)],
        ['data', '2'],
        ['id', 'b'],
        ['private', ''],
      ],
      pub,
    );
    await using raw = await rawStream(hubUrl(b.hub, [BOOKS], [['lastEventID', 'earliest']]));
    assert.equal(raw.headers.get('last-event-id'), 'earliest');
    await raw.until((t) => t.includes('id: a\n'));
    using anonymous = subscribe(hubUrl(b.hub, [BOOKS], [['lastEventID', 'earliest']]));
    using allowed = subscribe(hubUrl(b.hub, [BOOKS], [['lastEventID', 'earliest']]), {
      headers: { authorization: `Bearer ${await token({ mercure: { subscribe: [BOOKS] } })}` },
    });
    await Promise.all([anonymous.events.until(1), allowed.events.until(2)]);
    await quiet();
    assert.deepEqual(
      anonymous.events.items.map((e) => e.id),
      ['a'],
    );
    assert.deepEqual(
      allowed.events.items.map((e) => e.id),
      ['a', 'b'],
    );
  });

  it('an unknown id replays nothing and answers Last-Event-ID: earliest, so the subscriber knows to refetch', async () => {
    await using b = await startHub();
    await publishBooks(b.hub, ['a', 'b']);
    await using raw = await rawStream(hubUrl(b.hub, [BOOKS], [['lastEventID', 'never-published']]));
    assert.equal(raw.headers.get('last-event-id'), 'earliest');
    await publish(
      b.hub,
      [
        ['topic', book(3)],
        ['data', 'live'],
        ['id', 'c'],
      ],
      await publisher(),
    );
    const text = await raw.until((t) => t.includes('id: c\n'));
    assert.ok(!text.includes('id: a\n') && !text.includes('id: b\n'), text);
  });

  it('answers earliest when history no longer reaches back to the id', async () => {
    await using b = await startHub(undefined, { historySize: 2 });
    await publishBooks(b.hub, ['a', 'b', 'c', 'd']);
    await using raw = await rawStream(hubUrl(b.hub, [BOOKS], [['lastEventID', 'a']]));
    assert.equal(raw.headers.get('last-event-id'), 'earliest');
  });

  it('a real EventSource whose stream ends reconnects with Last-Event-ID and misses nothing', async () => {
    await using b = await startHub();
    const pub = await publisher();
    const sentLastEventIds: (string | undefined)[] = [];
    // Each connection gets a fresh token; the first expires about a second later, so the hub ends that stream.
    using sub = subscribe(hubUrl(b.hub, [BOOKS]), {
      headers: async (sent) => {
        sentLastEventIds.push(Object.entries(sent).find(([k]) => k.toLowerCase() === 'last-event-id')?.[1]);
        const exp = Math.floor(Date.now() / 1000) + (sentLastEventIds.length === 1 ? 2 : 60);
        return { authorization: `Bearer ${await token({ mercure: { subscribe: [BOOKS] } }, KEY, exp)}` };
      },
    });
    await sub.opened;
    // `retry` sets the EventSource's reconnection delay: long enough for the next publish to
    // land while it is disconnected, so that only the replay can bring it.
    await publish(
      b.hub,
      [
        ['topic', book(1)],
        ['data', 'before'],
        ['id', 'a'],
        ['retry', '1000'],
      ],
      pub,
    );
    await sub.events.until(1);
    await sub.errors.until(1, 5000, 'the stream to end at exp');
    await publish(
      b.hub,
      [
        ['topic', book(2)],
        ['data', 'while away'],
        ['id', 'b'],
      ],
      pub,
    );
    await sub.opens.until(2, 5000, 'the EventSource to reconnect');
    await sub.events.until(2);
    await publish(
      b.hub,
      [
        ['topic', book(3)],
        ['data', 'after'],
        ['id', 'c'],
      ],
      pub,
    );
    await sub.events.until(3);
    await quiet();
    assert.deepEqual(
      sub.events.items.map((e) => e.data),
      ['before', 'while away', 'after'],
    );
    assert.deepEqual(sentLastEventIds, [undefined, 'a']);
  });
});

describe('mercure: one system with rt', () => {
  it('an rt SDK subscriber receives a Mercure-published update on the mapped topic, never a private one', async () => {
    await using b = await startHub();
    await using c = clients(b.url, 'websocket');
    const client = c.make();
    const got = new Collector<[unknown, string]>();
    await client.topic('https:/example.com/books').subscribe((data, meta) => got.push([data, meta.topic])).ready;
    const pub = await publisher();
    await publish(
      b.hub,
      [
        ['topic', book(1)],
        ['data', 'secret'],
        ['private', ''],
      ],
      pub,
    );
    await publish(
      b.hub,
      [
        ['topic', book(1)],
        ['data', '{"title":"Dune"}'],
      ],
      pub,
    );
    await publish(
      b.hub,
      [
        ['topic', 'https://example.com/books/a b?x=1'],
        ['data', 'escaped'],
      ],
      pub,
    );
    await got.until(2);
    await quiet();
    assert.deepEqual(got.items, [
      ['{"title":"Dune"}', 'https:/example.com/books/1'],
      ['escaped', 'https:/example.com/books/a%20b%3Fx=1'],
    ]);
  });

  it('rt plain SSE subscribers get public Mercure updates with the same position in their id, never private ones', async () => {
    await using b = await startHub();
    await using plain = await rawStream(`${b.url}/rt/sse?topic=${encodeURIComponent('https:/example.com/books')}`);
    await plain.until((t) => t.includes('event: ready'));
    using mercure = subscribe(hubUrl(b.hub, [BOOKS]));
    await mercure.opened;
    const pub = await publisher();
    await publish(
      b.hub,
      [
        ['topic', book(1)],
        ['data', 'secret'],
        ['private', ''],
      ],
      pub,
    );
    await b.broker.publish('https:/example.com/books/1', 'public');
    const [event] = await mercure.events.until(1);
    const text = await plain.until((t) => t.includes('data: public'));
    assert.ok(!text.includes('secret'), text);
    assert.ok(
      text.includes(`id: ${event!.id.slice(1)}\n`),
      `the plain SSE id is the Mercure id without "#": ${event!.id} in ${text}`,
    );
  });

  it('a Mercure EventSource subscriber receives rt publishes (SDK and broker.publish) with position ids it can resume from', async () => {
    await using b = await startHub();
    await using c = clients(b.url, 'websocket');
    const client = c.make();
    using sub = subscribe(hubUrl(b.hub, [BOOKS, 'chat/room1']));
    await sub.opened;
    await client.topic('https:/example.com/books/2').publish({ title: 'Dune' });
    await b.broker.publish('chat/room1', 'hello');
    await b.broker.publish('chat/room2', 'not for this subscriber');
    await sub.events.until(2);
    await quiet();
    assert.deepEqual(
      sub.events.items.map((e) => e.data),
      ['{"title":"Dune"}', 'hello'],
    );
    const [first] = sub.events.items;
    assert.match(first!.id, /^#.+-\d+$/);
    // Resuming from an rt position replays what came after it.
    using again = subscribe(hubUrl(b.hub, [BOOKS, 'chat/room1'], [['lastEventID', first!.id]]));
    await again.events.until(1);
    await quiet();
    assert.deepEqual(
      again.events.items.map((e) => e.data),
      ['hello'],
    );
  });

  it('when rt authorizes (a hook, or JWT), rt publishes reach only Mercure subscribers whose claim covers them', async () => {
    await using b = await startBroker({
      mercure: { key: KEY, anonymous: true },
      authorize: (_identity, _op, topic) => !topic.startsWith('secret'),
    });
    const hub = `${b.url}/.well-known/mercure`;
    using anonymous = subscribe(hubUrl(hub, ['*']));
    using allowed = subscribe(hubUrl(hub, ['*']), {
      headers: { authorization: `Bearer ${await token({ mercure: { subscribe: ['secret/{+rest}'] } })}` },
    });
    await Promise.all([anonymous.opened, allowed.opened]);
    await b.broker.publish('secret/plans', 'p');
    await allowed.events.until(1);
    await quiet();
    assert.deepEqual(anonymous.events.items, []);
    // The same when rt authenticates with JWTs (its grants decide who may subscribe).
    await using jwt = await startBroker({
      mercure: { key: KEY, anonymous: true },
      jwt: { key: 'an rt key of at least thirty-two bytes!' },
    });
    using jwtAnonymous = subscribe(hubUrl(`${jwt.url}/.well-known/mercure`, ['*']));
    using jwtAllowed = subscribe(hubUrl(`${jwt.url}/.well-known/mercure`, ['*']), {
      headers: { authorization: `Bearer ${await token({ mercure: { subscribe: ['*'] } })}` },
    });
    await Promise.all([jwtAnonymous.opened, jwtAllowed.opened]);
    await jwt.broker.publish('news', 'n');
    await jwtAllowed.events.until(1);
    await quiet();
    assert.deepEqual(jwtAnonymous.events.items, []);
    // rtMessages: 'public' restores the open behaviour.
    await using open = await startBroker({
      mercure: { key: KEY, anonymous: true, rtMessages: 'public' },
      authorize: () => true,
    });
    using everyone = subscribe(hubUrl(`${open.url}/.well-known/mercure`, ['*']));
    await everyone.opened;
    await open.broker.publish('news', 'n');
    await everyone.events.until(1);
  });

  it('rt recovery replays Mercure-published updates of the mapped topic, never private ones', async () => {
    await using b = await startHub();
    const pub = await publisher();
    const { ep } = await b.broker.engine.position();
    await publish(
      b.hub,
      [
        ['topic', book(1)],
        ['data', 'first'],
      ],
      pub,
    );
    await publish(
      b.hub,
      [
        ['topic', book(1)],
        ['data', 'private'],
        ['private', ''],
      ],
      pub,
    );
    await publish(
      b.hub,
      [
        ['topic', book(1)],
        ['data', 'second'],
      ],
      pub,
    );
    await using stream = await frameStream(b.url);
    const frames = stream.frames;
    await stream.send({ t: 'sub', ref: 1, topic: 'https:/example.com/books', ep, off: 0 });
    await frames.until(3, 5000, 'the replay and the sub answer');
    await quiet();
    assert.deepEqual(
      frames.items.map((f) => (f.t === 'msg' ? f.data : f.t)),
      ['first', 'second', 'ok'],
    );
  });
});
