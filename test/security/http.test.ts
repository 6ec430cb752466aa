/**
 * Security at the protocol level over socket.io: the Origin check and CORS, recovery
 * replays that must not leak; and authenticated HTTP publishing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io, type Socket } from 'socket.io-client';
import { BrokerProcess, Collector, clients, deadline, quiet, startBroker } from '../helpers/index.ts';
import { SECRET, token } from '../helpers/security.ts';

/** Opens a bare socket.io connection (as any non-rt client could) and resolves once connected or refused. */
function raw(
  url: string,
  transport: string,
  options: { origin?: string; token?: string; headers?: Record<string, string> } = {},
): Promise<{ socket: Socket; refused?: { message: string; code: unknown } }> {
  const socket = io(url, {
    path: '/rt/socket.io',
    transports: [transport],
    reconnection: false,
    forceNew: true,
    extraHeaders: { ...options.headers, ...(options.origin !== undefined ? { origin: options.origin } : {}) },
    ...(options.token !== undefined ? { auth: { token: options.token } } : {}),
  });
  return deadline(
    new Promise((resolve) => {
      socket.once('connect', () => resolve({ socket }));
      socket.once('connect_error', (e: Error & { data?: { code?: unknown } }) => {
        socket.close();
        resolve({ socket, refused: { message: e.message, code: e.data?.code } });
      });
    }),
    5000,
    'the socket.io handshake',
  );
}

const ALLOWED = 'http://www.example.com:3000';

/** The transports that speak socket.io (SSE and the raw endpoints: endpoints.test.ts). */
const SOCKET_IO = ['websocket', 'polling'] as const;

for (const transport of SOCKET_IO) {
  describe(`origin and recovery over socket.io ${transport}`, () => {
    it('allowOrigin: no Origin and lookalike origins are refused with unauthorized; matching ones connect', async () => {
      await using b = await startBroker({ allowOrigin: 'example.com' });
      for (const origin of [
        undefined,
        'http://notexample.com',
        'http://example.com.evil.net',
        'null',
        'http://evil.net',
      ]) {
        const { refused } = await raw(b.url, transport, origin === undefined ? {} : { origin });
        assert.equal(refused?.code, 'unauthorized', `origin ${String(origin)}`);
        assert.match(refused.message, /origin|Origin/);
      }
      for (const origin of [ALLOWED, 'https://example.com', 'http://a.b.example.com:8080']) {
        const { socket, refused } = await raw(b.url, transport, { origin });
        assert.equal(refused, undefined, `origin ${origin}`);
        socket.close();
      }
    });

    it("allowOrigin: pages of the broker's own origin get in (same-origin is never cross-site)", async () => {
      await using b = await startBroker({ allowOrigin: 'example.com' });
      const own = await raw(b.url, transport, { origin: b.url });
      assert.equal(own.refused, undefined);
      own.socket.close();
      // Browsers leave Origin out of same-origin GETs, and say so in Sec-Fetch-Site.
      const sameSite = await raw(b.url, transport, { headers: { 'sec-fetch-site': 'same-origin' } });
      assert.equal(sameSite.refused, undefined);
      sameSite.socket.close();
      const crossSite = await raw(b.url, transport, { headers: { 'sec-fetch-site': 'cross-site' } });
      assert.equal(crossSite.refused?.code, 'unauthorized');
      const otherPort = await raw(b.url, transport, { origin: `http://127.0.0.1:${b.port + 1}` });
      assert.equal(otherPort.refused?.code, 'unauthorized');
    });

    it('a recovery replay of a forbidden ancestor is refused and replays nothing', async () => {
      await using b = await startBroker({ jwt: { key: SECRET } });
      const history = await b.broker.publish('users/7/secret', 'old-7');
      await b.broker.publish('users/42/note', 'old-42');
      const { socket, refused } = await raw(b.url, transport, {
        token: await token({ rt: { subscribe: ['users/42'] } }),
      });
      assert.equal(refused, undefined);
      const frames = new Collector<{ t: string; ref?: number; code?: string; data?: unknown; ep?: string }>();
      socket.on('f', (...fs: { t: string }[]) => fs.forEach(frames.push));
      socket.emit('f', { t: 'sub', ref: 1, topic: 'users/42' });
      const [first] = await frames.until(1);
      const engine = { ep: first!.ep! };
      // Ask for everything since before the first message, on the ancestor and on a sibling.
      socket.emit('f', { t: 'sub', ref: 2, topic: 'users', ep: engine.ep, off: history.off - 1 });
      socket.emit('f', { t: 'sub', ref: 3, topic: 'users/7', ep: engine.ep, off: history.off - 1 });
      socket.emit('f', { t: 'sub', ref: 4, topic: 'users/42/note', ep: engine.ep, off: history.off - 1 });
      await frames.until(5);
      await quiet();
      socket.close();
      const rest = frames.items.slice(1);
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

    it('CORS of the socket.io endpoint follows allowOrigin', async () => {
      await using b = await startBroker({ allowOrigin: ['example.com'] });
      const handshake = (origin: string): Promise<Response> =>
        fetch(`${b.url}/rt/socket.io/?EIO=4&transport=polling`, { headers: { origin } });
      const allowed = await handshake(ALLOWED);
      assert.equal(allowed.headers.get('access-control-allow-origin'), ALLOWED);
      await allowed.body?.cancel();
      const evil = await handshake('http://example.com.evil.net');
      assert.equal(evil.headers.get('access-control-allow-origin'), null);
      await evil.body?.cancel();
    });
  });
}

describe('HTTP publish security', () => {
  const publish = (url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${url}/rt/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  it('needs a publisher token covering the topic when the broker authenticates', async () => {
    await using b = await startBroker({ jwt: { key: SECRET } });
    await using c = clients(b.url, 'websocket');
    const reader = c.make({ auth: await token({ rt: { subscribe: ['news'] } }) });
    const got = new Collector<string>();
    await reader.topic('news').subscribe((_data, meta) => got.push(meta.topic)).ready;
    const bearer = async (claims: Record<string, unknown>, exp = 60): Promise<Record<string, string>> => ({
      authorization: `Bearer ${await token(claims, { exp })}`,
    });
    const cases: [string, Record<string, string>, number][] = [
      ['no token', {}, 401],
      ['garbage', { authorization: 'Bearer nope' }, 401],
      ['expired', await bearer({ rt: { publish: ['news'] } }, -5), 401],
      ['subscribe only', await bearer({ rt: { subscribe: ['news'] } }), 403],
      ['another topic', await bearer({ rt: { publish: ['sport'] } }), 403],
      ['a child only', await bearer({ rt: { publish: ['news/today'] } }), 403],
    ];
    for (const [what, headers, status] of cases) {
      const res = await publish(b.url, { topic: 'news', data: what }, headers);
      assert.equal(res.status, status, what);
      assert.equal(
        ((await res.json()) as { error: { code: string } }).error.code,
        status === 401 ? 'unauthorized' : 'forbidden',
        what,
      );
    }
    const res = await publish(b.url, { topic: 'news', data: 'ok' }, await bearer({ rt: { publish: ['news'] } }));
    assert.equal(res.status, 200);
    await res.body?.cancel();
    const query = await fetch(`${b.url}/rt/publish?topic=news/today`, {
      method: 'POST',
      headers: await bearer({ rt: { publish: ['*'] } }),
      body: 'hi',
    });
    assert.equal(query.status, 200);
    await query.body?.cancel();
    await got.until(2);
    await quiet(50);
    assert.deepEqual(got.items, ['news', 'news/today']);
  });

  it('httpPublish "open" needs no token; false turns it off', async () => {
    await using open = await startBroker({ jwt: { key: SECRET }, httpPublish: 'open' });
    const res = await publish(open.url, { topic: 'news', data: 1 });
    assert.equal(res.status, 200);
    await res.body?.cancel();
    await using off = await startBroker({ httpPublish: false });
    const refused = await publish(off.url, { topic: 'news', data: 1 });
    assert.equal(refused.status, 403);
    await refused.body?.cancel();
  });

  it('with allowOrigin: a browser from another origin is refused, a backend without Origin is not; CORS follows the list', async () => {
    await using b = await startBroker({ jwt: { key: SECRET }, allowOrigin: 'example.com' });
    const auth = { authorization: `Bearer ${await token({ rt: { publish: ['*'] } })}` };
    const evil = await publish(b.url, { topic: 'a', data: 1 }, { ...auth, origin: 'http://example.com.evil.net' });
    assert.equal(evil.status, 401);
    assert.equal(evil.headers.get('access-control-allow-origin'), null);
    await evil.body?.cancel();
    const backend = await publish(b.url, { topic: 'a', data: 1 }, auth);
    assert.equal(backend.status, 200);
    await backend.body?.cancel();
    const browser = await publish(b.url, { topic: 'a', data: 1 }, { ...auth, origin: ALLOWED });
    assert.equal(browser.status, 200);
    assert.equal(browser.headers.get('access-control-allow-origin'), ALLOWED);
    await browser.body?.cancel();
    const preflight = (origin: string): Promise<Response> =>
      fetch(`${b.url}/rt/publish`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
      });
    const good = await preflight(ALLOWED);
    assert.equal(good.status, 204);
    assert.equal(good.headers.get('access-control-allow-origin'), ALLOWED);
    assert.match(good.headers.get('access-control-allow-headers') ?? '', /Authorization/);
    const bad = await preflight('http://notexample.com');
    assert.equal(bad.headers.get('access-control-allow-origin'), null);
  });
});

describe('rt broker: security settings from the environment and flags', () => {
  it('RT_JWT_KEY and --allow-origin apply to the broker process', async () => {
    await using p = await new BrokerProcess(['--allow-origin', 'example.com', '--mode', 'production'], {
      RT_JWT_KEY: SECRET,
    }).start();
    const good = await token({});
    const evil = await raw(p.url, 'websocket', { origin: 'http://notexample.com', token: good });
    assert.equal(evil.refused?.code, 'unauthorized');
    assert.match(evil.refused.message, /origin/);
    const anonymous = await raw(p.url, 'websocket', { origin: ALLOWED });
    assert.equal(anonymous.refused?.code, 'unauthorized');
    assert.match(anonymous.refused.message, /token is required/);
    const { socket, refused } = await raw(p.url, 'websocket', { origin: ALLOWED, token: good });
    assert.equal(refused, undefined);
    socket.close();
  });
});
