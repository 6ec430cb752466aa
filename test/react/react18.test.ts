/**
 * `@rt/react` on React 18 (its peer dependency's lowest major; the other suites run React 19):
 * the packed tarballs installed with react@18 in a project outside the workspace; a program
 * renders a screen in StrictMode with React 18's test renderer against a broker, sees the
 * connection open and a published value, and unmounts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deadline, startBroker } from '../helpers/index.ts';
import { packedApp } from '../runtimes/packed-app.ts';
import { brokerSide } from './broker-side.ts';

/** Renders, prints each distinct screen text on its own line; unmounts, then ends, on lines from stdin. */
const PROGRAM = `import { StrictMode, createElement as h } from 'react';
import TestRenderer from 'react-test-renderer';
import { connect } from '@rt/client';
import { RtProvider, useConnectionState, useTopicValue } from '@rt/react';

const client = connect(process.argv[2], { transports: ['websocket'] });
function Screen() {
  const state = useConnectionState();
  const value = useTopicValue('news');
  return h('Text', null, state + ':' + (value ?? 'none'));
}
const screen = TestRenderer.create(h(StrictMode, null, h(RtProvider, { client }, h(Screen))));
let last = '';
const timer = setInterval(() => {
  const text = screen.toJSON()?.children?.join('') ?? '';
  if (text !== last) console.log((last = text));
}, 10);
// A line on stdin unmounts the screen (the client stays connected); the next one ends the program.
let lines = 0;
process.stdin.on('data', () => {
  if (++lines === 1) {
    screen.unmount();
    clearInterval(timer);
    return;
  }
  process.stdin.destroy();
  client.close();
});
`;

describe('@rt/react on React 18', () => {
  it('renders state and values in StrictMode, and unmounting ends the subscription', { timeout: 120_000 }, async () => {
    await using installed = await packedApp({ react: '18.3.1', 'react-test-renderer': '18.3.1' }, { type: 'module' });
    const app = installed.dir;
    await writeFile(join(app, 'screen.mjs'), PROGRAM);

    await using b = await startBroker();
    const listening = brokerSide(b.broker);
    const child = spawn(process.execPath, ['screen.mjs', b.url], { cwd: app, stdio: ['pipe', 'pipe', 'inherit'] });
    const lines: string[] = [];
    const seen = (text: string): Promise<void> =>
      deadline(
        new Promise<void>((resolve) => {
          const check = (): void => {
            if (lines.includes(text)) resolve();
          };
          child.stdout.on('data', (chunk: Buffer) => {
            lines.push(...chunk.toString().split('\n').filter(Boolean));
            check();
          });
          check();
        }),
        15_000,
        `the screen showing "${text}" (saw ${JSON.stringify(lines)})`,
      );
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await seen('open:none');
      await deadline(
        (async () => {
          while (listening() === 0) await new Promise((r) => setTimeout(r, 10));
        })(),
        10_000,
        'the subscription on the broker',
      );
      await b.broker.publish('news', 'hello');
      await seen('open:hello');
      assert.equal(listening.made, 1, "StrictMode's second mount reuses the subscription");
      child.stdin.write('unmount\n');
      // The client is still connected: the subscription ended because the screen unmounted.
      await deadline(
        (async () => {
          while (listening() > 0) await new Promise((r) => setTimeout(r, 10));
        })(),
        10_000,
        'no subscription left on the broker',
      );
      assert.equal(child.exitCode, null, 'the program still runs');
      child.stdin.write('exit\n');
      assert.equal(await deadline(exited, 10_000, 'the program to end'), 0);
    } finally {
      child.kill();
    }
  });
});
