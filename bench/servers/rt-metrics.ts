/**
 * rt with Prometheus metrics on, scraped once a second from inside the process (a harder
 * load than Prometheus's usual 15 s, and the scrape's own cost lands on the broker): compared
 * with `servers/rt.ts` in the same run, it shows what metrics cost.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBroker } from '@rt/server';
import { serve } from '../lib/serve.ts';

const TOKEN = 'bench-metrics-token';
const broker = createBroker({ mode: 'production', logger: { level: 'silent' }, metrics: { token: TOKEN } });
broker.action('echo', (_ctx, payload) => payload);
const server = createServer();
broker.attach(server);
await broker.whenReady();
const scraper = setInterval(() => {
  const { port } = server.address() as AddressInfo;
  fetch(`http://127.0.0.1:${port}/rt/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
    .then((res) => res.text())
    .catch(() => undefined);
}, 1000);
scraper.unref();
await serve(server, () => {
  clearInterval(scraper);
  return broker.close();
});
