/**
 * Cookies and CORS (issue 13): with a JWT key set and `allowOrigin` unset, every rt HTTP
 * endpoint answered `Origin: https://evil.example` with that origin and
 * `Access-Control-Allow-Credentials: true`, and accepted the `rt_token` cookie, so any site a
 * user visited could act as the user. Now: credentialed CORS only for listed origins, a
 * cookie authenticates only with an explicit `allowOrigin` list, and HTTP publishing takes
 * `Authorization: Bearer` only.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/index.ts';
import { SECRET, token } from '../helpers/security.ts';

const EVIL = 'https://evil.example';
const APP = 'https://app.example';

interface Answer {
  status: number;
  allowOrigin: string | null;
  credentials: string | null;
}

async function call(url: string, init: RequestInit & { headers: Record<string, string> }): Promise<Answer> {
  const res = await fetch(url, init);
  await res.body?.cancel();
  return {
    status: res.status,
    allowOrigin: res.headers.get('access-control-allow-origin'),
    credentials: res.headers.get('access-control-allow-credentials'),
  };
}

/** Every rt HTTP endpoint a page could reach with the user's cookie. */
async function endpoints(
  base: string,
  headers: Record<string, string>,
): Promise<Record<'sse' | 'sdkSse' | 'polling' | 'publish' | 'rawPub' | 'preflight', Answer>> {
  const json = { ...headers, 'content-type': 'application/json' };
  return {
    sse: await call(`${base}/rt/sse?topic=users/1`, { headers }),
    sdkSse: await call(`${base}/rt/sse?frames=1`, { headers }),
    polling: await call(`${base}/rt/socket.io/?EIO=4&transport=polling`, { headers }),
    publish: await call(`${base}/rt/publish`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ topic: 'users/1', data: 'x' }),
    }),
    rawPub: await call(`${base}/pub/users/1`, { method: 'POST', headers, body: 'x' }),
    preflight: await call(`${base}/rt/publish`, {
      method: 'OPTIONS',
      headers: { ...headers, 'access-control-request-method': 'POST' },
    }),
  };
}

describe('security: cookies and CORS', () => {
  it('without allowOrigin: no credentialed CORS for any origin, and the token cookie is ignored', async () => {
    await using b = await startBroker({ jwt: { key: SECRET } });
    const t = await token({ sub: 'victim', rt: { subscribe: ['*'], publish: ['*'] } });
    const answers = await endpoints(b.url, { origin: EVIL, cookie: `rt_token=${t}` });
    for (const [name, a] of Object.entries(answers)) {
      assert.notEqual(a.allowOrigin, EVIL, name);
      assert.equal(a.credentials, null, `${name}: Access-Control-Allow-Credentials`);
      if (name !== 'preflight' && name !== 'polling')
        assert.equal(a.status, 401, `${name}: the cookie must not authenticate`);
    }
    // The same token in Authorization works from anywhere (pages that hold a token, Node, mobile).
    const bearer = await endpoints(b.url, { origin: EVIL, authorization: `Bearer ${t}` });
    assert.equal(bearer.publish.status, 200);
    assert.equal(bearer.publish.allowOrigin, '*');
    assert.equal(bearer.rawPub.status, 200);
  });

  it('HTTP publishing takes Authorization: Bearer only, not ?token= nor a cookie', async () => {
    await using b = await startBroker({ jwt: { key: SECRET }, allowOrigin: APP });
    const t = await token({ rt: { publish: ['*'] } });
    const post = (query: string, headers: Record<string, string>): Promise<Answer> =>
      call(`${b.url}/rt/publish${query}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ topic: 'a', data: 1 }),
      });
    assert.equal((await post(`?token=${t}`, {})).status, 401);
    assert.equal((await post(`?access_token=${t}`, {})).status, 401);
    assert.equal((await post('', { origin: APP, cookie: `rt_token=${t}` })).status, 401);
    assert.equal((await post('', { authorization: `Bearer ${t}` })).status, 200);
  });

  it('with an allowOrigin list: listed origins get credentials and may use the cookie; others get nothing', async () => {
    await using b = await startBroker({ jwt: { key: SECRET }, allowOrigin: APP });
    const t = await token({ sub: 'u', rt: { subscribe: ['*'] } });
    const listed = await call(`${b.url}/rt/sse?topic=users/1`, { headers: { origin: APP, cookie: `rt_token=${t}` } });
    assert.deepEqual(listed, { status: 200, allowOrigin: APP, credentials: 'true' });
    const polling = await call(`${b.url}/rt/socket.io/?EIO=4&transport=polling`, { headers: { origin: APP } });
    assert.equal(polling.allowOrigin, APP);
    assert.equal(polling.credentials, 'true');
    const evil = await endpoints(b.url, { origin: EVIL, cookie: `rt_token=${t}` });
    for (const [name, a] of Object.entries(evil)) {
      assert.equal(a.allowOrigin, null, name);
      assert.equal(a.credentials, null, name);
    }
    assert.equal(evil.sse.status, 401);
  });

  it('allowOrigin "*" admits any origin but never with credentials or cookies', async () => {
    await using b = await startBroker({ jwt: { key: SECRET }, allowOrigin: '*' });
    const t = await token({ sub: 'u', rt: { subscribe: ['*'] } });
    const a = await call(`${b.url}/rt/sse?topic=users/1`, { headers: { origin: EVIL, cookie: `rt_token=${t}` } });
    assert.deepEqual(a, { status: 401, allowOrigin: '*', credentials: null });
    const withToken = await call(`${b.url}/rt/sse?topic=users/1&token=${t}`, { headers: { origin: EVIL } });
    assert.deepEqual(withToken, { status: 200, allowOrigin: '*', credentials: null });
  });
});
