/**
 * The policy's decisions without a network: which handshakes get in, with which identity,
 * and which settings are refused up front.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Policy, RtError, type Logger } from '@rt/server';
import { SECRET, token } from '../helpers/security.ts';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const handshake = (headers: Record<string, string> = {}, query = '', t?: string) => ({
  transport: 'websocket',
  headers,
  query: new URLSearchParams(query),
  ...(t !== undefined ? { token: t } : {}),
});

async function refusal(promise: Promise<unknown>): Promise<RtError> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof RtError);
    return e;
  }
  assert.fail('expected a refusal');
}

describe('Policy', () => {
  it('without security options: everyone gets in anonymously and may do anything; tokens are ignored', async () => {
    const policy = new Policy({}, silent);
    assert.equal(await policy.admit(handshake({}, '', 'whatever')), null);
    assert.equal(policy.allows(null, 'pub', 'any/topic', undefined), true);
  });

  it('finds the token in the transport channel, the Bearer header, the query, then the cookie', async () => {
    const policy = new Policy({ jwt: { key: SECRET }, tokenCookie: 'session_jwt' }, silent);
    const t = await token({ sub: 'u1' });
    for (const h of [
      handshake({}, '', t),
      handshake({ authorization: `Bearer ${t}` }),
      handshake({}, `access_token=${t}`),
      handshake({}, `token=${t}`),
    ]) {
      assert.equal(((await policy.admit(h)) as { sub: string }).sub, 'u1');
    }
    // A cookie counts only with an explicit allowOrigin list (test/security/cors-cookies.test.ts).
    const listed = new Policy({ jwt: { key: SECRET }, tokenCookie: 'session_jwt', allowOrigin: 'example.com' }, silent);
    const fromPage = handshake({ origin: 'https://example.com', cookie: `other=1; session_jwt=${t}` });
    assert.equal(((await listed.admit(fromPage)) as { sub: string }).sub, 'u1');
    // The first source found wins: a bad header is not rescued by a good cookie.
    assert.equal(
      (
        await refusal(
          listed.admit(
            handshake({ origin: 'https://example.com', authorization: 'Bearer bad', cookie: `session_jwt=${t}` }),
          ),
        )
      ).code,
      'unauthorized',
    );
  });

  it('refuses settings that cannot work, naming them', () => {
    assert.throws(
      () => new Policy({ allowAnonymous: false }, silent),
      /allowAnonymous: false needs a way to authenticate/,
    );
    assert.throws(
      () => new Policy({ jwt: { key: SECRET }, allowAnonymous: { subscribe: 'news' as never } }, silent),
      /allowAnonymous "subscribe" must be an array/,
    );
    assert.throws(() => new Policy({ allowOrigin: [] }, silent), /allowOrigin is empty/);
  });

  it('an authenticate hook whose identity has a malformed rt claim refuses the connection', async () => {
    const policy = new Policy({ authenticate: () => ({ user: 'x', rt: { subscribe: 'all' } }) }, silent);
    assert.equal((await refusal(policy.admit(handshake()))).code, 'unauthorized');
  });

  it('an authorize hook that throws refuses the operation', async () => {
    const policy = new Policy(
      {
        authorize: () => {
          throw new Error('bug');
        },
      },
      silent,
    );
    assert.equal(policy.allows(null, 'sub', 'a', undefined), false);
    const asyncPolicy = new Policy(
      {
        authorize: async () => {
          throw new Error('bug');
        },
      },
      silent,
    );
    assert.equal(await asyncPolicy.allows(null, 'sub', 'a', undefined), false);
    // Letting go is never refused, even by a hook.
    assert.equal(policy.allows(null, 'unsub', 'a', undefined), true);
  });
});
