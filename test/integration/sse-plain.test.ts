/**
 * SSE for clients without the SDK (curl, a browser's EventSource), and the SDK stream's POST
 * URL: subscribe with topic= parameters, publish by POST, resume with Last-Event-ID.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Collector, clients, quiet, startBroker } from '../helpers/index.ts';
import { readSse, untilMessages } from '../helpers/sse.ts';

const publish = (url: string, topic: string, body: BodyInit, type?: string): Promise<Response> =>
  fetch(`${url}/rt/publish?topic=${encodeURIComponent(topic)}`, {
    method: 'POST',
    body,
    ...(type ? { headers: { 'content-type': type } } : {}),
  });

describe('plain SSE', () => {
  it('every open stream gets a heartbeat each heartbeatMs, and goes on getting it when another stream closes', async () => {
    await using b = await startBroker({ heartbeatMs: 100 });
    const pings = (s: { events: { items: { comment?: string }[] } }): number =>
      s.events.items.filter((e) => e.comment === 'ping').length;
    await using one = await readSse(`${b.url}/rt/sse?topic=a`);
    const two = await readSse(`${b.url}/rt/sse?topic=b`);
    await one.events.until(4, 5000, 'heartbeats on the first stream');
    await two.events.until(4, 5000, 'heartbeats on the second stream');
    assert.ok(pings(one) >= 2 && pings(two) >= 2);
    two.close();
    await two.ended;
    const before = pings(one);
    await one.events.until(one.events.items.length + 3, 5000, 'heartbeats after the other stream closed');
    assert.ok(pings(one) >= before + 3);
  });

  it('streams the topics given and their descendants, with the anti-buffering headers and an id on every event', async () => {
    await using b = await startBroker({ heartbeatMs: 100 });
    await using s = await readSse(`${b.url}/rt/sse?topic=wong&topic=x`);
    assert.equal(s.response.status, 200);
    assert.match(s.response.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(s.response.headers.get('cache-control'), 'no-cache, no-transform');
    assert.equal(s.response.headers.get('x-accel-buffering'), 'no');
    const [ready] = await untilMessages(s, 1);
    assert.equal(ready!.event, 'ready');
    assert.match(ready!.id ?? '', /^.+-\d+$/);
    for (const [topic, body] of [
      ['wong', 'one'],
      ['wongo', 'never'],
      ['wong/amy', 'two ünïcödé ✓'],
      ['y', 'never'],
      ['x/1/2', 'three'],
    ]) {
      assert.equal((await publish(b.url, topic!, body!)).status, 200);
    }
    assert.equal((await publish(b.url, 'x', '{"json":[1,2]}', 'application/json')).status, 200);
    assert.equal((await publish(b.url, 'x', 'line 1\nline 2')).status, 200);
    assert.equal((await publish(b.url, 'x', new Uint8Array([0, 1, 254, 255]), 'application/octet-stream')).status, 200);
    const got = (await untilMessages(s, 7)).slice(1);
    assert.deepEqual(
      got.map((e) => [e.event, e.data]),
      [
        ['message', 'one'],
        ['message', 'two ünïcödé ✓'],
        ['message', 'three'],
        ['message', '{"json":[1,2]}'],
        ['message', 'line 1\nline 2'],
        ['binary', Buffer.from([0, 1, 254, 255]).toString('base64')],
      ],
    );
    const ep = ready!.id!.slice(0, ready!.id!.lastIndexOf('-'));
    const offs = got.map((e) => Number(e.id!.slice(ep.length + 1)));
    assert.ok(
      got.every((e) => e.id!.startsWith(`${ep}-`)),
      'ids are <epoch>-<offset>',
    );
    assert.deepEqual(
      offs,
      [...offs].sort((x, y) => x - y),
      'ids grow',
    );
    // Nothing else is published now: what arrives next are heartbeat comments.
    const seen = s.events.items.length;
    const next = (await s.events.until(seen + 2, 2000, 'two heartbeats')).slice(seen, seen + 2);
    assert.deepEqual(
      next.map((e) => e.comment),
      ['ping', 'ping'],
    );
  });

  it('sees SDK publishes, and SDK subscribers see curl-style POSTs byte-exact', async () => {
    await using b = await startBroker();
    await using c = clients(b.url, 'websocket');
    const sdk = c.make();
    const got = new Collector<unknown>();
    await sdk.topic('chat').subscribe(got.push).ready;
    await using s = await readSse(`${b.url}/rt/sse?topic=chat`);
    await untilMessages(s, 1);
    await sdk.topic('chat/room').publish({ from: 'sdk' });
    await sdk.topic('chat').publish('plain text');
    assert.equal((await publish(b.url, 'chat', 'from curl: 🎉 ü')).status, 200);
    const events = await untilMessages(s, 4);
    assert.deepEqual(
      events.slice(1).map((e) => e.data),
      ['{"from":"sdk"}', 'plain text', 'from curl: 🎉 ü'],
    );
    await got.until(3);
    assert.deepEqual(got.items, [{ from: 'sdk' }, 'plain text', 'from curl: 🎉 ü']);
    const bad = await publish(b.url, 'chat', new Uint8Array([0x68, 0xff, 0xfe]));
    assert.equal(bad.status, 400, 'invalid UTF-8 text is refused, not altered');
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'bad_frame');
  });

  for (const how of ['Last-Event-ID header', '?lastEventId= parameter'] as const) {
    it(`resumes from the ${how}: replay then live, nothing lost or twice`, async () => {
      await using b = await startBroker();
      const first = await readSse(`${b.url}/rt/sse?topic=feed&topic=feed/sub&topic=other`);
      await untilMessages(first, 1);
      for (const n of [1, 2]) await publish(b.url, 'feed/sub', `m${n}`);
      const before = await untilMessages(first, 3);
      first.close();
      const lastId = before[2]!.id!;
      for (const n of [3, 4]) await publish(b.url, n === 3 ? 'feed/sub' : 'other', `m${n}`);
      await publish(b.url, 'unrelated', 'never');
      const url = `${b.url}/rt/sse?topic=feed&topic=feed/sub&topic=other`;
      await using again =
        how === 'Last-Event-ID header'
          ? await readSse(url, { 'last-event-id': lastId })
          : await readSse(`${url}&lastEventId=${encodeURIComponent(lastId)}`);
      await untilMessages(again, 3);
      await publish(b.url, 'feed', 'm5');
      const events = await untilMessages(again, 4);
      await quiet();
      assert.equal(events[0]!.event, 'ready');
      assert.equal(events[0]!.id, lastId, 'the stream continues from the id asked for');
      assert.deepEqual(
        again
          .messages()
          .slice(1)
          .map((e) => e.data),
        ['m3', 'm4', 'm5'],
        'each once, in order, although two subscriptions cover feed/sub',
      );
    });
  }

  it('says so with an event: gap when the history does not reach back', async () => {
    await using b = await startBroker({ limits: { historySize: 2 } });
    const url = `${b.url}/rt/sse?topic=g`;
    const first = await readSse(url);
    const [ready] = await untilMessages(first, 1);
    first.close();
    for (const n of [1, 2, 3, 4]) await publish(b.url, 'g', `m${n}`);
    await using again = await readSse(url, { 'last-event-id': ready!.id! });
    const events = await untilMessages(again, 4);
    assert.deepEqual(
      events.map((e) => e.event),
      ['ready', 'gap', 'message', 'message'],
    );
    assert.deepEqual(JSON.parse(events[1]!.data), { topic: 'g', reason: 'history' });
    assert.deepEqual(
      events.slice(2).map((e) => e.data),
      ['m3', 'm4'],
    );
    await using other = await readSse(url, { 'last-event-id': 'another-epoch-7' });
    const [r, gap] = await untilMessages(other, 2);
    assert.equal(r!.event, 'ready');
    assert.deepEqual(JSON.parse(gap!.data), { topic: 'g', reason: 'epoch' });
  });

  it('refuses a bad request with a status before streaming', async () => {
    await using b = await startBroker({ authorize: (_id, op, topic) => !(op === 'sub' && topic.startsWith('secret')) });
    const none = await fetch(`${b.url}/rt/sse`);
    assert.equal(none.status, 400);
    const badTopic = await fetch(`${b.url}/rt/sse?topic=a//b`);
    assert.equal(badTopic.status, 400);
    assert.equal(((await badTopic.json()) as { error: { code: string } }).error.code, 'invalid_topic');
    const forbidden = await fetch(`${b.url}/rt/sse?topic=ok&topic=secret/x`);
    assert.equal(forbidden.status, 403);
    assert.equal(((await forbidden.json()) as { error: { code: string } }).error.code, 'forbidden');
    await quiet(50);
    assert.equal(b.broker.stats().sessions, 0, 'a refused stream leaves no session behind');
  });
});

describe('SDK SSE session URLs', () => {
  const openSession = async (url: string): Promise<{ post: string; reader: Awaited<ReturnType<typeof readSse>> }> => {
    const reader = await readSse(`${url}/rt/sse?frames=1`);
    const [session] = await untilMessages(reader, 1);
    assert.equal(session!.event, 'session');
    const info = JSON.parse(session!.data) as { url: string };
    assert.match(info.url, /^sse\/[A-Za-z0-9_-]{32,}$/, 'an unguessable token of at least 128 bits');
    return { post: new URL(info.url, `${url}/rt/sse?frames=1`).href, reader };
  };

  it("answers 403 to a POST for another session's URL, and changes nothing", async () => {
    await using b = await startBroker();
    const a = await openSession(b.url);
    await using _a = a.reader;
    const sub = await fetch(a.post, { method: 'POST', body: JSON.stringify({ t: 'sub', ref: 1, topic: 't' }) });
    assert.equal(sub.status, 204);
    await untilMessages(a.reader, 2);
    const token = a.post.slice(a.post.lastIndexOf('/') + 1);
    const forged = a.post.slice(0, -token.length) + (token[0] === 'A' ? 'B' : 'A') + token.slice(1);
    for (const url of [forged, `${b.url}/rt/sse/`, `${b.url}/rt/sse/unknown`]) {
      const res = await fetch(url, {
        method: 'POST',
        body: JSON.stringify({ t: 'pub', ref: 2, topic: 't', data: 'forged' }),
      });
      assert.equal(res.status, 403, url);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'forbidden');
    }
    await quiet();
    assert.equal(b.broker.stats().published, 0);
    assert.equal(a.reader.messages().length, 2, 'the stream got nothing from the forged POSTs');
    a.reader.close();
    await quiet(50);
    const afterClose = await fetch(a.post, {
      method: 'POST',
      body: JSON.stringify({ t: 'pub', ref: 3, topic: 't', data: 'late' }),
    });
    assert.equal(afterClose.status, 403, "a closed stream's URL is dead");
  });

  it('answers a malformed POST body with 400 and an error body, and the session lives', async () => {
    await using b = await startBroker();
    const a = await openSession(b.url);
    await using _a = a.reader;
    for (const body of ['not json', '42', '"a string"', 'null']) {
      const res = await fetch(a.post, { method: 'POST', body });
      assert.equal(res.status, 400, body);
      const error = ((await res.json()) as { error: { code: string; message: string } }).error;
      assert.equal(error.code, 'bad_frame');
      assert.ok(error.message.length > 0);
    }
    const big = await fetch(a.post, { method: 'POST', body: 'x'.repeat(5 * 1024 * 1024) });
    assert.equal(big.status, 413);
    // A frame that parses as JSON but is not a valid frame is answered on the stream, by ref.
    const res = await fetch(a.post, {
      method: 'POST',
      body: JSON.stringify([
        { t: 'nope', ref: 7 },
        { t: 'pub', ref: 8, topic: 'ok', data: 1 },
      ]),
    });
    assert.equal(res.status, 204);
    const events = await untilMessages(a.reader, 2);
    const frames = events
      .slice(1)
      .flatMap((e) => e.data.split('\n').map((l) => JSON.parse(l) as { t: string; ref: number; code?: string }));
    assert.deepEqual(
      frames.map((f) => [f.t, f.ref, f.code]),
      [
        ['err', 7, 'unknown_op'],
        ['ok', 8, undefined],
      ],
    );
  });
});
