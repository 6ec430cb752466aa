/**
 * `npm run bench:pace`: what a subscriber's pace saves (issue 21), on the built packages, with
 * the broker and its clients in this process on loopback, each client behind a TCP link that
 * counts bytes and can stall.
 *
 * - **deltas**: bytes broker → client per message, for a subscriber with `delta: true` and one
 *   without, while a 2 KiB JSON object changes one field per publish (websocket, SSE, polling;
 *   the bytes on the link include every transport's framing and, for polling, HTTP).
 * - **slow link**: a subscriber whose link stalls while about 1,000 messages of 4 KiB a second
 *   are published: the broker's queue for it (`outboundQueued`) and the heap after a full GC,
 *   for `all` (every message: the queue grows to the outbound bound, 4 MiB by default, then
 *   the slow-consumer policy drops) and `latest` (one message waits), the latter for a third
 *   of the time and for the whole time, to show that its cost does not grow with the stall.
 *
 *   npm run bench:pace -- --quick
 *
 * Writes bench/results/<date>-pace[-quick].md|json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type TransportName, connect } from '@rt/client';
import { type Broker, createBroker } from '@rt/server';
import { openLink } from './lib/link.ts';
import { describeMachine } from './lib/machine.ts';
import { BENCH_DIR } from './lib/proc.ts';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
const quick = values.quick ?? false;
const settings = {
  quick,
  /** Publishes in the deltas scenario, per transport and subscriber. */
  deltaMessages: quick ? 200 : 1000,
  /** How long the slow-link publisher runs, at about 1,000 messages a second. */
  slowSeconds: quick ? 6 : 15,
  slowPayloadBytes: 4096,
};

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap and external memory in use after full garbage collections, in bytes. */
async function memory(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 30));
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function startBroker(historySize?: number): Promise<{ broker: Broker; port: number }> {
  const broker = createBroker({
    mode: 'production',
    logger: { level: 'silent' },
    ...(historySize === undefined ? {} : { limits: { historySize } }),
  });
  const { port } = await broker.listen('http://127.0.0.1:0');
  return { broker, port };
}

interface Quote {
  symbol: string;
  price: number;
  fields: Record<string, string>;
}

/** A quote of about 2 KiB of JSON of which only `price` changes. */
function quote(price: number): Quote {
  const fields: Record<string, string> = {};
  for (let i = 0; i < 56; i++) fields[`field${i}`] = `value ${i} ${'x'.repeat(14)}`;
  return { symbol: 'ACME', price, fields };
}

interface DeltaRow {
  transport: TransportName;
  payloadBytes: number;
  messages: number;
  wholeBytesPerMsg: number;
  deltaBytesPerMsg: number;
  saved: number;
}

/** Bytes on the link per message for `n` publishes, with and without deltas. */
async function deltas(transport: TransportName, n: number): Promise<DeltaRow> {
  const { broker, port } = await startBroker();
  const perMsg: Record<'whole' | 'delta', number> = { whole: 0, delta: 0 };
  try {
    for (const kind of ['whole', 'delta'] as const) {
      const link = await openLink(port);
      const client = connect(link.url, { transports: [transport], lifecycle: false });
      let got = 0;
      let wrong = 0;
      const topic = `quotes-${kind}`;
      const sub = client.topic<Quote>(topic).subscribe(
        (q) => {
          if (q.price !== got || q.fields.field55 !== quote(0).fields.field55) wrong++;
          got++;
        },
        kind === 'delta' ? { delta: true } : undefined,
      );
      await sub.ready;
      await new Promise((r) => setTimeout(r, 200));
      const before = link.down;
      for (let i = 0; i < n; i++) await broker.publish(`${topic}/acme`, quote(i) as never);
      await until(() => got === n, 30_000, `${n} quotes over ${transport}`);
      if (wrong > 0) throw new Error(`${wrong} quotes differ from what was published`);
      perMsg[kind] = (link.down - before) / n;
      client.close();
      await link.close();
    }
  } finally {
    await broker.close();
  }
  return {
    transport,
    payloadBytes: JSON.stringify(quote(0)).length,
    messages: n,
    wholeBytesPerMsg: Math.round(perMsg.whole),
    deltaBytesPerMsg: Math.round(perMsg.delta),
    saved: 1 - perMsg.delta / perMsg.whole,
  };
}

interface SlowRow {
  mode: 'all' | 'latest';
  seconds: number;
  published: number;
  peakQueuedBytes: number;
  endQueuedBytes: number;
  memoryGrowthBytes: number;
  dropped: number;
}

/** One subscriber behind a stalled link while about 1,000 messages a second are published. */
async function slowLink(mode: 'all' | 'latest', seconds: number): Promise<SlowRow> {
  // No history, so that the memory measured is the subscriber's cost alone.
  const { broker, port } = await startBroker(0);
  const link = await openLink(port);
  const client = connect(link.url, { transports: ['websocket'], lifecycle: false });
  try {
    await client.topic('ticks').subscribe(() => undefined, mode === 'latest' ? { mode: 'latest' } : undefined).ready;
    link.stall();
    const before = await memory();
    const pad = 'x'.repeat(settings.slowPayloadBytes);
    let peak = 0;
    let published = 0;
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
      for (let i = 0; i < 10; i++) await broker.publish('ticks', { n: published++, pad });
      peak = Math.max(peak, broker.stats().outboundQueued);
      await new Promise((r) => setTimeout(r, 10));
    }
    const endQueued = broker.stats().outboundQueued;
    const after = await memory();
    return {
      mode,
      seconds,
      published,
      peakQueuedBytes: peak,
      endQueuedBytes: endQueued,
      memoryGrowthBytes: after - before,
      dropped: broker.stats().outboundDropped,
    };
  } finally {
    client.close();
    await link.close();
    await broker.close();
  }
}

const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;

const machine = describeMachine();
// The slow link first, on a fresh heap. `latest` twice, for a third of the time and the whole:
// what it costs the broker does not grow with the stall.
const slowRows: SlowRow[] = [];
const slowRuns = [
  ['all', settings.slowSeconds],
  ['latest', settings.slowSeconds / 3],
  ['latest', settings.slowSeconds],
] as const;
for (const [mode, seconds] of slowRuns) {
  const row = await slowLink(mode, seconds);
  console.error(JSON.stringify(row));
  slowRows.push(row);
}
const deltaRows: DeltaRow[] = [];
for (const transport of ['websocket', 'sse', 'polling'] as const) {
  const row = await deltas(transport, settings.deltaMessages);
  console.error(JSON.stringify(row));
  deltaRows.push(row);
}

const report = [
  `# rt pace benchmark${quick ? ' (quick)' : ''}`,
  '',
  `${machine.date} · ${machine.cores} cores (${machine.cpu}) · load ${machine.loadAtStart} at start · node ${machine.node}`,
  '',
  `## Deltas: bytes broker → client per message (a ${deltaRows[0]!.payloadBytes} B JSON object, one field changing, ${settings.deltaMessages} publishes)`,
  '',
  '| transport | whole | delta: true | saved |',
  '| --- | ---: | ---: | ---: |',
  ...deltaRows.map(
    (r) => `| ${r.transport} | ${r.wholeBytesPerMsg} B | ${r.deltaBytesPerMsg} B | ${(r.saved * 100).toFixed(1)}% |`,
  ),
  '',
  `## Slow link: one subscriber stalled while ~1,000 msgs/s of ${settings.slowPayloadBytes} B are published (outbound bound 4 MiB, policy drop; history off, so memory is the subscriber's cost)`,
  '',
  '| mode | stalled for | published | broker queue, peak | at the end | heap + external growth | dropped (overflow) |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...slowRows.map(
    (r) =>
      `| ${r.mode} | ${r.seconds} s | ${r.published} | ${kib(r.peakQueuedBytes)} | ${kib(r.endQueuedBytes)} | ${kib(r.memoryGrowthBytes)} | ${r.dropped} |`,
  ),
  '',
].join('\n');
console.log(report);
const dir = join(BENCH_DIR, 'results');
mkdirSync(dir, { recursive: true });
const name = `${machine.date.slice(0, 19).replace(/[:T]/g, '-')}-pace${quick ? '-quick' : ''}`;
writeFileSync(join(dir, `${name}.json`), `${JSON.stringify({ machine, settings, deltaRows, slowRows }, null, 2)}\n`);
writeFileSync(join(dir, `${name}.md`), report);
console.error(`bench: results in ${dir}/${name}.{md,json}`);
process.exit(0);
