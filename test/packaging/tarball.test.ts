/**
 * The packages as users get them: `npm pack` tarballs installed in a project outside the
 * workspace, used from ESM and from CommonJS against `rt broker` run from the installed
 * `@rt/server`, and type-checked by TypeScript through both export conditions.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BrokerProcess, ROOT } from '../helpers/index.ts';

const run = promisify(execFile);
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const PACKAGES = ['protocol', 'client', 'server'] as const;

/** How long the registry may take to answer `npm ping`, and `npm install` to finish, in ms. */
const PING_MS = 20_000;
const INSTALL_MS = 300_000;

/**
 * Installing the tarballs needs the npm registry (their dependencies, `@types/node`). Why it
 * cannot be used, or `undefined` when it answers.
 */
async function registryProblem(): Promise<string | undefined> {
  try {
    await run(NPM, ['ping', '--loglevel=error'], { cwd: ROOT, timeout: PING_MS });
    return undefined;
  } catch (e) {
    const detail = e instanceof Error ? e.message.split('\n')[0] : String(e);
    return `the npm registry did not answer \`npm ping\` within ${PING_MS / 1000} s (${detail})`;
  }
}

const unreachable = await registryProblem();
/** Skipped on a developer's machine without the registry; in CI (`CI` set) it runs and fails instead. */
const skip =
  unreachable !== undefined && !process.env.CI
    ? `${unreachable}: installing the tarballs needs it (CI runs this test and fails instead)`
    : false;

/**
 * One script, written as ESM or CommonJS: two clients exercise subscribe/publish (with
 * hierarchy), bus, push/pull and binary against the broker at argv[2] (work queue named
 * after argv[3]), then print what they received as JSON.
 */
function usageScript(imports: string): string {
  return `${imports}
const url = process.argv[2];
// Work queues outlive a program; each run pulls from its own.
const work = 'work/' + process.argv[3];
const within = (promise, what) => Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error('timed out: ' + what)), 5000).unref())]);
async function main() {
  if (typeof createBroker !== 'function') throw new Error('@rt/server exports no createBroker');
  const a = connect(url);
  const b = connect(url);
  await within(Promise.all([a.ready(), b.ready()]), 'connect');
  const got = { sub: [], bus: [], jobs: [], bytes: null, transport: a.transport };
  let onSub, onBus, onJob;
  const subbed = new Promise((r) => (onSub = r));
  await a.topic('news').subscribe((data, meta) => { got.sub.push([meta.topic, data]); if (got.sub.length === 2) onSub(); }).ready;
  await b.topic('news/today').publish({ n: 1 });
  await b.topic('newsroom').publish('not a child');
  await b.topic('news').publish(new Uint8Array([1, 2, 255]));
  await within(subbed, 'messages');
  got.bytes = got.sub[1][1] instanceof Uint8Array ? Array.from(got.sub[1][1]) : null;
  got.sub[1][1] = 'bytes';
  const busA = a.topic('room').bus();
  const busB = b.topic('room').bus();
  const heard = new Promise((r) => (onBus = r));
  busB.on('message', ({ data }) => { got.bus.push(data); onBus(); });
  await Promise.all([busA.ready, busB.ready]);
  await busA.send('hello');
  await within(heard, 'bus');
  const pulled = new Promise((r) => (onJob = r));
  await b.topic(work).pull((data, job) => { got.jobs.push(data); if (got.jobs.length === 2) onJob(); }).ready;
  await a.topic(work).push('job 1');
  await a.topic(work).push('job 2');
  await within(pulled, 'jobs');
  a.close();
  b.close();
  console.log(JSON.stringify(got));
}
main().catch((error) => { console.error(error); process.exit(1); });
`;
}

const EXPECTED = {
  sub: [
    ['news/today', { n: 1 }],
    ['news', 'bytes'],
  ],
  bus: ['hello'],
  jobs: ['job 1', 'job 2'],
  bytes: [1, 2, 255],
  transport: 'websocket',
};

/** Type-checked (not run): typed payloads through the client, and the server's API. */
const USAGE_TS = `import { connect, RtError, type Client, type ConnectionState } from '@rt/client';
import { createBroker, type Broker } from '@rt/server';
import { topicProblem } from '@rt/protocol';

interface Reading { celsius: number }
const client: Client = connect('http://localhost:4000', { transports: ['websocket'] });
const temp = client.topic<Reading>('home/kitchen/temp');
temp.subscribe((reading, meta) => {
  const c: number = reading.celsius;
  const topic: string = meta.topic;
  return [c, topic];
});
void temp.publish({ celsius: 21 });
// @ts-expect-error a Reading has no "fahrenheit"
void temp.publish({ fahrenheit: 70 });
temp.pull(async (reading, job) => [reading.celsius, job.id.length]);
temp.bus().on('message', ({ data }) => data.celsius.toFixed(1));
client.on('state', ({ to }) => {
  const state: ConnectionState = to;
  return state;
});
void client.topic('x').push(new Uint8Array([1]));
const error = new RtError('invalid_topic', 'bad');
// @ts-expect-error not an error code
void new RtError('no_such_code', 'bad');
const broker: Broker = createBroker({ mode: 'production', limits: { maxPayloadBytes: 1024 } });
void broker.publish('home', { any: ['json'] });
const problem: string | null = topicProblem('a//b');
export { error, problem };
`;

describe('packed tarballs in a project outside the workspace', { skip }, () => {
  let dir: string;
  let app: string;

  before(async () => {
    if (unreachable !== undefined) throw new Error(unreachable);
    dir = await mkdtemp(join(tmpdir(), 'rt-tarballs-'));
    app = join(dir, 'app');
    await mkdir(app);
    const { stdout } = await run(
      NPM,
      ['pack', '--json', '--pack-destination', dir, ...PACKAGES.flatMap((p) => ['-w', `packages/${p}`])],
      { cwd: ROOT, timeout: INSTALL_MS },
    );
    const packed = JSON.parse(stdout) as { name: string; filename: string; files: { path: string }[] }[];
    for (const p of packed) {
      // Only what a user needs: built files, the bin, the manifest (no sources, no tests).
      const strays = p.files
        .map((f) => f.path)
        .filter((f) => !/^(dist\/|bin\/|package\.json$|README\.md$|LICENSE)/.test(f));
      assert.deepEqual(strays, [], `${p.name} ships only what a user needs`);
      assert.ok(
        p.files.some((f) => f.path === 'dist/index.d.mts') && p.files.some((f) => f.path === 'dist/index.d.cts'),
        `${p.name} ships types`,
      );
    }
    const tarball = (name: string): string => `file:${join(dir, packed.find((p) => p.name === name)!.filename)}`;
    const typesNode = JSON.parse(
      await readFile(join(ROOT, 'node_modules', '@types', 'node', 'package.json'), 'utf8'),
    ) as { version: string };
    await writeFile(
      join(app, 'package.json'),
      JSON.stringify(
        {
          name: 'rt-tarball-user',
          private: true,
          dependencies: {
            '@rt/protocol': tarball('@rt/protocol'),
            '@rt/client': tarball('@rt/client'),
            '@rt/server': tarball('@rt/server'),
          },
          devDependencies: { '@types/node': typesNode.version },
        },
        null,
        2,
      ),
    );
    await run(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], {
      cwd: app,
      timeout: INSTALL_MS,
    }).catch((e: unknown) => {
      const killed = typeof e === 'object' && e !== null && 'killed' in e && e.killed === true;
      throw killed ? new Error(`npm install took more than ${INSTALL_MS / 1000} s (is the registry slow?)`) : e;
    });
    await writeFile(
      join(app, 'esm.mjs'),
      usageScript("import { connect } from '@rt/client';\nimport { createBroker } from '@rt/server';"),
    );
    await writeFile(
      join(app, 'cjs.cjs'),
      usageScript("const { connect } = require('@rt/client');\nconst { createBroker } = require('@rt/server');"),
    );
    await writeFile(join(app, 'usage.mts'), USAGE_TS);
    await writeFile(join(app, 'usage.cts'), USAGE_TS);
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          noEmit: true,
          types: ['node'],
          skipLibCheck: false,
        },
        files: ['usage.mts', 'usage.cts'],
      }),
    );
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('ESM and CommonJS programs subscribe, publish, use the bus, push and pull against the installed `rt broker`', async () => {
    await using broker = await new BrokerProcess(
      [],
      {},
      join(app, 'node_modules', '@rt', 'server', 'bin', 'rt.mjs'),
    ).start();
    for (const script of ['esm.mjs', 'cjs.cjs']) {
      const { stdout } = await run(process.execPath, [script, broker.url, script.replace('.', '-')], {
        cwd: app,
        timeout: 20_000,
      });
      assert.deepEqual(JSON.parse(stdout), EXPECTED, script);
    }
    // Development mode serves the browser bundles of the @rt/client installed beside it.
    const bundle = await fetch(`${broker.url}/rt/rt-client.min.js`);
    assert.equal(bundle.status, 200);
    assert.match(await bundle.text(), /^var rt=/);
  });

  it('TypeScript type-checks a usage file through the import and the require conditions', async () => {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(process.execPath, [tsc, '-p', join(app, 'tsconfig.json')], {
      cwd: app,
      timeout: 120_000,
    }).catch((e: { stdout: string }) => e);
    assert.equal(result.stdout, '', 'tsc reports no errors');
  });
});
