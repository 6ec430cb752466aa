/**
 * JWT key forms (issue 13): a public key given as a JWK or as base64 DER was used as an HMAC
 * secret, so an HS256 token signed with the public text was accepted and real RS256 tokens got
 * 401, silently. Now PEM, JWK, JWK Set and JWKS URL are first-class, and a value that looks
 * like a public key in another form is refused at start.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type JWK, SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import { JwtVerifier, RtError } from '@rt/server';
import { BrokerProcess } from '../helpers/index.ts';

async function rsaPair(kid: string) {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).setExpirationTime('1m').sign(privateKey);
  return { publicKey, jwk, sign, pem: await exportSPKI(publicKey) };
}

async function refused(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof RtError, String(e));
    assert.equal(e.code, 'unauthorized');
    return e.message;
  }
  assert.fail('the token was accepted');
}

const hs256 = (claims: Record<string, unknown>, secret: string) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1m')
    .sign(new TextEncoder().encode(secret));

describe('security: JWT keys', () => {
  it('verifies RS256 tokens with a JWK, given as an object or as JSON text, and with a JWK Set', async () => {
    const a = await rsaPair('a');
    const b = await rsaPair('b');
    for (const key of [
      a.jwk,
      JSON.stringify(a.jwk),
      { keys: [b.jwk, a.jwk] },
      JSON.stringify({ keys: [a.jwk] }),
      a.pem,
    ]) {
      const verifier = new JwtVerifier({ key });
      assert.equal((await verifier.verify(await a.sign({ sub: 'ann' }))).sub, 'ann');
      // Neither another key's token nor an HS256 token signed with the public key's text.
      await refused(verifier.verify(await (await rsaPair('a')).sign({ sub: 'eve' })));
      await refused(verifier.verify(await hs256({ sub: 'eve' }, typeof key === 'string' ? key : JSON.stringify(key))));
    }
  });

  it('fetches a JWKS URL (cached, refetched for an unknown kid) and verifies with it', async () => {
    const first = await rsaPair('first');
    const second = await rsaPair('second');
    let keys = [first.jwk];
    let fetches = 0;
    const server = createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/jwk-set+json' });
      res.end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
      const verifier = new JwtVerifier({ key: url });
      assert.equal((await verifier.verify(await first.sign({ sub: 'ann' }))).sub, 'ann');
      assert.equal((await verifier.verify(await first.sign({ sub: 'bob' }))).sub, 'bob');
      assert.equal(fetches, 1, 'the key set is cached');
      await refused(verifier.verify(await hs256({ sub: 'eve' }, JSON.stringify({ keys }))));
      // A rotated key: the set is refetched (after the cooldown) when a token names a new kid.
      keys = [first.jwk, second.jwk];
      const rotated = new JwtVerifier({ key: url });
      assert.equal((await rotated.verify(await second.sign({ sub: 'cy' }))).sub, 'cy');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('refuses at start a key that looks public but is not PEM, instead of using it as an HMAC secret', async () => {
    const { publicKey } = await generateKeyPair('RS256', { extractable: true });
    const pem = await exportSPKI(publicKey);
    const der = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    const cases: [string, RegExp][] = [
      [der, /base64 DER/],
      ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host', /OpenSSH/],
      ['{"kty":"RSA","n":"not base64url!"}', /not a JWK rt can read/],
      ['{"alg":"RS256"}', /neither a JWK nor a JWK Set/],
    ];
    for (const [key, message] of cases) {
      assert.throws(() => new JwtVerifier({ key }), message, key.slice(0, 20));
      // An HS256 token signed with that text would have been accepted before.
      assert.throws(() => new JwtVerifier({ key, algorithms: ['HS256'] }), message);
    }
  });

  it('rt broker exits at start with a clear message for such a key', async () => {
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const der = (await exportSPKI(publicKey)).replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    await using broker = new BrokerProcess([], { RT_JWT_KEY: der, RT_MODE: 'production' });
    await assert.rejects(broker.start(), /looks like a base64 DER key without its PEM lines/);
  });
});
