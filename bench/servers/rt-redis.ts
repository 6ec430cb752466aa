/**
 * Two rt brokers (each its own HTTP server and port) on one Redis of the benchmark's own, the
 * Redis engine: subscribers connect to the second, the publisher to the first, so every
 * delivery crosses nodes through Redis. Compared with socket.io and its Redis adapters.
 */
import { createServer } from 'node:http';
import { createBroker, redis } from '@rt/server';
import { startRedis } from '../lib/redis.ts';
import { serve } from '../lib/serve.ts';

const store = await startRedis();
const node = async () => {
  const broker = createBroker({ mode: 'production', logger: { level: 'silent' }, engine: redis({ url: store.url }) });
  broker.action('echo', (_ctx, payload) => payload);
  const server = createServer();
  broker.attach(server);
  await broker.whenReady();
  return { broker, server };
};
const a = await node();
const b = await node();
await serve(a.server, () => Promise.all([a.broker.close(), b.broker.close()]).then(() => undefined), {
  second: b.server,
  redisCalls: store.calls,
  redisCpuUs: store.cpuUs,
});
