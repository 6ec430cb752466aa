/**
 * The Mercure hub: subscribing and publishing with real `EventSource` subscribers, matching
 * (exact, `*`, URI templates, alternate topics, draft-08 `match`/`match_urlpattern`), the
 * event format, headers and heartbeats, and the publish validation paths.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { deadline, quiet } from '../helpers/index.ts';
import {
  KEY,
  hubUrl,
  publish,
  publisher,
  rawStream,
  startHub,
  subscribe,
  subscriberToken,
} from '../helpers/mercure.ts';

describe('mercure: subscribe and publish', () => {
  it('answers a publish with 200 text/plain and the id; keeps the publisher id, else generates a urn:uuid', async () => {
    await using b = await startHub();
    const pub = await publisher();
    const kept = await publish(
      b.hub,
      [
        ['topic', 'https://example.com/books/1'],
        ['data', 'x'],
        ['id', 'urn:isbn:978-1'],
      ],
      pub,
    );
    assert.equal(kept.status, 200);
    assert.match(kept.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(kept.body, 'urn:isbn:978-1');
    const generated = await publish(
      b.hub,
      [
        ['topic', 'https://example.com/books/1'],
        ['data', 'x'],
      ],
      pub,
    );
    assert.equal(generated.status, 200);
    assert.match(generated.body, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('delivers by exact topic, *, URI template and alternate topic, and never a non-matching one', async () => {
    await using b = await startHub();
    const pub = await publisher();
    using exact = subscribe(hubUrl(b.hub, ['https://example.com/books/1']));
    using any = subscribe(hubUrl(b.hub, ['*']));
    using template = subscribe(hubUrl(b.hub, ['https://example.com/books/{id}']));
    using deep = subscribe(hubUrl(b.hub, ['https://example.com/{+path}']));
    using alternate = subscribe(hubUrl(b.hub, ['https://example.com/users/dunglas/books']));
    using none = subscribe(hubUrl(b.hub, ['https://example.com/books/2', 'https://example.com/authors/{id}']));
    await Promise.all([exact.opened, any.opened, template.opened, deep.opened, alternate.opened, none.opened]);

    const sent = [
      [
        ['topic', 'https://example.com/books/1'],
        ['topic', 'https://example.com/users/dunglas/books'],
        ['data', 'one'],
      ],
      [
        ['topic', 'https://example.com/books/3/chapters/1'],
        ['data', 'chapter'],
      ],
      [
        ['topic', 'https://example.com/books/1'],
        ['data', 'two'],
      ],
    ] as [string, string][][];
    for (const fields of sent) assert.equal((await publish(b.hub, fields, pub)).status, 200);

    const data = (s: { events: { items: { data: string }[] } }): string[] => s.events.items.map((e) => e.data);
    await Promise.all([
      exact.events.until(2),
      any.events.until(3),
      template.events.until(2),
      deep.events.until(3),
      alternate.events.until(1),
    ]);
    await quiet();
    assert.deepEqual(data(exact), ['one', 'two']);
    assert.deepEqual(data(any), ['one', 'chapter', 'two']);
    // {id} matches one segment: never "3/chapters/1".
    assert.deepEqual(data(template), ['one', 'two']);
    assert.deepEqual(data(deep), ['one', 'chapter', 'two']);
    assert.deepEqual(data(alternate), ['one']);
    assert.deepEqual(data(none), []);
  });

  it('accepts draft-08 match (byte-for-byte) and match_urlpattern selectors; an unknown match* parameter is 400', async () => {
    await using b = await startHub();
    const pub = await publisher();
    using exact = subscribe(hubUrl(b.hub, [], [['match', 'https://example.com/books/{id}']]));
    using pattern = subscribe(hubUrl(b.hub, [], [['match_urlpattern', 'https://example.com/books/:id']]));
    await Promise.all([exact.opened, pattern.opened]);
    await publish(
      b.hub,
      [
        ['topic', 'https://example.com/books/7'],
        ['data', 'seven'],
      ],
      pub,
    );
    await publish(
      b.hub,
      [
        ['topic', 'https://example.com/books/7/chapters'],
        ['data', 'deeper'],
      ],
      pub,
    );
    await publish(
      b.hub,
      [
        ['topic', 'https://example.com/books/{id}'],
        ['data', 'literal'],
      ],
      pub,
    );
    await Promise.all([exact.events.until(1), pattern.events.until(2)]);
    await quiet();
    // `match` is equality, not a template: only the update whose topic is the literal string.
    assert.deepEqual(
      exact.events.items.map((e) => e.data),
      ['literal'],
    );
    // `:id` is one path segment (and "{id}" is one, once the URL parser escapes it).
    assert.deepEqual(
      pattern.events.items.map((e) => e.data),
      ['seven', 'literal'],
    );
    const bad = await fetch(hubUrl(b.hub, [], [['match_regexp', '.*']]));
    assert.equal(bad.status, 400);
  });

  it('writes event, retry, id and one data line per line of data (CRLF, CR, LF), and an empty data line', async () => {
    await using b = await startHub();
    const pub = await publisher();
    await using stream = await rawStream(hubUrl(b.hub, ['t']));
    await publish(
      b.hub,
      [
        ['topic', 't'],
        ['data', 'a\r\nb\rc\nd'],
        ['id', 'e1'],
        ['type', 'book'],
        ['retry', '2500'],
      ],
      pub,
    );
    await publish(
      b.hub,
      [
        ['topic', 't'],
        ['id', 'e2'],
      ],
      pub,
    );
    const text = await stream.until((t) => t.includes('id: e2\ndata: \n\n'));
    assert.ok(text.startsWith(':\n\n'), 'a comment goes first, so EventSource.onopen fires at once');
    assert.ok(text.includes('event: book\nretry: 2500\nid: e1\ndata: a\ndata: b\ndata: c\ndata: d\n\n'), text);
  });

  it('a real EventSource gets multi-line data joined by LF, the id as lastEventId, and typed events', async () => {
    await using b = await startHub();
    const pub = await publisher();
    using sub = subscribe(hubUrl(b.hub, ['t']), { types: ['book'] });
    await sub.opened;
    await publish(
      b.hub,
      [
        ['topic', 't'],
        ['data', 'line 1\nline 2\r\nline 3'],
        ['id', 'urn:x:1'],
      ],
      pub,
    );
    await publish(
      b.hub,
      [
        ['topic', 't'],
        ['data', '{"title":"Dune"}'],
        ['type', 'book'],
        ['id', 'urn:x:2'],
      ],
      pub,
    );
    await sub.events.until(2);
    assert.deepEqual(sub.events.items, [
      { type: 'message', id: 'urn:x:1', data: 'line 1\nline 2\nline 3' },
      { type: 'book', id: 'urn:x:2', data: '{"title":"Dune"}' },
    ]);
  });

  it('sends the event-stream headers at once, before any update, and heartbeat comments while idle', async () => {
    await using b = await startHub({ key: KEY, anonymous: true, heartbeatMs: 100 });
    await using stream = await rawStream(hubUrl(b.hub, ['t']));
    assert.equal(stream.status, 200);
    assert.equal(stream.headers.get('content-type'), 'text/event-stream');
    assert.equal(stream.headers.get('cache-control'), 'private, no-cache, no-store, must-revalidate, max-age=0');
    assert.equal(stream.headers.get('x-accel-buffering'), 'no');
    await stream.until((t) => t === ':\n\n');
    await stream.until((t) => t.split(':\n\n').length >= 4, 3000, 'two heartbeat comments');
  });

  it('refuses bad subscribe and publish requests with the reference hub statuses', async () => {
    await using b = await startHub();
    const pub = await publisher();
    assert.equal((await fetch(b.hub)).status, 400, 'no topic');
    const tooMany = hubUrl(
      b.hub,
      Array.from({ length: 1001 }, (_, i) => `t${i}`),
    );
    assert.equal((await fetch(tooMany)).status, 400, 'more than 1000 topics');
    const cases: [string, [string, string][], number][] = [
      ['no topic', [['data', 'x']], 400],
      [
        'retry not an unsigned integer',
        [
          ['topic', 't'],
          ['retry', '-1'],
        ],
        400,
      ],
      [
        'id with a line break',
        [
          ['topic', 't'],
          ['id', 'a\nb'],
        ],
        400,
      ],
      [
        'type with a line break',
        [
          ['topic', 't'],
          ['type', 'a\rb'],
        ],
        400,
      ],
      [
        'id starting with #',
        [
          ['topic', 't'],
          ['id', '#1'],
        ],
        400,
      ],
      ['reserved topic', [['topic', 'https://example.com/.well-known/mercure/subscriptions/x']], 403],
      ['topic too deep for rt', [['topic', `https://example.com/${'a/'.repeat(20)}`]], 400],
    ];
    for (const [what, fields, status] of cases) {
      const res = await publish(b.hub, fields, pub);
      assert.equal(res.status, status, `${what}: ${res.body}`);
    }
    const wrongType = await fetch(b.hub, {
      method: 'POST',
      headers: { authorization: `Bearer ${pub}`, 'content-type': 'application/json' },
      body: '{"topic":"t"}',
    });
    assert.equal(wrongType.status, 400);
    // The broker lives on.
    assert.equal(
      (
        await publish(
          b.hub,
          [
            ['topic', 't'],
            ['data', 'ok'],
          ],
          pub,
        )
      ).status,
      200,
    );
  });

  it('cuts off a subscriber that does not read, and serves the others', async () => {
    const options = {
      key: KEY,
      anonymous: true,
      subscriptions: true,
      maxBufferedBytes: 256 * 1024,
      dispatchTimeoutMs: 300,
    };
    await using b = await startHub(options, { historySize: 4 });
    const admin = { authorization: `Bearer ${await subscriberToken(['/.well-known/mercure/subscriptions'])}` };
    const connected = async (): Promise<number> => {
      const res = await fetch(`${b.url}/.well-known/mercure/subscriptions`, { headers: admin });
      return ((await res.json()) as { subscriptions: unknown[] }).subscriptions.length;
    };
    using reader = subscribe(hubUrl(b.hub, ['big']));
    await reader.opened;
    const url = new URL(hubUrl(b.hub, ['big']));
    const socket = connect(Number(url.port), url.hostname);
    await once(socket, 'connect');
    socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
    await once(socket, 'data');
    socket.pause();
    assert.equal(await connected(), 2);
    const chunk = 'x'.repeat(64 * 1024);
    let sent = 0;
    // Bounded: 64 MiB at most; loopback kernel buffers take a few MiB before the hub's own buffer grows.
    while (sent < 1024 && (sent % 16 !== 0 || (await connected()) === 2)) {
      await b.broker.publish('big', chunk);
      sent++;
      await new Promise((r) => setTimeout(r, 1));
    }
    assert.equal(await connected(), 1, `the stalled subscriber is gone after ${sent} updates of 64 KiB`);
    // Its stream was ended by the hub: reading what is left reaches the end.
    const closed = once(socket, 'close');
    socket.resume();
    await deadline(closed, 5000, 'the stalled stream to end');
    await reader.events.until(sent, 10_000, 'the reading subscriber to get every update');
    assert.equal(reader.opens.items.length, 1, 'the reader was never cut off');
  });

  it('broker.close() ends open streams and resolves', async () => {
    const b = await startHub();
    const stream = await rawStream(hubUrl(b.hub, ['t']));
    await stream.until((t) => t.startsWith(':'));
    await b.broker.close();
    await stream.ended;
    await stream[Symbol.asyncDispose]();
  });

  it('is off unless the mercure option is set', async () => {
    const { startBroker } = await import('../helpers/index.ts');
    await using b = await startBroker();
    assert.equal((await fetch(`${b.url}/.well-known/mercure?topic=t`)).status, 404);
  });
});
