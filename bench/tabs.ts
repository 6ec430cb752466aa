/**
 * `npm run bench:tabs`: what cross-tab sharing saves the broker. N tabs of one Chromium
 * context (one user's browser) connect to a broker in its own process, each subscribed to a
 * topic of its own and to one they all share, with sharing on (the default) and with
 * `share: false`, over WebSocket and SSE (HTTP/1.1). For each: the broker's rt connections and
 * TCP sockets, its heap + external memory per tab (after a full GC, over the empty broker)
 * and its RSS, how many tabs were open within 10 s, and how many got a message one tab published.
 * Writes `bench/results/tabs-<date>.md|json`.
 *
 *   npm run bench:tabs                 # 50 tabs
 *   npm run bench:tabs -- --tabs 10
 */
import { fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeMachine } from './lib/machine.ts';
import { BENCH_DIR, Proc } from './lib/proc.ts';

type Mem = { rss: number; heapUsed: number; external: number };

if (process.argv[2] === 'serve') {
  // The broker's process: answers `mem` (lib/serve.ts) and `count` (rt connections, TCP sockets).
  const { createBroker } = await import('@rt/server');
  const { serve } = await import('./lib/serve.ts');
  const broker = createBroker({ mode: 'production', logger: { level: 'silent' } });
  const server = createServer();
  broker.attach(server);
  await broker.whenReady();
  process.on('message', (m: { id: number; cmd: string }) => {
    if (m.cmd !== 'count') return;
    server.getConnections((_, sockets) => process.send?.({ id: m.id, sessions: broker.stats().sessions, sockets }));
  });
  await serve(server, () => broker.close());
} else await main();

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { tabs: { type: 'string', default: '50' } } });
  const n = Number(values.tabs);
  const { chromium } = await import('playwright-core');
  const bundle = readFileSync(
    join(dirname(createRequire(import.meta.url).resolve('@rt/client/package.json')), 'dist', 'rt-client.min.js'),
    'utf8',
  );
  const browser = await chromium.launch({
    executablePath: process.env.RT_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    // The page is routed (no address space of its own): let it reach the loopback broker.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-features=LocalNetworkAccessChecks',
    ],
  });
  const machine = describeMachine();
  const rows: Record<string, number | string | boolean>[] = [];
  try {
    for (const transport of ['websocket', 'sse'] as const)
      for (const share of [true, false]) {
        const child = fork(join(BENCH_DIR, 'tabs.ts'), ['serve'], {
          env: { ...process.env, TSX_TSCONFIG_PATH: join(BENCH_DIR, 'tsconfig.json') },
          execArgv: ['--import', 'tsx', '--expose-gc'],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        const proc = new Proc('broker', child);
        try {
          const port = await new Promise<number>((resolve) =>
            child.on('message', (m: { type?: string; port?: number }) => m.type === 'listening' && resolve(m.port!)),
          );
          const url = `http://127.0.0.1:${port}`;
          // Twice: the first GC after start-up frees what loading the modules left.
          await proc.ask({ cmd: 'mem' });
          const before = (await proc.ask<{ mem: Mem }>({ cmd: 'mem' })).mem;
          const context = await browser.newContext();
          // The page and the bundle come from here; the broker only sees the clients' connections.
          await context.route('**/tab.html', (route) =>
            route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>tab</title>' }),
          );
          await context.route('**/rt-client.min.js', (route) =>
            route.fulfill({ contentType: 'text/javascript', body: bundle }),
          );
          const pages = [];
          for (let i = 0; i < n; i++) {
            const page = await context.newPage();
            await page.goto(`${url}/tab.html`);
            await page.addScriptTag({ url: '/rt-client.min.js' });
            pages.push(page);
          }
          const opened = await Promise.all(
            pages.map(
              (page, i) =>
                page.evaluate(
                  `(() => {
                  window.got = 0;
                  window.client = rt.connect(location.origin, { transports: ['${transport}'], share: ${share} });
                  const own = client.topic('idle/${i}').subscribe(() => undefined);
                  const all = client.topic('all').subscribe(() => { window.got++; });
                  // Open means its subscriptions are confirmed: the client's ready() alone can come
                  // before the tab's sub frames reached the broker through the leader.
                  const ready = Promise.all([client.ready(), own.ready, all.ready]).then(() => true);
                  return Promise.race([ready, new Promise((r) => setTimeout(() => r(false), 10000))]);
                })()`,
                ) as Promise<boolean>,
            ),
          );
          const open = opened.filter(Boolean).length;
          // Every open tab's subscriptions confirmed by the broker, then one message to all.
          // From the first tab that is open (without sharing, which ones open is a race).
          const publisher = opened.indexOf(true);
          if (publisher >= 0)
            await pages[publisher]!.evaluate(
              "Promise.race([client.topic('all').publish('hello').catch(() => undefined), new Promise((r) => setTimeout(r, 10000))])",
            );
          const deadline = Date.now() + 5000;
          let got = 0;
          while (Date.now() < deadline) {
            got = (await Promise.all(pages.map((p) => p.evaluate('window.got') as Promise<number>))).filter(
              (g) => g > 0,
            ).length;
            if (got >= open) break;
            await new Promise((r) => setTimeout(r, 100));
          }
          const after = (await proc.ask<{ mem: Mem }>({ cmd: 'mem' })).mem;
          const count = await proc.ask<{ sessions: number; sockets: number }>({ cmd: 'count' });
          rows.push({
            transport,
            share,
            tabs: n,
            open,
            got,
            connections: count.sessions,
            sockets: count.sockets,
            rssMiB: Math.round((after.rss / 2 ** 20) * 10) / 10,
            heapKiBPerTab: Math.round((after.heapUsed + after.external - before.heapUsed - before.external) / 1024 / n),
          });
          console.error(JSON.stringify(rows.at(-1)));
          await context.close();
        } finally {
          await proc.stop();
        }
      }
  } finally {
    await browser.close();
  }

  const header =
    '| transport | share | tabs | open within 10 s | got the message | broker rt connections | broker TCP sockets | broker RSS | broker heap+external / tab |';
  const lines = rows.map(
    (r) =>
      `| ${r.transport} | ${r.share ? 'on' : 'off'} | ${r.tabs} | ${r.open} | ${r.got} | ${r.connections} | ${r.sockets} | ${r.rssMiB} MiB | ${r.heapKiBPerTab} KiB |`,
  );
  const report = [
    `# Many tabs: ${n} tabs of one browser, sharing on and off (${machine.date})`,
    '',
    `${machine.cores} cores (${machine.cpu}); load ${machine.loadAtStart} at the start; Node ${machine.node}. The broker's memory after a full GC: heap + external over the same broker before any tab, per tab, and its whole RSS (a few tabs' worth is below the noise of RSS deltas).`,
    '',
    header,
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...lines,
    '',
  ].join('\n');
  console.log(report);
  const dir = join(BENCH_DIR, 'results');
  mkdirSync(dir, { recursive: true });
  const name = `tabs-${machine.date.slice(0, 19).replace(/[:T]/g, '-')}`;
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify({ machine, tabs: n, rows }, null, 2)}\n`);
  writeFileSync(join(dir, `${name}.md`), report);
  console.error(`bench:tabs: results in ${dir}/${name}.{md,json}`);
}
