/**
 * A load-generator process. The orchestrator (run.ts) forks several and drives them over
 * IPC: each request `{ id, cmd, ... }` is answered `{ id, ... }`. One process holds many
 * client connections of one system; latency is measured from a timestamp in each payload
 * (the monotonic clock is shared by every process on the machine).
 */
import type { BenchClient, Connect } from './clients/types.ts';
import { Histogram, nowUs } from './lib/histogram.ts';
import { cpuUs } from './lib/serve.ts';

type Request =
  | { id: number; cmd: 'init'; adapter: string; url: string; transport: string }
  | { id: number; cmd: 'subscribe'; n: number; topics: string[]; first: number }
  | { id: number; cmd: 'reset' }
  | { id: number; cmd: 'count' }
  | { id: number; cmd: 'report' }
  | { id: number; cmd: 'publish'; topics: string[]; size: number; durationMs: number; window: number; rate?: number }
  | {
      id: number;
      cmd: 'echo';
      size: number;
      durationMs: number;
      /** `call`: a request and its answer; `publish`: a publish until it arrives on the client's own subscription. */
      mode: 'call' | 'publish';
    }
  | {
      id: number;
      cmd: 'workqueue';
      pullers: number;
      prefetch: number;
      size: number;
      durationMs: number;
      window: number;
    }
  | { id: number; cmd: 'close' };

let connectTo: Connect;
let url = '';
let transport = '';
const clients: BenchClient[] = [];
let hist = new Histogram();
let received = 0;
let lastUs = 0;
/** CPU time used when the counters were last reset. */
let cpuAtReset = 0;

/** A payload of `size` bytes that starts with the time it was made. */
function payload(size: number): string {
  const stamp = `${nowUs()}|`;
  return stamp + 'x'.repeat(Math.max(0, size - stamp.length));
}

function onPayload(p: string): void {
  const now = nowUs();
  hist.record(now - Number(p.slice(0, p.indexOf('|'))));
  received++;
  lastUs = now;
  wake();
}

/** Runs `task` for 0..n-1 with at most `limit` at a time. */
async function pool(n: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, lane));
}

/** Called on every received payload; a closed loop (the work queue) pumps from it. */
let wake = (): void => undefined;

/**
 * Calls `send` as fast as it resolves, keeping `window` calls open, for `durationMs`; and
 * only while `room(started)` says so (a closed loop on something else than the answers).
 */
function saturate(
  window: number,
  durationMs: number,
  send: (i: number) => Promise<void>,
  room: (started: number) => boolean = () => true,
): Promise<{ sent: number; failed: number; startUs: number; endUs: number }> {
  const startUs = nowUs();
  const endUs = startUs + durationMs * 1000;
  let open = 0;
  let sent = 0;
  let failed = 0;
  return new Promise((resolve) => {
    let finished = false;
    const pump = (): void => {
      if (finished) return;
      const now = nowUs();
      while (open < window && now < endUs && room(sent)) {
        open++;
        send(sent++).then(done, () => {
          failed++;
          done();
        });
      }
      if (open === 0 && now >= endUs) {
        finished = true;
        clearTimeout(timer);
        wake = () => undefined;
        resolve({ sent, failed, startUs, endUs: now });
      }
    };
    const done = (): void => {
      open--;
      pump();
    };
    // Ends the run when the time is up even if nothing completes or arrives then.
    const timer = setTimeout(pump, durationMs + 1);
    wake = pump;
    pump();
  });
}

/**
 * Calls `send` `rate` times a second (on schedule, whatever the answers) for `durationMs`,
 * with at most `window` calls open: latency at a load every system can carry.
 */
function paced(
  rate: number,
  window: number,
  durationMs: number,
  send: (i: number) => Promise<void>,
): Promise<{ sent: number; failed: number; startUs: number; endUs: number }> {
  const startUs = nowUs();
  const endUs = startUs + durationMs * 1000;
  const everyUs = 1e6 / rate;
  let open = 0;
  let sent = 0;
  let failed = 0;
  return new Promise((resolve) => {
    const done = (): void => {
      open--;
      if (open === 0 && nowUs() >= endUs) resolve({ sent, failed, startUs, endUs: nowUs() });
    };
    const tick = (): void => {
      const now = nowUs();
      while (startUs + sent * everyUs <= now && now < endUs && open < window) {
        open++;
        send(sent++).then(done, () => {
          failed++;
          done();
        });
      }
      if (now < endUs) setTimeout(tick, Math.max(0, (startUs + sent * everyUs - nowUs()) / 1000));
      else if (open === 0) resolve({ sent, failed, startUs, endUs: now });
    };
    tick();
  });
}

async function handle(m: Request): Promise<Record<string, unknown>> {
  switch (m.cmd) {
    case 'init': {
      connectTo = ((await import(`./clients/${m.adapter}.ts`)) as { connect: Connect }).connect;
      url = m.url;
      transport = m.transport;
      return {};
    }
    case 'subscribe': {
      const t0 = nowUs();
      await pool(m.n, 50, async (i) => {
        const c = await connectTo(url, transport);
        clients.push(c);
        await c.subscribe(m.topics[(m.first + i) % m.topics.length]!, onPayload);
      });
      return { ms: (nowUs() - t0) / 1000 };
    }
    case 'reset':
      hist = new Histogram();
      received = 0;
      lastUs = 0;
      cpuAtReset = cpuUs();
      return {};
    case 'count':
      return { received };
    case 'report':
      return { received, lastUs, cpuUs: cpuUs() - cpuAtReset, hist: hist.toJSON() };
    case 'publish': {
      const c = await connectTo(url, transport);
      clients.push(c);
      const perTopic: Record<string, number> = {};
      const send = (i: number): Promise<void> => {
        const topic = m.topics[i % m.topics.length]!;
        perTopic[topic] = (perTopic[topic] ?? 0) + 1;
        return c.publish(topic, payload(m.size));
      };
      const r = m.rate
        ? await paced(m.rate, m.window, m.durationMs, send)
        : await saturate(m.window, m.durationMs, send);
      return { ...r, perTopic };
    }
    case 'echo': {
      const c = await connectTo(url, transport);
      clients.push(c);
      let trip = (): Promise<void> => c.echo(payload(m.size));
      if (m.mode === 'publish') {
        const topic = `rtt/${process.pid}`;
        let arrived = (): void => undefined;
        await c.subscribe(topic, () => arrived());
        trip = () =>
          new Promise<void>((resolve, reject) => {
            arrived = resolve;
            // Done when the message is back, whether or not the publish's own answer came first.
            c.publish(topic, payload(m.size)).catch(reject);
          });
      }
      const h = new Histogram();
      const cpu0 = cpuUs();
      const startUs = nowUs();
      const endUs = startUs + m.durationMs * 1000;
      let n = 0;
      for (let t = startUs; t < endUs; ) {
        await trip();
        const now = nowUs();
        h.record(now - t);
        t = now;
        n++;
      }
      return { n, elapsedUs: nowUs() - startUs, cpuUs: cpuUs() - cpu0, hist: h.toJSON() };
    }
    case 'workqueue': {
      const pusher = await connectTo(url, transport);
      clients.push(pusher);
      if (!pusher.push) return { unsupported: true };
      const topic = `jobs/${process.pid}`;
      await pool(m.pullers, 50, async () => {
        const c = await connectTo(url, transport);
        clients.push(c);
        await c.pull!(topic, m.prefetch, onPayload);
      });
      hist = new Histogram();
      received = 0;
      // Closed loop: at most `window` items pushed and not yet taken by a puller.
      const r = await saturate(
        m.window,
        m.durationMs,
        () => pusher.push!(topic, payload(m.size)),
        (started) => started - received < m.window,
      );
      // Let the pullers take what is still on its way (at most `window` items).
      for (let waited = 0; received < r.sent - r.failed && waited < 3000; waited += 10)
        await new Promise((res) => setTimeout(res, 10));
      return { ...r, received, lastUs, hist: hist.toJSON() };
    }
    case 'close':
      for (const c of clients) c.close();
      setTimeout(() => process.exit(0), 100);
      return {};
  }
}

process.on('message', (m: Request) => {
  handle(m).then(
    (reply) => process.send?.({ id: m.id, ...reply }),
    (error: unknown) =>
      process.send?.({ id: m.id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
