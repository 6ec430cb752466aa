#!/usr/bin/env node
// `npm start`: installs when needed, builds only when a source is newer than the build, and runs
// the broker with the example app on http://localhost:4000 (loopback only). Options:
//   HOST=0.0.0.0 npm start          listen on every interface (a phone on the LAN); PORT=4100 another port
//   npm start -- -l http://*:4000   any `rt broker` flags instead of the defaults
import { execSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

if (!existsSync('node_modules/.package-lock.json')) execSync('npm ci --no-audit --no-fund', { stdio: 'inherit' });

/** The newest modification time under `path` (files only), 0 when it does not exist. */
function newest(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let max = 0;
  for (const entry of readdirSync(path)) {
    if (entry === 'node_modules' || entry === 'dist') continue;
    max = Math.max(max, newest(join(path, entry)));
  }
  return max;
}

/** When the last build ended: the oldest of each package's newest output (0 when a package is not built). */
function lastBuild() {
  const outputs = readdirSync('packages').map((p) => join('packages', p, 'dist'));
  if (outputs.some((d) => !existsSync(d) || readdirSync(d).length === 0)) return 0;
  return Math.min(...outputs.map((d) => Math.max(...readdirSync(d).map((f) => statSync(join(d, f)).mtimeMs))));
}

const sources = Math.max(
  newest('packages'),
  newest('rollup.config.mjs'),
  newest('package-lock.json'),
  ...readdirSync('packages').map((p) => newest(join('packages', p, 'package.json'))),
);
if (sources > lastBuild()) {
  console.log('rt: building (sources changed since the last build)…');
  execSync('npm run build --silent', { stdio: 'inherit' });
}

const args = process.argv.slice(2);
// The example app is development mode: asked for explicitly, so HOST=0.0.0.0 still serves it (with a warning).
const flags =
  args.length > 0
    ? args
    : ['-l', `http://${process.env.HOST ?? '127.0.0.1'}:${process.env.PORT ?? '4000'}`, '--mode', 'development'];
const child = spawn(process.execPath, ['packages/server/bin/rt.mjs', 'broker', ...flags], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
