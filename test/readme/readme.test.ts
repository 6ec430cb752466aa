/**
 * The README copy-pastes: every shell block marked runnable is run as written, in document
 * order, from the repository root on the build `npm test` just made. Markers (the fence's info
 * string): `sh server` starts a long-running broker (it must print `listening on`; it runs until
 * the next `server` block or the end), `sh runnable` must exit 0 within a minute, `sh stream`
 * (a `curl -N` that never ends by itself) must print something and not fail within 2 s.
 *
 * Two substitutions keep the machine's own services out of it: port 4000 becomes a free port
 * (`PORT` / `RT_LISTEN` are set to it), and Redis at 127.0.0.1:6379 becomes a redis-server of
 * this test's own. curl runs with `--fail-with-body` (through a `.curlrc`), so an HTTP error
 * answer fails the block instead of passing unnoticed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisServer, freePort } from '../helpers/redis-server.ts';

interface Block {
  kind: 'server' | 'runnable' | 'stream';
  line: number;
  code: string;
}

function blocks(markdown: string): Block[] {
  const out: Block[] = [];
  const fence = /^```(?:sh|bash) (server|runnable|stream)\n([\s\S]*?)^```$/gm;
  for (let m = fence.exec(markdown); m !== null; m = fence.exec(markdown)) {
    out.push({
      kind: m[1] as Block['kind'],
      line: markdown.slice(0, m.index).split('\n').length,
      code: m[2] ?? '',
    });
  }
  return out;
}

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function run(code: string, env: NodeJS.ProcessEnv): Run {
  // A process group of its own, so that killing it also kills `npm start`'s broker.
  const child = spawn('bash', ['-eo', 'pipefail', '-c', code], {
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function stop(r: Run): Promise<void> {
  if (r.child.exitCode !== null || r.child.signalCode !== null) return;
  try {
    process.kill(-(r.child.pid ?? 0), 'SIGTERM');
  } catch {
    // already gone
  }
  const killer = setTimeout(() => {
    try {
      process.kill(-(r.child.pid ?? 0), 'SIGKILL');
    } catch {
      // already gone
    }
  }, 5000);
  await r.exited;
  clearTimeout(killer);
}

/** Resolves when `r` printed `pattern`; rejects when it exits first or `ms` pass. */
async function waitFor(r: Run, pattern: RegExp, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!pattern.test(r.output())) {
    if (r.child.exitCode !== null)
      throw new Error(`${what} exited (${r.child.exitCode}) before printing ${pattern}:\n${r.output()}`);
    if (Date.now() > until) throw new Error(`${what} did not print ${pattern} within ${ms} ms:\n${r.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('README', async () => {
  const list = blocks(readFileSync(new URL('../../README.md', import.meta.url), 'utf8'));
  const redis = await RedisServer.start();
  const port = await freePort();
  const curlHome = mkdtempSync(join(tmpdir(), 'rt-readme-'));
  writeFileSync(join(curlHome, '.curlrc'), 'fail-with-body\nshow-error\n');
  const env = {
    ...process.env,
    CURL_HOME: curlHome,
    PORT: String(port),
    RT_LISTEN: `http://127.0.0.1:${port}`,
    RT_LOG_LEVEL: 'warn',
  };
  let server: Run | undefined;
  after(async () => {
    if (server) await stop(server);
    await redis.stop();
    rmSync(curlHome, { recursive: true, force: true });
  });

  it('has runnable blocks, and a server block before the first command that needs one', () => {
    assert.ok(list.filter((b) => b.kind === 'server').length >= 2);
    assert.ok(list.filter((b) => b.kind !== 'server').length >= 5);
  });

  for (const block of list) {
    const code = block.code
      .replaceAll('localhost:4000', `localhost:${port}`)
      .replaceAll('127.0.0.1:6379', `127.0.0.1:${redis.port}`);
    const what = `README.md:${block.line} (${block.kind})`;
    it(`${what}: ${block.code.split('\n')[0]}`, { timeout: 200_000 }, async () => {
      if (block.kind === 'server') {
        if (server) await stop(server);
        server = run(code, env);
        await waitFor(server, /listening on http:\/\//, 90_000, what);
        return;
      }
      assert.ok(server, `${what} needs a server block before it`);
      const r = run(code, env);
      if (block.kind === 'stream') {
        const done = await Promise.race([
          r.exited,
          new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), 2000)),
        ]);
        await stop(r);
        assert.ok(done === 'running' || done === 0, `${what} failed (${done}):\n${r.output()}`);
        assert.notEqual(r.output().trim(), '', `${what} printed nothing in 2 s`);
        return;
      }
      // A guard against a hung command, not a speed bound: a build and pack of every package
      // took over 60 s on a loaded 2-core machine.
      let hung = false;
      const timer = setTimeout(() => {
        hung = true;
        void stop(r);
      }, 150_000);
      const code_ = await r.exited;
      clearTimeout(timer);
      assert.ok(!hung, `${what} did not finish within 150 s:\n${r.output()}`);
      assert.equal(code_, 0, `${what} exited ${code_}:\n${r.output()}`);
    });
  }
});
