/**
 * The side of a server process the orchestrator talks to over IPC: it reports its port,
 * answers memory questions (after a full GC), and exits when told or when the
 * orchestrator goes away.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Memory of a server process after a full garbage collection, in bytes. */
interface MemorySample {
  rss: number;
  heapUsed: number;
  external: number;
}

async function collect(): Promise<MemorySample> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

/** CPU time (user + system) this process has used so far, in µs. */
export function cpuUs(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** What a server process with two nodes (a Redis scenario) adds. */
export interface ServeExtra {
  /** The second node, listening on its own port: subscribers connect there, the publisher to the first. */
  second?: Server;
  /** Commands the Redis behind the nodes has executed so far. */
  redisCalls?: () => Promise<number>;
  /** CPU time the Redis behind the nodes has used so far, in µs (-1: unknown). */
  redisCpuUs?: () => number;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Listens on a free loopback port (two, with a second node) and serves the orchestrator until told to stop. */
export async function serve(
  server: Server,
  stop: () => Promise<void> | void = () => undefined,
  extra: ServeExtra = {},
): Promise<void> {
  const port = await listen(server);
  const port2 = extra.second ? await listen(extra.second) : undefined;
  process.on('message', (m: { id: number; cmd: string }) => {
    if (m.cmd === 'mem') void collect().then((mem) => process.send?.({ id: m.id, mem }));
    else if (m.cmd === 'cpu') process.send?.({ id: m.id, cpuUs: cpuUs() });
    else if (m.cmd === 'redis')
      void (extra.redisCalls?.() ?? Promise.resolve(-1)).then((calls) =>
        process.send?.({ id: m.id, calls, cpuUs: extra.redisCpuUs?.() ?? -1 }),
      );
    else if (m.cmd === 'stop') void Promise.resolve(stop()).finally(() => process.exit(0));
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ type: 'listening', port, port2 });
}
