import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../packages/server/src/config.ts';
import { parseListen } from '@rt/server';

describe('CLI configuration', () => {
  it('defaults, then rt.config.json, then RT_* env, then flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rt-config-'));
    assert.deepEqual(loadConfig({}, {}, dir), {
      listen: 'http://*:4000',
      // Production outside loopback (test/security/production-default.test.ts).
      mode: 'production',
      logLevel: 'info',
      limits: {},
    });
    writeFileSync(
      join(dir, 'rt.config.json'),
      JSON.stringify({ listen: 'http://127.0.0.1:5000', mode: 'production', limits: { maxPayloadBytes: 10 } }),
    );
    assert.deepEqual(loadConfig({}, {}, dir).listen, 'http://127.0.0.1:5000');
    const env = { RT_LISTEN: 'http://127.0.0.1:6000', RT_MAX_PAYLOAD_BYTES: '20', RT_PUSH_QUEUE_SIZE: '5' };
    const fromEnv = loadConfig({}, env, dir);
    assert.deepEqual(
      [fromEnv.listen, fromEnv.mode, fromEnv.limits],
      ['http://127.0.0.1:6000', 'production', { maxPayloadBytes: 20, pushQueueSize: 5 }],
    );
    const fromFlags = loadConfig({ listen: 'http://[::1]:7000', mode: 'development' }, env, dir);
    assert.deepEqual([fromFlags.listen, fromFlags.mode], ['http://[::1]:7000', 'development']);
  });

  it('explains bad values', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rt-config-'));
    assert.throws(() => loadConfig({ mode: 'fast' }, {}, dir), /--mode: mode must be "development" or "production"/);
    assert.throws(
      () => loadConfig({}, { RT_MAX_PAYLOAD_BYTES: 'lots' }, dir),
      /RT_MAX_PAYLOAD_BYTES must be a non-negative number/,
    );
    assert.throws(() => loadConfig({ config: 'missing.json' }, {}, dir), /does not exist/);
    writeFileSync(join(dir, 'bad.json'), '{');
    assert.throws(() => loadConfig({ config: 'bad.json' }, {}, dir), /is not valid JSON/);
  });

  it('Redis: rt.config.json, then RT_REDIS_URL / RT_REDIS_PREFIX, then --redis / --redis-prefix', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rt-config-'));
    assert.equal(loadConfig({}, {}, dir).redis, undefined);
    writeFileSync(join(dir, 'rt.config.json'), JSON.stringify({ redis: 'redis://file:6379', redisPrefix: 'file:' }));
    assert.deepEqual(
      [loadConfig({}, {}, dir).redis, loadConfig({}, {}, dir).redisPrefix],
      ['redis://file:6379', 'file:'],
    );
    const env = { RT_REDIS_URL: 'rediss://:secret@env:6380/2', RT_REDIS_PREFIX: 'env:' };
    const fromEnv = loadConfig({}, env, dir);
    assert.deepEqual([fromEnv.redis, fromEnv.redisPrefix], ['rediss://:secret@env:6380/2', 'env:']);
    const fromFlags = loadConfig({ redis: 'redis://flag:6379', redisPrefix: 'flag:' }, env, dir);
    assert.deepEqual([fromFlags.redis, fromFlags.redisPrefix], ['redis://flag:6379', 'flag:']);
    assert.throws(
      () => loadConfig({ redis: 'localhost:6379' }, {}, dir),
      /--redis: expected a Redis URL such as redis:\/\/127.0.0.1:6379/,
    );
    assert.throws(() => loadConfig({}, { RT_REDIS_URL: 'http://x' }, dir), /RT_REDIS_URL: expected a Redis URL/);
  });

  it('parses listen addresses', () => {
    assert.deepEqual(parseListen('http://*:4000'), { host: '*', port: 4000 });
    assert.deepEqual(parseListen('http://127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseListen('http://[::1]:4001'), { host: '[::1]', port: 4001 });
    assert.deepEqual(parseListen(4002), { host: '*', port: 4002 });
    assert.deepEqual(parseListen('4003'), { host: '*', port: 4003 });
    assert.throws(() => parseListen('http://a:b:c'), /cannot listen/);
    assert.throws(() => parseListen('http://*:70000'), /out of range/);
  });
});
