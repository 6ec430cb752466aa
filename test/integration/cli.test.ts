/**
 * `rt broker` as a user runs it: help, the example page in development mode, nothing but
 * rt's endpoints in production mode, and a clean exit on SIGTERM.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BrokerProcess, RT_BIN } from '../helpers/index.ts';

const run = promisify(execFile);

describe('rt CLI', () => {
  it('--help lists the broker command and its flags', async () => {
    const { stdout } = await run(process.execPath, [RT_BIN, 'broker', '--help']);
    for (const flag of ['--listen', '--mode', '--config', 'rt.config.json'])
      assert.match(stdout, new RegExp(flag.replace('.', '\\.')));
  });

  it('refuses a bad flag value with a clear message and exit code 1', async () => {
    await assert.rejects(
      run(process.execPath, [RT_BIN, 'broker', '--mode', 'turbo', '-l', 'http://127.0.0.1:0']),
      (e: { code: number; stderr: string }) => {
        assert.equal(e.code, 1);
        assert.match(e.stderr, /mode must be "development" or "production"/);
        return true;
      },
    );
  });

  it('development mode serves the example page at / and the client bundle', async () => {
    await using broker = await new BrokerProcess().start();
    const page = await fetch(`${broker.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await page.text(), /rt/);
    const bundle = await fetch(`${broker.url}/rt/rt-client.min.js`);
    assert.equal(bundle.status, 200);
    assert.match(await bundle.text(), /rt/);
    const health = (await (await fetch(`${broker.url}/rt/health`)).json()) as { status: string };
    assert.equal(health.status, 'ok');
  });

  it('production mode serves no page, only rt endpoints', async () => {
    await using broker = await new BrokerProcess(['--mode', 'production']).start();
    assert.equal((await fetch(`${broker.url}/`)).status, 404);
    assert.equal((await fetch(`${broker.url}/rt/health`)).status, 200);
  });

  it('exits 0 on SIGTERM', async () => {
    const broker = await new BrokerProcess().start();
    assert.equal(await broker.kill('SIGTERM'), 0);
  });
});
