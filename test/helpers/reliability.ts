/**
 * Helpers for the reliability tests: waiting for a client's connection state, and reading
 * the broker's memory.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Client, ConnectionState } from '@rt/client';
import { deadline } from './index.ts';

/** Resolves when `client` enters `state` (at once if it is in it), failing after `ms`. */
export function stateReached(client: Client, state: ConnectionState, ms = 10_000): Promise<void> {
  if (client.state === state) return Promise.resolve();
  return deadline(
    new Promise<void>((resolve) => {
      const off = client.on('state', ({ to }) => {
        if (to !== state) return;
        off();
        resolve();
      });
    }),
    ms,
    `client state "${state}" (now "${client.state}")`,
  );
}

let gc: (() => void) | undefined;

/** Heap in use after a full garbage collection, in bytes. */
export function heapUsed(): number {
  if (!gc) {
    // The test runner's command line has no --expose-gc; turn it on for a fresh context.
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Resolves once `condition()` holds (checked every few ms), failing after `ms`. */
export async function condition(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
