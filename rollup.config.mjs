// Builds every package to ESM + CJS + .d.ts, and the client's browser bundles.
// TypeScript is transpiled by esbuild; declarations are bundled by rollup-plugin-dts
// (which needs TypeScript 6's compiler API).
import { builtinModules, createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve as resolvePath, sep } from 'node:path';
import esbuild from 'rollup-plugin-esbuild';
import { dts } from 'rollup-plugin-dts';
import resolve from '@rollup/plugin-node-resolve';
import commonjs from '@rollup/plugin-commonjs';
import terser from '@rollup/plugin-terser';

const root = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const pkgDir = (name) => join(root, 'packages', name);
const manifest = (name) => require(join(pkgDir(name), 'package.json'));

/** Our own packages resolve to their sources, so one build needs no other built first. */
const workspaceSources = {
  name: 'rt-workspace-sources',
  resolveId(id) {
    const m = /^@rt\/(protocol|client|server|react)$/.exec(id);
    return m ? join(pkgDir(m[1]), 'src', 'index.ts') : null;
  },
};

const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
/** Dependencies and peer dependencies stay imports in the library builds (npm installs them). */
function external(name) {
  const { dependencies = {}, peerDependencies = {} } = manifest(name);
  const deps = [...Object.keys(dependencies), ...Object.keys(peerDependencies)];
  return (id) => builtins.has(id) || deps.some((d) => id === d || id.startsWith(`${d}/`));
}

function library(name, inputs) {
  const dir = join(pkgDir(name), 'dist');
  const input = Object.fromEntries(inputs.map((i) => [i, join(pkgDir(name), 'src', `${i}.ts`)]));
  return [
    {
      input,
      external: external(name),
      plugins: [esbuild({ target: 'es2022', sourceMap: true })],
      output: [
        { dir, format: 'es', entryFileNames: '[name].mjs', chunkFileNames: '[name]-[hash].mjs', sourcemap: true },
        {
          dir,
          format: 'cjs',
          entryFileNames: '[name].cjs',
          chunkFileNames: '[name]-[hash].cjs',
          sourcemap: true,
          exports: 'named',
        },
      ],
    },
    ...['mts', 'cts'].map((ext) => ({
      input: { index: join(pkgDir(name), 'src', 'index.ts') },
      external: external(name),
      plugins: [dts({ tsconfig: join(root, 'tsconfig.json'), respectExternal: false })],
      output: { dir, format: ext === 'mts' ? 'es' : 'cjs', entryFileNames: `[name].d.${ext}` },
    })),
  ];
}

/**
 * Applies a package's `browser` field to the files it imports relatively (engine.io-client
 * maps `*.node.js` to browser variants there; plugin-node-resolve skips that map for
 * packages with an `exports` field), and to bare imports it maps to `false`.
 */
const EMPTY = '\0rt-empty-module';
const browserFieldMaps = {
  name: 'rt-browser-field-maps',
  resolveId(source, importer) {
    if (!importer) return null;
    let dir = dirname(importer);
    while (dir !== dirname(dir) && !existsSync(join(dir, 'package.json'))) dir = dirname(dir);
    const browserField = existsSync(join(dir, 'package.json')) ? require(join(dir, 'package.json')).browser : undefined;
    if (!browserField || typeof browserField !== 'object') return null;
    // A bare import mapped to `false` (the client's Node-only `eventsource`) is an empty module.
    if (!source.startsWith('.')) return browserField[source] === false ? EMPTY : null;
    const target =
      './' +
      relative(dir, resolvePath(dirname(importer), source))
        .split(sep)
        .join('/');
    const mapped = browserField[target];
    return typeof mapped === 'string' ? join(dir, mapped) : null;
  },
  load(id) {
    return id === EMPTY ? 'export {};' : null;
  },
};

/** The client for browsers: every dependency bundled, browser variants of socket.io-client. */
const browserPlugins = (minify) => [
  workspaceSources,
  browserFieldMaps,
  resolve({
    browser: true,
    exportConditions: ['browser', 'import', 'default'],
    preferBuiltins: false,
    extensions: ['.ts', '.mjs', '.js'],
  }),
  commonjs(),
  esbuild({ target: 'es2020', sourceMap: true }),
  ...(minify ? [terser({ format: { comments: false } })] : []),
];
const clientDist = join(pkgDir('client'), 'dist');
const browser = [
  {
    input: join(pkgDir('client'), 'src', 'index.ts'),
    plugins: browserPlugins(false),
    output: {
      file: join(clientDist, 'rt-client.browser.mjs'),
      format: 'es',
      sourcemap: true,
      inlineDynamicImports: true,
    },
  },
  {
    input: join(pkgDir('client'), 'src', 'index.ts'),
    plugins: browserPlugins(true),
    output: {
      file: join(clientDist, 'rt-client.min.js'),
      format: 'iife',
      name: 'rt',
      sourcemap: true,
      inlineDynamicImports: true,
    },
  },
];

export default [
  ...library('protocol', ['index']),
  ...library('client', ['index']),
  ...library('server', ['index', 'cli']),
  ...library('react', ['index']),
  ...browser,
];
