/**
 * A tiny React Native app, made the way a user makes one: the `npm pack` tarballs of rt's
 * packages installed in a project outside the workspace, bundled by the real `metro` with React
 * Native's own Metro config (`@react-native/metro-config`: platforms ios/android, the
 * `react-native` export condition and main field, package exports on), and compiled to bytecode
 * by the Hermes compiler of the `hermes-compiler` package.
 *
 * Only `react-native` itself is not installed: its `InitializeCore` (run before the app's main
 * module) is left out, and the test sets up the globals it would.
 */
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { getDefaultConfig, mergeConfig } from '@react-native/metro-config';
import { loadConfig, runBuild } from 'metro';
import { ROOT } from '../helpers/index.ts';
import { packedApp } from './packed-app.ts';
const require = createRequire(join(ROOT, 'package.json'));
const version = (pkg: string): string => (require(`${pkg}/package.json`) as { version: string }).version;

/** The app's entry: what an app imports, handed to the test through a global. */
const ENTRY = `import { createElement as h } from 'react';
import { create } from 'react-test-renderer';
import { connect, reactNativeLifecycle } from '@rt/client';
import { RtProvider, useConnectionState, useMessages, useTopicValue } from '@rt/react';

// A screen as a React Native app writes it (View and Text are host components there too).
function Screen() {
  const state = useConnectionState();
  const reading = useTopicValue('home/temp');
  const log = useMessages('log', { limit: 2 });
  return h(
    'View',
    null,
    h('Text', null, state),
    h('Text', null, reading ? reading.celsius + ' °C' : 'none'),
    h('Text', null, log.map((m) => m.data).join(',')),
  );
}

// A React Native app connects once, at startup, with its AppState/NetInfo adapter; the test
// drives it through this global instead of a UI, and renders the screen with React's test renderer.
global.rtApp = {
  connect,
  reactNativeLifecycle,
  render: (client) => create(h(RtProvider, { client }, h(Screen))),
};
`;

/** A Metro bundle of the app, its module list, and where it is on disk. */
export interface MetroApp extends AsyncDisposable {
  /** The app's project directory (with its `node_modules`). */
  dir: string;
  /** The bundle (what `react-native bundle` writes for a release build). */
  bundleFile: string;
  code: string;
  /** Every file Metro put in the bundle (from its source map). */
  modules: string[];
  /** How long Metro took, in ms. */
  bundleMs: number;
}

/** The `hermesc` binary of the `hermes-compiler` package for this machine. */
export function hermesc(): string {
  const dir = dirname(require.resolve('hermes-compiler/package.json'));
  const platform = { linux: 'linux64-bin', darwin: 'osx-bin', win32: 'win64-bin' }[process.platform as string];
  if (!platform) throw new Error(`hermes-compiler ships no hermesc for ${process.platform}`);
  return join(dir, 'hermesc', platform, process.platform === 'win32' ? 'hermesc.exe' : 'hermesc');
}

/** Packs, installs and bundles the app for `platform` (a release build: not dev, not minified). */
export async function buildMetroApp(platform: 'android' | 'ios' = 'android'): Promise<MetroApp> {
  const installed = await packedApp({
    react: version('react'),
    // Renders the hooks without react-native (whose renderer needs a device).
    'react-test-renderer': version('react'),
    // Every React Native app has it (the template lists it): Babel's helpers.
    '@babel/runtime': version('@babel/runtime'),
  });
  const app = installed.dir;
  try {
    await writeFile(join(app, 'index.js'), ENTRY);

    // Metro's own runtime (its `require` polyfill, React Native's console and error guard) comes
    // from the workspace, where metro is installed: an app has these in its own node_modules.
    const packageDir = (name: string): string => dirname(require.resolve(`${name}/package.json`));
    const config = await loadConfig(
      { cwd: app },
      mergeConfig(getDefaultConfig(app), {
        projectRoot: app,
        watchFolders: ['metro-runtime', '@react-native/js-polyfills', '@babel/runtime'].map(packageDir),
        resolver: { useWatchman: false, unstable_enablePackageExports: true },
        // React Native's InitializeCore: not installed; the test sets up the globals it would.
        serializer: { getModulesRunBeforeMainModule: () => [] },
        cacheStores: [],
        maxWorkers: 1,
        reporter: { update: () => undefined },
      }),
    );
    // Metro writes `<out>.js` (and the source map beside it).
    const bundleFile = join(app, `index.${platform}.js`);
    const started = Date.now();
    const result = await runBuild(config, {
      entry: 'index.js',
      platform,
      dev: false,
      minify: false,
      out: bundleFile,
      sourceMap: true,
    });
    const bundleMs = Date.now() - started;
    const map = JSON.parse(typeof result.map === 'string' ? result.map : JSON.stringify(result.map)) as {
      sources: string[];
    };
    return {
      dir: app,
      bundleFile,
      code: result.code,
      modules: map.sources,
      bundleMs,
      [Symbol.asyncDispose]: () => installed[Symbol.asyncDispose](),
    };
  } catch (error) {
    await installed[Symbol.asyncDispose]();
    throw error;
  }
}
