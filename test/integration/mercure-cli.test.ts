/**
 * The Mercure hub of `rt broker` (the built CLI, in its own process), configured from
 * `RT_MERCURE_*` variables, as the README's curl snippets use it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../packages/server/src/config.ts';
import { BrokerProcess } from '../helpers/index.ts';
import { KEY, hubUrl, publish, publisher, subscribe } from '../helpers/mercure.ts';

describe('mercure: rt broker', () => {
  it('serves the hub configured from RT_MERCURE_KEY and RT_MERCURE_ANONYMOUS', async () => {
    await using broker = await new BrokerProcess(['--mode', 'production'], {
      RT_MERCURE_KEY: KEY,
      RT_MERCURE_ANONYMOUS: 'true',
    }).start();
    const hub = `${broker.url}/.well-known/mercure`;
    using sub = subscribe(hubUrl(hub, ['https://example.com/books/{id}']));
    await sub.opened;
    const res = await publish(
      hub,
      [
        ['topic', 'https://example.com/books/1'],
        ['data', '{"status":"OutOfStock"}'],
      ],
      await publisher(),
    );
    assert.equal(res.status, 200);
    const [event] = await sub.events.until(1);
    assert.deepEqual(event, { type: 'message', id: res.body, data: '{"status":"OutOfStock"}' });
  });

  it('reads mercure from rt.config.json, then RT_MERCURE_* variables, then --mercure', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rt-mercure-config-'));
    assert.equal(loadConfig({}, {}, dir).mercure, undefined);
    assert.equal(loadConfig({ mercure: true }, {}, dir).mercure, true);
    assert.equal(loadConfig({}, { RT_MERCURE: '1' }, dir).mercure, true);
    writeFileSync(join(dir, 'rt.config.json'), JSON.stringify({ mercure: { key: 'file-key', subscriptions: true } }));
    assert.deepEqual(loadConfig({}, {}, dir).mercure, { key: 'file-key', subscriptions: true });
    const env = {
      RT_MERCURE_KEY: 'env-key',
      RT_MERCURE_ANONYMOUS: 'true',
      RT_MERCURE_CORS_ORIGINS: 'https://a.example, https://b.example',
    };
    assert.deepEqual(loadConfig({}, env, dir).mercure, {
      key: 'env-key',
      subscriptions: true,
      anonymous: true,
      corsOrigins: ['https://a.example', 'https://b.example'],
    });
    assert.equal(loadConfig({}, { RT_MERCURE: 'false' }, dir).mercure, false, "the variable turns the file's hub off");
    assert.equal(loadConfig({ mercure: true }, { RT_MERCURE: 'false' }, dir).mercure, true, 'flags win');
    assert.throws(
      () => loadConfig({}, { RT_MERCURE_ANONYMOUS: 'maybe' }, dir),
      /RT_MERCURE_ANONYMOUS must be true or false/,
    );
  });

  it('keeps the hub off without Mercure settings', async () => {
    await using broker = await new BrokerProcess(['--mode', 'production']).start();
    assert.equal((await fetch(`${broker.url}/.well-known/mercure?topic=x`)).status, 404);
  });
});
