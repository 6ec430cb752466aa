/**
 * Helpers for the reliability tests: waiting for a client's connection state, reading the
 * broker's memory, and the redelivery delay a failing puller sees (memory and Redis engines).
 */
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Client, ConnectionState } from '@rt/client';
import { Collector, deadline, quiet } from './index.ts';
import type { TcpProxy } from './tcp-proxy.ts';

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

/**
 * Cuts `client` off through `proxy` and keeps it off while `meanwhile` runs (the client is
 * reconnecting by then), then lets it back in.
 */
export async function whileCutOff(
  proxy: Pick<TcpProxy, 'refuse' | 'cut'>,
  client: Client,
  meanwhile: () => Promise<void>,
): Promise<void> {
  proxy.refuse(true);
  proxy.cut();
  await stateReached(client, 'reconnecting');
  await meanwhile();
  proxy.refuse(false);
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

/**
 * A lone puller on `puller` fails a job pushed through `producer` three times, then acknowledges
 * it: asserts it got the job back after `baseMs`, twice that, four times that (lower bounds,
 * allowing `slackMs` of clock rounding), with `attempt` 1, 2, 3, 4, and not a fifth time.
 */
export async function assertGrowingRedelivery(
  puller: Client,
  producer: Client,
  topic: string,
  baseMs: number,
  slackMs: number,
): Promise<void> {
  const attempts = new Collector<[number, number]>();
  await puller.topic<string>(topic).pull((_d, meta) => {
    attempts.push([meta.attempt ?? 0, Date.now()]);
    if ((meta.attempt ?? 0) < 4) throw new Error('not yet');
  }).ready;
  await producer.topic<string>(topic).push('x');
  await attempts.until(4, 5000);
  const gaps = attempts.items.slice(1).map(([, at], i) => at - attempts.items[i]![1]);
  gaps.forEach((gap, i) => {
    assert.ok(gap >= baseMs * 2 ** i - slackMs, `delay ${i + 1} was ${gap} ms`);
  });
  assert.deepEqual(
    attempts.items.map(([n]) => n),
    [1, 2, 3, 4],
  );
  await quiet();
  assert.equal(attempts.items.length, 4, 'acknowledged after the fourth attempt');
}
