/**
 * Turning metrics and the admin page on from rt.config.json, RT_* variables and flags (later
 * wins), and the CLI broker serving them: `rt broker --metrics-listen ...`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../packages/server/src/config.ts';
import { BrokerProcess } from '../helpers/index.ts';
import { scrape } from '../helpers/prometheus.ts';
import { freePort } from '../helpers/redis-server.ts';

describe('operations configuration', () => {
  it('metrics and admin: off unless set; file, then env, then flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rt-ops-config-'));
    const none = loadConfig({}, {}, dir);
    assert.equal(none.metrics, undefined);
    assert.equal(none.admin, undefined);
    writeFileSync(
      join(dir, 'rt.config.json'),
      JSON.stringify({ metrics: { listen: 'http://127.0.0.1:9464' }, admin: { token: 'file-admin-token' } }),
    );
    assert.deepEqual(loadConfig({}, {}, dir).metrics, { listen: 'http://127.0.0.1:9464' });
    const env = { RT_METRICS_TOKEN: 'env-metrics-token', RT_ADMIN_TOKEN: 'env-admin-token' };
    assert.deepEqual(loadConfig({}, env, dir).metrics, { listen: 'http://127.0.0.1:9464', token: 'env-metrics-token' });
    assert.deepEqual(loadConfig({}, env, dir).admin, { token: 'env-admin-token' });
    const flags = loadConfig({ metricsListen: 'http://127.0.0.1:9999', adminToken: 'flag-admin-token' }, env, dir);
    assert.deepEqual(flags.metrics, { listen: 'http://127.0.0.1:9999', token: 'env-metrics-token' });
    assert.deepEqual(flags.admin, { token: 'flag-admin-token' });
    assert.equal(loadConfig({}, { RT_METRICS: '0' }, dir).metrics, false);
    assert.equal(loadConfig({ metrics: true }, {}, mkdtempSync(join(tmpdir(), 'rt-ops-config-'))).metrics, true);
    writeFileSync(join(dir, 'rt.config.json'), JSON.stringify({ metrics: { tokn: 'x' } }));
    assert.throws(() => loadConfig({}, {}, dir), /unknown setting "tokn"/);
  });

  it('rt broker serves metrics on their own address and the admin page behind its token', async () => {
    const port = await freePort();
    await using broker = await new BrokerProcess(
      ['--mode', 'production', '--metrics-listen', `http://127.0.0.1:${port}`],
      {
        RT_ADMIN_TOKEN: 'admin-token-for-tests',
      },
    ).start();
    const s = await scrape(`http://127.0.0.1:${port}/metrics`);
    assert.equal(s.value('rt_engine_up', { engine: 'memory' }), 1);
    assert.equal((await fetch(`${broker.url}/rt/metrics`)).status, 404);
    assert.equal((await fetch(`${broker.url}/rt/admin/state`)).status, 401);
    const state = await fetch(`${broker.url}/rt/admin/state`, {
      headers: { authorization: 'Bearer admin-token-for-tests' },
    });
    assert.equal(state.status, 200);
    assert.equal(((await state.json()) as { mode: string }).mode, 'production');
  });
});
