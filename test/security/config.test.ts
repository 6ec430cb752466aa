/**
 * Security settings from rt.config.json, RT_* variables and flags (later wins).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../packages/server/src/config.ts';

function folder(config?: unknown, files: Record<string, string> = {}): { dir: string } & Disposable {
  const dir = mkdtempSync(join(tmpdir(), 'rt-config-'));
  if (config !== undefined) writeFileSync(join(dir, 'rt.config.json'), JSON.stringify(config));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

const PEM = '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n';

describe('security configuration', () => {
  it('reads allowOrigin, jwt (keys and key files), allowAnonymous and httpPublish from rt.config.json', () => {
    using f = folder(
      {
        allowOrigin: ['example.com', 'http://localhost:*'],
        jwt: {
          publisherKey: 'pub-secret',
          subscriberKeyFile: 'sub.pem',
          algorithms: ['ES256'],
          issuer: 'https://auth.example.com',
        },
        allowAnonymous: { subscribe: ['news'] },
        httpPublish: 'open',
      },
      { 'sub.pem': PEM },
    );
    const config = loadConfig({}, {}, f.dir);
    assert.deepEqual(config.allowOrigin, ['example.com', 'http://localhost:*']);
    assert.deepEqual(config.jwt, {
      publisherKey: 'pub-secret',
      subscriberKey: PEM,
      algorithms: ['ES256'],
      issuer: ['https://auth.example.com'],
    });
    assert.deepEqual(config.allowAnonymous, { subscribe: ['news'] });
    assert.equal(config.httpPublish, 'open');
  });

  it('RT_* variables override the file, and flags override both', () => {
    using f = folder({ allowOrigin: 'a.com', jwt: { key: 'file-secret' }, allowAnonymous: true }, { 'key.pem': PEM });
    const env = {
      RT_ALLOW_ORIGIN: 'b.com, *.c.com',
      RT_JWT_KEY: 'env-secret',
      RT_ALLOW_ANONYMOUS: 'false',
      RT_HTTP_PUBLISH: 'false',
      RT_JWT_AUDIENCE: 'rt',
    };
    const fromEnv = loadConfig({}, env, f.dir);
    assert.deepEqual(fromEnv.allowOrigin, ['b.com', '*.c.com']);
    assert.deepEqual(fromEnv.jwt, { key: 'env-secret', audience: ['rt'] });
    assert.equal(fromEnv.allowAnonymous, false);
    assert.equal(fromEnv.httpPublish, false);
    const fromFlags = loadConfig(
      { allowOrigin: 'd.com', jwtKeyFile: 'key.pem', allowAnonymous: true, httpPublish: 'true' },
      env,
      f.dir,
    );
    assert.deepEqual(fromFlags.allowOrigin, ['d.com']);
    assert.equal(fromFlags.jwt?.key, PEM);
    assert.equal(fromFlags.allowAnonymous, true);
    assert.equal(fromFlags.httpPublish, true);
    const keyFromEnvFile = loadConfig({}, { RT_JWT_SUBSCRIBER_KEY_FILE: 'key.pem' }, f.dir);
    assert.equal(keyFromEnvFile.jwt?.subscriberKey, PEM);
  });

  it('says clearly what is wrong with a bad value', () => {
    using f = folder();
    assert.throws(
      () => loadConfig({}, { RT_ALLOW_ANONYMOUS: 'maybe' }, f.dir),
      /RT_ALLOW_ANONYMOUS must be true or false/,
    );
    assert.throws(() => loadConfig({}, { RT_HTTP_PUBLISH: 'sometimes' }, f.dir), /RT_HTTP_PUBLISH/);
    assert.throws(() => loadConfig({ jwtKeyFile: 'missing.pem' }, {}, f.dir), /cannot read .*missing.pem/);
    using bad = folder({ jwt: 'secret' });
    assert.throws(() => loadConfig({}, {}, bad.dir), /"jwt" must be an object/);
    using badGrants = folder({ allowAnonymous: { subscribe: 'news' } });
    assert.throws(() => loadConfig({}, {}, badGrants.dir), /"allowAnonymous" "subscribe" must be an array/);
    using badOrigin = folder({ allowOrigin: 5 });
    assert.throws(() => loadConfig({}, {}, badOrigin.dir), /"allowOrigin" must be a string or an array/);
  });
});
