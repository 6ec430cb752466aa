/**
 * Grants (the `rt` claim) and JWT verification: which topics a claim covers, and which
 * tokens are refused and why.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { JwtVerifier, RtError, grantsAllow, type Grants } from '@rt/server';

describe('grants: which topics a claim covers', () => {
  const grants: Grants = { subscribe: ['users/42', 'news'], publish: ['chat/room1'] };
  const cases: [string, string, boolean][] = [
    ['sub', 'users/42', true],
    ['sub', 'users/42/inbox', true],
    ['sub', 'users', false], // an ancestor would receive users/7/...
    ['sub', 'users/7', false],
    ['sub', 'users/420', false],
    ['sub', 'users/4', false],
    ['sub', 'newsletter', false],
    ['join', 'news/today', true],
    ['pull', 'users/42/jobs', true],
    ['pub', 'users/42', false], // reading does not grant writing
    ['pub', 'chat/room1', true],
    ['bus', 'chat/room1/typing', true],
    ['push', 'chat', false],
    ['sub', 'chat/room1', false],
    // Letting go needs no grant.
    ['unsub', 'anything', true],
    ['leave', 'anything', true],
    ['unpull', 'anything', true],
  ];
  for (const [op, topic, allowed] of cases) {
    it(`${op} ${topic}: ${allowed ? 'allowed' : 'refused'}`, () => {
      assert.equal(grantsAllow(grants, op as never, topic), allowed);
    });
  }
  it('"*" covers every topic; no grants cover none', () => {
    assert.equal(grantsAllow({ subscribe: ['*'] }, 'sub', 'a/b/c'), true);
    assert.equal(grantsAllow({ subscribe: ['*'] }, 'pub', 'a'), false);
    assert.equal(grantsAllow(undefined, 'sub', 'a'), false);
    assert.equal(grantsAllow({}, 'pub', 'a'), false);
  });
});

const SECRET = 'a-test-secret-that-is-32-bytes-long!';
const now = (): number => Math.floor(Date.now() / 1000);

function hs(claims: Record<string, unknown>, secret = SECRET, alg = 'HS256'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg }).sign(new TextEncoder().encode(secret));
}

async function refusal(verifier: JwtVerifier, token: string): Promise<string> {
  try {
    await verifier.verify(token);
  } catch (e) {
    assert.ok(e instanceof RtError);
    assert.equal(e.code, 'unauthorized');
    assert.ok(!e.message.includes(SECRET) && !e.message.includes(token), 'the reason names neither key nor token');
    return e.message;
  }
  assert.fail('the token was accepted');
}

describe('JwtVerifier', () => {
  const verifier = new JwtVerifier({ key: SECRET });

  it('HS256: accepts a valid token and returns its claims with the grants', async () => {
    const identity = await verifier.verify(
      await hs({ sub: 'u42', rt: { subscribe: ['users/42'], publish: ['chat'] }, exp: now() + 60 }),
    );
    assert.equal(identity.sub, 'u42');
    assert.deepEqual(identity.rt, { subscribe: ['users/42'], publish: ['chat'] });
  });

  it('refuses expired, not-yet-valid, forged, wrong-key, unsigned and malformed tokens, saying why', async () => {
    assert.match(await refusal(verifier, await hs({ exp: now() - 10 })), /expired/);
    assert.match(await refusal(verifier, await hs({ nbf: now() + 60 })), /nbf/);
    assert.match(
      await refusal(verifier, await hs({ rt: { publish: ['*'] } }, 'another-secret-that-is-32-bytes-long')),
      /signature/,
    );
    const good = await hs({ rt: { subscribe: ['a'] } });
    const [h, , s] = good.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ rt: { subscribe: ['*'], publish: ['*'] } })).toString('base64url')}.${s}`;
    assert.match(await refusal(verifier, forged), /signature/);
    assert.match(await refusal(verifier, new UnsecuredJWT({ rt: { publish: ['*'] } }).encode()), /invalid token/);
    assert.match(await refusal(verifier, 'not.a.jwt'), /invalid token/);
    assert.match(await refusal(verifier, await hs({ rt: { subscribe: 'users/42' } })), /claim "rt"/);
    assert.match(await refusal(verifier, await hs({ rt: { subscribe: ['users/*'] } })), /claim "rt"/);
  });

  it('refuses an RS256 token signed with the HMAC secret taken as a public key (algorithm confusion)', async () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const rsa = new JwtVerifier({ key: pem });
    assert.match(await refusal(rsa, await hs({ rt: { publish: ['*'] } }, pem)), /algorithm|invalid token/);
  });

  const pairs = {
    RS256: () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
    ES256: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  };
  for (const [alg, make] of Object.entries(pairs)) {
    it(`${alg}: verifies with a PEM public key, and refuses a token of another key pair`, async () => {
      const pair = make();
      const other = make();
      const v = new JwtVerifier({ key: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() });
      const token = await new SignJWT({ rt: { subscribe: ['x'] } })
        .setProtectedHeader({ alg })
        .setExpirationTime('1m')
        .sign(pair.privateKey);
      assert.deepEqual((await v.verify(token)).rt, { subscribe: ['x'], publish: [] });
      const wrong = await new SignJWT({ rt: { subscribe: ['x'] } }).setProtectedHeader({ alg }).sign(other.privateKey);
      assert.match(await refusal(v, wrong), /signature/);
    });
  }

  it('separate publisher and subscriber keys: each key grants only its own side', async () => {
    const split = new JwtVerifier({
      publisherKey: 'publisher-secret-that-is-32-bytes!!',
      subscriberKey: 'subscriber-secret-that-is-32-bytes!',
    });
    const claims = { rt: { subscribe: ['a'], publish: ['a'] } };
    assert.deepEqual((await split.verify(await hs(claims, 'publisher-secret-that-is-32-bytes!!'))).rt, {
      subscribe: [],
      publish: ['a'],
    });
    assert.deepEqual((await split.verify(await hs(claims, 'subscriber-secret-that-is-32-bytes!'))).rt, {
      subscribe: ['a'],
      publish: [],
    });
    await refusal(split, await hs(claims));
  });

  it('refuses configurations that cannot work, naming the option', () => {
    assert.throws(() => new JwtVerifier({}), /needs a key/);
    assert.throws(() => new JwtVerifier({ key: SECRET, algorithms: ['RS256'] }), /jwt.key: no accepted algorithm/);
    assert.throws(
      () => new JwtVerifier({ key: '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----' }),
      /jwt.key is not a PEM key/,
    );
  });
});
