/**
 * Security of the endpoints clients without the SDK use: the SSE stream (SDK frames and
 * plain `?topic=`), the raw WebSocket endpoints and their HTTP POSTs. Every rejection path
 * answers with its HTTP status before anything streams, and hierarchy does not leak.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Collector, deadline, quiet, startBroker } from '../helpers/index.ts';
import { SECRET, token } from '../helpers/security.ts';
import { readSse, untilMessages } from '../helpers/sse.ts';

const ALLOWED = 'http://www.example.com:3000';

/** A raw WebSocket handshake: the open socket and what it receives, or the refusal's HTTP status. */
function rawSocket(
  url: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ ws?: WebSocket; status: number; got: Collector<string>; closed: Promise<[number, string]> }> {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + path, { headers });
  const got = new Collector<string>();
  ws.on('message', (data: Buffer) => got.push(data.toString('utf8')));
  const closed = new Promise<[number, string]>((resolve) =>
    ws.on('close', (code, reason) => resolve([code, reason.toString()])),
  );
  return deadline(
    new Promise((resolve, reject) => {
      ws.once('open', () => resolve({ ws, status: 101, got, closed }));
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, got, closed });
        ws.terminate();
      });
      ws.once('error', reject);
    }),
    5000,
    `the handshake of ${path}`,
  );
}

/** The status and error code of a refused HTTP answer. */
async function refused(res: Response): Promise<[number, string]> {
  const body = (await res.json()) as { error?: { code: string } };
  return [res.status, body.error?.code ?? ''];
}

describe('SSE and raw endpoints: who may connect', () => {
  it('token rejections: missing, expired, forged and wrong-key tokens get 401 on every endpoint', async () => {
    await using b = await startBroker({ jwt: { key: SECRET } });
    const good = await token({ rt: { subscribe: ['*'], publish: ['*'] } });
    const [h, , s] = good.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ rt: { subscribe: ['*'], publish: ['*'] } })).toString('base64url')}.${s}`;
    const bad: [string, string | undefined][] = [
      ['missing', undefined],
      ['expired', await token({ rt: { subscribe: ['*'] } }, { exp: -5 })],
      ['forged', forged],
      [
        'wrong key',
        await token(
          { rt: { subscribe: ['*'] } },
          { key: new TextEncoder().encode('another-secret-of-32-bytes-long!!!') },
        ),
      ],
    ];
    for (const [what, t] of bad) {
      const q = t === undefined ? '' : `token=${encodeURIComponent(t)}`;
      assert.deepEqual(
        await refused(await fetch(`${b.url}/rt/sse?frames=1&${q}`)),
        [401, 'unauthorized'],
        `SDK SSE, ${what}`,
      );
      assert.deepEqual(
        await refused(await fetch(`${b.url}/rt/sse?topic=a&${q}`)),
        [401, 'unauthorized'],
        `plain SSE, ${what}`,
      );
      const bearer: Record<string, string> = t === undefined ? {} : { authorization: `Bearer ${t}` };
      assert.deepEqual(
        await refused(await fetch(`${b.url}/rt/sse?topic=a`, { headers: bearer })),
        [401, 'unauthorized'],
        `plain SSE (Bearer), ${what}`,
      );
      assert.equal((await rawSocket(b.url, `/sub/a?${q}`)).status, 401, `raw /sub, ${what}`);
      assert.equal((await rawSocket(b.url, '/pub/a', bearer)).status, 401, `raw /pub (Bearer), ${what}`);
      assert.deepEqual(
        await refused(await fetch(`${b.url}/pub/a`, { method: 'POST', headers: bearer, body: 'x' })),
        [401, 'unauthorized'],
        `raw POST, ${what}`,
      );
    }
    await quiet(50);
    assert.equal(b.broker.stats().sessions, 0, 'refusals leave no session behind');
    const q = `token=${encodeURIComponent(good)}`;
    await using ok = await readSse(`${b.url}/rt/sse?topic=a&${q}`);
    assert.equal(ok.response.status, 200);
    const socket = await rawSocket(b.url, `/sub/a?${q}`);
    assert.equal(socket.status, 101);
    socket.ws!.close();
  });

  it('allowOrigin: foreign or missing Origins get 401, CORS names only allowed origins', async () => {
    await using b = await startBroker({ allowOrigin: 'example.com' });
    for (const origin of [undefined, 'http://notexample.com', 'http://example.com.evil.net']) {
      const headers: Record<string, string> = origin === undefined ? {} : { origin };
      assert.deepEqual(
        await refused(await fetch(`${b.url}/rt/sse?frames=1`, { headers })),
        [401, 'unauthorized'],
        `SDK SSE from ${String(origin)}`,
      );
      assert.deepEqual(
        await refused(await fetch(`${b.url}/rt/sse?topic=a`, { headers })),
        [401, 'unauthorized'],
        `plain SSE from ${String(origin)}`,
      );
      assert.equal((await rawSocket(b.url, '/sub/a', headers)).status, 401, `raw /sub from ${String(origin)}`);
    }
    const evilPost = await fetch(`${b.url}/pub/a`, {
      method: 'POST',
      headers: { origin: 'http://example.com.evil.net' },
      body: 'x',
    });
    assert.deepEqual(await refused(evilPost), [401, 'unauthorized']);
    await using ok = await readSse(`${b.url}/rt/sse?topic=a`, { origin: ALLOWED });
    assert.equal(ok.response.status, 200);
    assert.equal(ok.response.headers.get('access-control-allow-origin'), ALLOWED);
    const socket = await rawSocket(b.url, '/sub/a', { origin: ALLOWED });
    assert.equal(socket.status, 101);
    socket.ws!.close();
    const preflight = await fetch(`${b.url}/rt/sse/x`, {
      method: 'OPTIONS',
      headers: { origin: 'http://notexample.com', 'access-control-request-method': 'POST' },
    });
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);
    const allowedPreflight = await fetch(`${b.url}/rt/sse/x`, {
      method: 'OPTIONS',
      headers: { origin: ALLOWED, 'access-control-request-method': 'POST' },
    });
    assert.equal(allowedPreflight.headers.get('access-control-allow-origin'), ALLOWED);
  });

  it("a session's SSE POST URL used by a page of another site gets 403, and does nothing", async () => {
    await using b = await startBroker({ allowOrigin: 'example.com' });
    await using s = await readSse(`${b.url}/rt/sse?frames=1`, { origin: ALLOWED });
    const [session] = await untilMessages(s, 1);
    const post = new URL((JSON.parse(session!.data) as { url: string }).url, `${b.url}/rt/sse?frames=1`).href;
    const frame = JSON.stringify({ t: 'pub', ref: 1, topic: 't', data: 'x' });
    const evil = await fetch(post, { method: 'POST', headers: { origin: 'http://notexample.com' }, body: frame });
    assert.deepEqual(await refused(evil), [403, 'forbidden']);
    await quiet();
    assert.equal(b.broker.stats().published, 0);
    const own = await fetch(post, { method: 'POST', headers: { origin: ALLOWED }, body: frame });
    assert.equal(own.status, 204);
    const [, ok] = await untilMessages(s, 2);
    assert.equal(JSON.parse(ok!.data).t, 'ok');
  });
});

describe('SSE and raw endpoints: hierarchy does not leak', () => {
  it('plain SSE ?topic= of a forbidden ancestor or sibling is refused whole; an allowed one streams only its own', async () => {
    await using b = await startBroker({ jwt: { key: SECRET } });
    const q = `token=${encodeURIComponent(await token({ rt: { subscribe: ['users/42'] } }))}`;
    await b.broker.publish('users/7/secret', 'old-7');
    for (const topics of ['topic=users', 'topic=users/7', 'topic=users/42&topic=users']) {
      assert.deepEqual(await refused(await fetch(`${b.url}/rt/sse?${topics}&${q}`)), [403, 'forbidden'], topics);
    }
    await using s = await readSse(`${b.url}/rt/sse?topic=users/42&${q}`);
    const [ready] = await untilMessages(s, 1);
    await b.broker.publish('users/7/secret', 'live-7');
    await b.broker.publish('users/42/inbox', 'mine');
    const events = await untilMessages(s, 2);
    // Resuming from before everything replays users/42 only.
    const ep = ready!.id!.slice(0, ready!.id!.lastIndexOf('-'));
    await using again = await readSse(`${b.url}/rt/sse?topic=users/42&${q}`, { 'last-event-id': `${ep}-0` });
    const replay = await untilMessages(again, 2);
    await quiet();
    assert.deepEqual(
      events.slice(1).map((e) => e.data),
      ['mine'],
    );
    assert.deepEqual(
      again
        .messages()
        .filter((e) => e.event === 'message')
        .map((e) => e.data),
      ['mine'],
    );
    assert.equal(replay[0]!.event, 'ready');
    assert.equal(s.messages().length, 2);
  });

  it('SDK SSE: a recovery replay of a forbidden ancestor is refused and replays nothing', async () => {
    await using b = await startBroker({ jwt: { key: SECRET } });
    const first = await b.broker.publish('users/7/secret', 'old-7');
    await b.broker.publish('users/42/note', 'old-42');
    await using s = await readSse(
      `${b.url}/rt/sse?frames=1&token=${encodeURIComponent(await token({ rt: { subscribe: ['users/42'] } }))}`,
    );
    const [session] = await untilMessages(s, 1);
    const post = new URL((JSON.parse(session!.data) as { url: string }).url, `${b.url}/rt/sse?frames=1`).href;
    const frames = (): { t: string; ref?: number; code?: string; data?: unknown; ep?: string }[] =>
      s
        .messages()
        .slice(1)
        .flatMap((e) => e.data.split('\n').map((line) => JSON.parse(line)));
    await fetch(post, { method: 'POST', body: JSON.stringify({ t: 'sub', ref: 1, topic: 'users/42' }) });
    await untilMessages(s, 2);
    const ep = frames()[0]!.ep!;
    const since = { ep, off: first.off - 1 };
    await fetch(post, {
      method: 'POST',
      body: JSON.stringify([
        { t: 'sub', ref: 2, topic: 'users', ...since },
        { t: 'sub', ref: 3, topic: 'users/7', ...since },
        { t: 'sub', ref: 4, topic: 'users/42/note', ...since },
      ]),
    });
    const deadlineAt = Date.now() + 5000;
    while (frames().filter((f) => f.t === 'ok' || f.t === 'err').length < 4 && Date.now() < deadlineAt)
      await s.events.until(s.events.items.length + 1, 5000).catch(() => undefined);
    await quiet();
    const rest = frames().slice(1);
    assert.deepEqual(
      rest.filter((f) => f.t === 'err').map((f) => [f.ref, f.code]),
      [
        [2, 'forbidden'],
        [3, 'forbidden'],
      ],
    );
    assert.deepEqual(
      rest.filter((f) => f.t === 'msg').map((f) => f.data),
      ['old-42'],
    );
  });

  it('raw endpoints: a forbidden topic is refused at the handshake with 403; an allowed /sub never gets a sibling', async () => {
    await using b = await startBroker({ jwt: { key: SECRET } });
    const reader = { authorization: `Bearer ${await token({ rt: { subscribe: ['users/42'] } })}` };
    for (const path of [
      '/sub/users',
      '/sub/users/7',
      '/bus/users',
      '/pull/users/7',
      '/pub/users/42',
      '/push/users/42',
    ]) {
      assert.equal((await rawSocket(b.url, path, reader)).status, 403, path);
    }
    assert.deepEqual(
      await refused(await fetch(`${b.url}/pub/users/42`, { method: 'POST', headers: reader, body: 'x' })),
      [403, 'forbidden'],
    );
    const sub = await rawSocket(b.url, '/sub/users/42', reader);
    assert.equal(sub.status, 101);
    await b.broker.publish('users/7', 'theirs');
    await b.broker.publish('users/42/inbox', 'mine');
    await sub.got.until(1);
    await quiet();
    assert.deepEqual(sub.got.items, ['mine']);
    sub.ws!.close();
  });

  it('raw WebSocket: an expiring token closes the socket with the reason', async () => {
    await using b = await startBroker({ jwt: { key: SECRET } });
    // `exp` is in whole seconds: `exp: 3` lives 2 to 3 s (with 1 s it could expire a few ms after
    // it was made, before the handshake, and the upgrade was refused instead).
    const sub = await rawSocket(b.url, '/sub/feed', {
      authorization: `Bearer ${await token({ rt: { subscribe: ['feed'] } }, { exp: 3 })}`,
    });
    assert.equal(sub.status, 101);
    const [, reason] = await deadline(sub.closed, 8000, 'the socket to close when its token expires');
    assert.match(reason, /token expired/);
  });
});
