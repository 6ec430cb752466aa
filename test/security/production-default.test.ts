/**
 * Production by default outside loopback (issue 13): `rt broker` used to default to
 * development mode (the example app, development defaults) even on `http://*:4000`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { developmentWarning, loadConfig } from '../../packages/server/src/config.ts';
import { BrokerProcess } from '../helpers/index.ts';

const empty = mkdtempSync(join(tmpdir(), 'rt-mode-'));

describe('security: production by default outside loopback', () => {
  it('defaults to production on a non-loopback address, or when NODE_ENV=production', () => {
    const mode = (flags: Record<string, string>, env: Record<string, string> = {}) =>
      loadConfig(flags, env, empty).mode;
    assert.equal(mode({}), 'production', 'the default listen address is http://*:4000');
    assert.equal(mode({ listen: 'http://0.0.0.0:4000' }), 'production');
    assert.equal(mode({ listen: 'http://192.168.1.5:4000' }), 'production');
    for (const listen of ['http://127.0.0.1:4000', 'http://localhost:0', 'http://[::1]:4000'])
      assert.equal(mode({ listen }), 'development', listen);
    assert.equal(mode({ listen: 'http://127.0.0.1:4000' }, { NODE_ENV: 'production' }), 'production');
    // Asked for explicitly, it is what it says, wherever it listens.
    assert.equal(mode({ mode: 'development' }), 'development');
    assert.equal(mode({}, { RT_MODE: 'development' }), 'development');
    assert.equal(mode({ listen: 'http://127.0.0.1:0', mode: 'production' }), 'production');
  });

  it('warns loudly when development mode is asked for on a non-loopback address', () => {
    const warning = developmentWarning({ mode: 'development', listen: 'http://*:4000' });
    assert.match(warning ?? '', /DEVELOPMENT MODE on http:\/\/\*:4000/);
    assert.equal(developmentWarning({ mode: 'development', listen: 'http://127.0.0.1:4000' }), undefined);
    assert.equal(developmentWarning({ mode: 'production', listen: 'http://*:4000' }), undefined);
  });

  it('rt broker on loopback still serves the example app by default; NODE_ENV=production does not', async () => {
    await using dev = await new BrokerProcess().start();
    const page = await fetch(`${dev.url}/`);
    await page.text();
    assert.equal(page.status, 200);
    await using prod = await new BrokerProcess([], { NODE_ENV: 'production' }).start();
    const none = await fetch(`${prod.url}/`);
    await none.text();
    assert.equal(none.status, 404);
  });
});
