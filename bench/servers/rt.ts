/** The system under test: an rt broker (built from this checkout) with an `echo` action. */
import { createServer } from 'node:http';
import { createBroker } from '@rt/server';
import { serve } from '../lib/serve.ts';

const broker = createBroker({
  mode: 'production',
  logger: { level: (process.env.BENCH_LOG as 'info' | undefined) ?? 'silent' },
});
broker.action('echo', (_ctx, payload) => payload);
const server = createServer();
broker.attach(server);
await broker.whenReady();
await serve(server, () => broker.close());
