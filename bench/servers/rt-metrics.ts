/**
 * rt with Prometheus metrics on, scraped once a second (a harder load than Prometheus's usual
 * 15 s) by a scraper process of its own, as Prometheus is: the broker pays for answering the
 * scrape, not for the scraper's HTTP client. Compared with `servers/rt.ts` in the same run, it
 * shows what metrics cost.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBroker } from '@rt/server';
import { serve } from '../lib/serve.ts';

const TOKEN = 'bench-metrics-token';
/** The scraper: GET the metrics every second; exits with this process (its IPC channel closes). */
const SCRAPER = `
const [url, token] = process.argv.slice(1);
setInterval(() => {
  fetch(url, { headers: { authorization: 'Bearer ' + token } }).then((res) => res.text()).catch(() => undefined);
}, 1000);
process.on('disconnect', () => process.exit(0));
`;

const broker = createBroker({ mode: 'production', logger: { level: 'silent' }, metrics: { token: TOKEN } });
broker.action('echo', (_ctx, payload) => payload);
const server = createServer();
broker.attach(server);
await broker.whenReady();
server.once('listening', () => {
  const { port } = server.address() as AddressInfo;
  const scraper = spawn(process.execPath, ['-e', SCRAPER, `http://127.0.0.1:${port}/rt/metrics`, TOKEN], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  process.once('exit', () => scraper.kill());
});
await serve(server, () => broker.close());
