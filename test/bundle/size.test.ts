/**
 * The browser bundles stay small and self-contained: the minified IIFE within its budget
 * (see BUDGET in scripts/bundle-size.ts for the figure and why), both with source maps, and
 * the ESM build importing nothing (a browser cannot resolve bare specifiers).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUDGET, CLIENT_DIST, measure } from '../../scripts/bundle-size.ts';

describe('browser bundle', () => {
  it(`${BUDGET.file} stays within ${BUDGET.minBytes} bytes minified and ${BUDGET.gzipBytes} gzip`, () => {
    const size = measure(BUDGET.file);
    const parts = size.parts.map((p) => `${p.name} ${p.bytes}`).join(', ');
    assert.ok(size.bytes <= BUDGET.minBytes, `${size.bytes} bytes minified, budget ${BUDGET.minBytes} (${parts})`);
    assert.ok(size.gzip <= BUDGET.gzipBytes, `${size.gzip} bytes gzip, budget ${BUDGET.gzipBytes} (${parts})`);
    // Our code, socket.io's and the delta decoder (fossil-delta's applyDelta) are what it holds:
    // a byte from elsewhere is a dependency that crept in.
    const known =
      /^(@rt\/(client|protocol)|socket\.io-client|socket\.io-parser|engine\.io-client|engine\.io-parser|@socket\.io\/component-emitter|fossil-delta|\(unmapped\))$/;
    assert.deepEqual(
      size.parts.filter((p) => !known.test(p.name)),
      [],
      'unexpected packages in the browser bundle',
    );
  });

  it('both bundles ship source maps that name their sources', () => {
    for (const file of ['rt-client.min.js', 'rt-client.browser.mjs']) {
      const code = readFileSync(join(CLIENT_DIST, file), 'utf8');
      assert.match(code, new RegExp(`//# sourceMappingURL=${file.replace(/\./g, '\\.')}\\.map\\s*$`));
      assert.ok(existsSync(join(CLIENT_DIST, `${file}.map`)));
      const map = JSON.parse(readFileSync(join(CLIENT_DIST, `${file}.map`), 'utf8')) as { sources: string[] };
      assert.ok(
        map.sources.some((s) => s.endsWith('src/client.ts')),
        `${file}.map names client.ts`,
      );
    }
  });

  it('the ESM bundle imports nothing, and the IIFE defines only the global `rt`', () => {
    const esm = readFileSync(join(CLIENT_DIST, 'rt-client.browser.mjs'), 'utf8');
    assert.deepEqual(esm.match(/^\s*import\s[^;]*?from\s*['"][^'"]+['"]/gm) ?? [], []);
    assert.match(esm, /^export \{[^}]*\bconnect\b[^}]*\}/m);
    const iife = readFileSync(join(CLIENT_DIST, 'rt-client.min.js'), 'utf8');
    assert.match(iife, /^var rt=function\(/);
  });
});
