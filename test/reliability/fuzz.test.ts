/**
 * Fuzz: random and malformed frames thrown at every transport for a bounded time. The broker
 * stays up, answers every frame (an error for the bad ones), serves well-behaved clients
 * afterwards, and its memory returns to where it was. Seeded (`RT_FUZZ_SEED`), so a failure
 * reproduces.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { Collector, TRANSPORTS, clients, startBroker, type TestBroker } from '../helpers/index.ts';
import { condition, heapUsed } from '../helpers/reliability.ts';

const SEED = Number(process.env.RT_FUZZ_SEED ?? Date.now() % 1_000_000);
const ROUND_MS = Number(process.env.RT_FUZZ_MS ?? 2500);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const OPS = ['sub', 'unsub', 'pub', 'join', 'leave', 'bus', 'push', 'pull', 'unpull', 'ack', 'nack', 'call'];
const topic = fc.oneof(
  fc.constantFrom(
    'a',
    'a/b',
    'fuzz/x/y',
    '',
    '/',
    'a//b',
    'a/',
    ' ',
    '\u0000',
    '../..',
    'x'.repeat(300),
    'a/'.repeat(40) + 'a',
  ),
  fc.string({ maxLength: 40 }),
  fc.anything({ maxDepth: 1 }),
);
const ref = fc.oneof(
  fc.nat(1000),
  fc.constantFrom(-1, 1.5, '7', null, Number.MAX_SAFE_INTEGER + 2),
  fc.anything({ maxDepth: 0 }),
);
/** Frames shaped like rt frames, with every field possibly wrong. */
const frameLike = fc.record(
  {
    t: fc.oneof(fc.constantFrom(...OPS), fc.string({ maxLength: 10 }), fc.anything({ maxDepth: 0 })),
    ref,
    topic,
    data: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.string({ maxLength: 2000 }), fc.anything({ maxDepth: 2 })),
    bin: fc.constantFrom(1, 0, 'yes'),
    id: fc.oneof(fc.string({ maxLength: 20 }), fc.anything({ maxDepth: 0 }), fc.constant('x'.repeat(200))),
    prefetch: fc.oneof(fc.integer({ min: -5, max: 20_000 }), fc.anything({ maxDepth: 0 })),
    ep: fc.anything({ maxDepth: 0 }),
    off: fc.oneof(fc.integer({ min: -3, max: 1e9 }), fc.anything({ maxDepth: 0 })),
    key: fc.oneof(fc.string({ maxLength: 200 }), fc.anything({ maxDepth: 0 })),
    name: fc.oneof(fc.constantFrom('none', ''), fc.anything({ maxDepth: 0 })),
  },
  { requiredKeys: [] },
);
/** Anything at all: what a socket.io emit can carry. */
const anyFrame = fc.oneof(
  { weight: 4, arbitrary: frameLike },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
);

/** A stream of samples from `arb`, reproducible from the seed. */
function sampler<T>(arb: fc.Arbitrary<T>, seed: number): () => T {
  let batch: T[] = [];
  let round = 0;
  return () => {
    if (batch.length === 0) batch = fc.sample(arb, { seed: seed + round++, numRuns: 500 });
    return batch.pop()!;
  };
}

/** Throws frames at the broker over socket.io for `ms`; returns frames sent and answers received. */
async function fuzzSocketIo(
  b: TestBroker,
  transport: string,
  ms: number,
  seed: number,
): Promise<{ sent: number; answers: number; disconnects: number }> {
  const next = sampler(anyFrame, seed);
  let sent = 0;
  let answers = 0;
  let disconnects = 0;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const socket: Socket = io(b.url, {
      path: '/rt/socket.io',
      transports: [transport],
      reconnection: false,
      forceNew: true,
    });
    socket.on('f', (...frames: { t?: string }[]) => {
      for (const f of frames) if (f.t === 'ok' || f.t === 'err') answers++;
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    let alive = true;
    socket.once('disconnect', () => {
      alive = false;
      disconnects++;
    });
    // A connection's life: a few hundred frames, sometimes on other events, then goodbye.
    for (let i = 0; i < 300 && alive && Date.now() < end; i++) {
      const frames = Array.from({ length: 1 + (i % 5) }, next);
      if (i % 50 === 49) socket.emit('not-rt', ...frames);
      else {
        socket.emit('f', ...frames);
        sent += frames.length;
      }
      if (i % 10 === 9) await sleep(1);
    }
    await condition(() => !alive || answers >= sent, 10_000, `answers to ${sent} frames (have ${answers})`);
    socket.close();
  }
  return { sent, answers, disconnects };
}

/** Throws frames at the broker over SSE (stream + POSTs) for `ms`; returns frames sent and answers received. */
async function fuzzSse(
  b: TestBroker,
  ms: number,
  seed: number,
): Promise<{ sent: number; answers: number; disconnects: number }> {
  const next = sampler(anyFrame, seed);
  const garbage = sampler(
    fc.oneof(fc.string({ maxLength: 300 }), fc.constantFrom('', '[', '{}', '[1,2', 'null', '"x"')),
    seed,
  );
  let sent = 0;
  let answers = 0;
  let disconnects = 0;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const abort = new AbortController();
    const res = await fetch(`${b.url}/rt/sse?frames=1`, { signal: abort.signal });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let postUrl: string | undefined;
    let alive = true;
    const reading = (async () => {
      let text = '';
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
        if (done) break;
        text += value;
        let cut: number;
        while ((cut = text.indexOf('\n\n')) !== -1) {
          const event = text.slice(0, cut);
          text = text.slice(cut + 2);
          const data = event
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6));
          if (event.includes('event: session'))
            postUrl = `${b.url}/rt/${(JSON.parse(data[0]!) as { url: string }).url}`;
          else if (!event.includes('event: ')) for (const line of data) if (/^\{"t":"(ok|err)"/.test(line)) answers++;
        }
      }
      alive = false;
      disconnects++;
    })();
    await condition(() => postUrl !== undefined || !alive, 5000, 'the SSE session event');
    for (let i = 0; i < 60 && alive && Date.now() < end; i++) {
      if (i % 10 === 9) {
        const r = await fetch(postUrl!, { method: 'POST', body: garbage() });
        assert.ok(r.status < 500, `POST of garbage answered ${r.status}`);
        continue;
      }
      const frames = Array.from({ length: 1 + (i % 5) }, next);
      const body = JSON.stringify(frames);
      const r = await fetch(postUrl!, { method: 'POST', headers: { 'content-type': 'text/plain' }, body });
      assert.ok(r.status < 500, `POST answered ${r.status}`);
      if (r.status === 204) sent += frames.length;
    }
    await condition(() => !alive || answers >= sent, 10_000, `answers to ${sent} frames (have ${answers})`);
    abort.abort();
    await reading;
  }
  return { sent, answers, disconnects };
}

/** Garbage below socket.io: random text and bytes on an engine.io WebSocket. */
async function fuzzEngineIo(b: TestBroker, ms: number, seed: number): Promise<number> {
  const next = sampler(
    fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 200 }),
      fc.constantFrom('4', '42', '42[', '2probe', '40/nope,', '451-["f",{"_placeholder":true,"num":9}]'),
    ),
    seed,
  );
  const end = Date.now() + ms;
  let connections = 0;
  while (Date.now() < end) {
    const ws = new WebSocket(`${b.url.replace('http', 'ws')}/rt/socket.io/?EIO=4&transport=websocket`);
    connections++;
    await new Promise<void>((resolve) => {
      ws.once('open', () => {
        ws.send('40');
        for (let i = 0; i < 20; i++) ws.send(next());
        setTimeout(() => ws.terminate(), 20);
      });
      ws.once('error', () => undefined);
      ws.once('close', () => resolve());
    });
  }
  return connections;
}

/** Random bodies, content types and query strings on the HTTP publish endpoint. */
async function fuzzHttp(b: TestBroker, ms: number, seed: number): Promise<Map<number, number>> {
  const next = sampler(
    fc.record({
      query: fc.oneof(
        fc.constant(''),
        fc.string({ maxLength: 30 }).map((s) => `?topic=${encodeURIComponent(s)}`),
      ),
      type: fc.constantFrom(
        'application/json',
        'text/plain',
        'application/octet-stream',
        '',
        'application/json; charset=latin1',
      ),
      body: fc.oneof(
        fc.string({ maxLength: 500 }),
        fc.jsonValue().map((v) => JSON.stringify(v)),
        anyFrame.map((v) => JSON.stringify(v) ?? 'undefined'),
      ),
      key: fc.option(fc.string({ maxLength: 200 }), { nil: undefined }),
    }),
    seed,
  );
  const statuses = new Map<number, number>();
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const r = next();
    const headers: Record<string, string> = { 'content-type': r.type };
    if (r.key !== undefined && /^[\x20-\x7e]*$/.test(r.key)) headers['idempotency-key'] = r.key;
    const res = await fetch(`${b.url}/rt/publish${r.query}`, { method: 'POST', headers, body: r.body });
    await res.arrayBuffer();
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  }
  return statuses;
}

describe(`fuzz (seed ${SEED})`, () => {
  it('random and malformed frames on every transport: the broker answers, stays up, and its memory returns', {
    timeout: 120_000,
  }, async () => {
    // Short lifetimes for what the broker rightly keeps (history, waiting pushes, idempotency
    // keys), so that what remains after a round is what leaked, if anything.
    await using b = await startBroker({ limits: { historyTtlMs: 300, pushTtlMs: 300, dedupeTtlMs: 300 } });
    const round = async (ms: number, seed: number): Promise<string> => {
      const report: string[] = [];
      for (const transport of TRANSPORTS) {
        const r = transport === 'sse' ? await fuzzSse(b, ms, seed) : await fuzzSocketIo(b, transport, ms, seed);
        // Every frame was answered, ok or err, on connections the broker kept open.
        assert.ok(r.answers >= r.sent, `${transport}: ${r.answers} answers to ${r.sent} frames`);
        report.push(`${transport}: ${r.sent} frames`);
      }
      report.push(`engine.io garbage: ${await fuzzEngineIo(b, ms / 2, seed)} connections`);
      const statuses = await fuzzHttp(b, ms / 2, seed);
      assert.deepEqual(
        [...statuses.keys()].filter((s) => s >= 500),
        [],
        `HTTP statuses ${JSON.stringify([...statuses])}`,
      );
      report.push(`http: ${JSON.stringify([...statuses])}`);
      return report.join('; ');
    };
    const settle = async (): Promise<number> => {
      await condition(() => b.broker.stats().sessions === 0, 10_000, 'every fuzz connection to close');
      await sleep(700); // past the short lifetimes above, and a sweep of the engine
      await b.broker.publish('fuzz/settle', 0, { key: `settle-${Date.now()}` }); // prunes idempotency keys
      return heapUsed();
    };

    await round(ROUND_MS, SEED); // warm-up: code compiled, pools and caches filled
    const baseline = await settle();
    const report = await round(ROUND_MS, SEED + 1);
    const after = await settle();
    const stats = b.broker.stats();
    console.log(`fuzz: ${report}; bad frames ${stats.badFrames}; heap ${baseline} -> ${after}`);
    assert.ok(stats.badFrames > 1000, `${stats.badFrames} bad frames answered`);
    assert.ok(after - baseline < 5 * 1024 * 1024, `heap grew by ${after - baseline} bytes`);

    // Still serving: a well-behaved client on every transport.
    for (const transport of TRANSPORTS) {
      await using c = clients(b.url, transport);
      const got = new Collector<string>();
      const client = c.make();
      await client.topic<string>('after/fuzz').subscribe(got.push).ready;
      await client.topic<string>('after/fuzz').publish('still here');
      await got.until(1);
    }
    assert.equal((await fetch(`${b.url}/rt/health`)).status, 200);
  });
});
