/**
 * A project outside the workspace with rt's packages installed from their `npm pack` tarballs,
 * as a user installs them, beside the other dependencies a test needs.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/index.ts';

const run = promisify(execFile);
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** The project's directory (with its `node_modules`); disposing removes it and the tarballs. */
export interface PackedApp extends AsyncDisposable {
  dir: string;
}

/**
 * Packs `@rt/protocol`, `@rt/client` and `@rt/react` and installs them with `dependencies`
 * (name → version) in a new project; `manifest` adds fields to its package.json.
 */
export async function packedApp(
  dependencies: Record<string, string>,
  manifest: Record<string, unknown> = {},
): Promise<PackedApp> {
  const root = await mkdtemp(join(tmpdir(), 'rt-app-'));
  const dispose = (): Promise<void> => rm(root, { recursive: true, force: true });
  try {
    const dir = join(root, 'app');
    await mkdir(dir);
    const workspaces = ['protocol', 'client', 'react'].flatMap((p) => ['-w', `packages/${p}`]);
    const { stdout } = await run(NPM, ['pack', '--json', '--pack-destination', root, ...workspaces], { cwd: ROOT });
    const packed = JSON.parse(stdout) as { name: string; filename: string }[];
    const rt = Object.fromEntries(packed.map((p) => [p.name, `file:${join(root, p.filename)}`]));
    await writeFile(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'rt-user', private: true, ...manifest, dependencies: { ...rt, ...dependencies } }),
    );
    await run(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], {
      cwd: dir,
    });
    return { dir, [Symbol.asyncDispose]: dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}
