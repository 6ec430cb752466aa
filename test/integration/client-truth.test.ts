/**
 * The client tells the truth, on every transport: payloads JSON cannot carry are refused before
 * anything is sent; unusable URLs throw; connection errors carry their cause, once; refused
 * credentials stop in `unauthorized`; every promise settles; a stalled connection does not
 * stay `open`; headers, reconnect() and the lifecycle work; the broker's limits are enforced
 * locally; `unavailable` subscriptions and joins are retried until accepted.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { type Handshake, MemoryEngine, RtError as ServerError } from '@rt/server';
import { type Lifecycle, type LifecycleEvent, RtError, connect } from '@rt/client';
import { Collector, TRANSPORTS, clients, deadline, quiet, startBroker } from '../helpers/index.ts';
import { stateReached } from '../helpers/reliability.ts';
import { startProxy } from '../helpers/tcp-proxy.ts';

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

async function rejection(p: Promise<unknown>, ms = 15_000): Promise<RtError> {
  try {
    await deadline(p, ms, 'a rejection');
  } catch (e) {
    if (e instanceof RtError) return e;
    throw e;
  }
  throw new Error('resolved, expected a rejection');
}

/** A lifecycle the test drives. */
function manualLifecycle(): Lifecycle & { emit(event: LifecycleEvent): void } {
  let listener: ((event: LifecycleEvent) => void) | undefined;
  return {
    subscribe(l) {
      listener = l;
      return () => {
        listener = undefined;
      };
    },
    emit(event) {
      listener?.(event);
    },
  };
}

/** A memory engine that answers the first `n` listens and bus joins with `unavailable` (as Redis down does). */
class FlakyEngine extends MemoryEngine {
  constructor(private failures: number) {
    super();
  }
  override listen(): Promise<void> {
    if (this.failures-- > 0) return Promise.reject(new ServerError('unavailable', 'the engine is down (test)'));
    return super.listen();
  }
  override listenBus(): Promise<void> {
    if (this.failures-- > 0) return Promise.reject(new ServerError('unavailable', 'the engine is down (test)'));
    return super.listenBus();
  }
}

/** A memory engine that cannot confirm it caught up (as Redis whose pub/sub connection dropped) for the first `n` subscriptions. */
class UncaughtEngine extends MemoryEngine {
  constructor(private failures: number) {
    super();
  }
  caughtUp(): Promise<void> {
    if (this.failures-- > 0) return Promise.reject(new ServerError('unavailable', 'pub/sub is down (test)'));
    return Promise.resolve();
  }
}

const cycle: Record<string, unknown> = { a: 1 };
cycle.self = cycle;
const BAD_PAYLOADS: [string, unknown, RegExp][] = [
  ['a BigInt', { n: 10n }, /data\.n is a BigInt/],
  ['a cycle', cycle, /data\.self refers back/],
  ['a function', { f: () => 1 }, /data\.f is a function/],
  ['a symbol', [Symbol('s')], /data\[0\] is a symbol/],
  ['undefined', { u: undefined }, /data\.u is undefined/],
  ['NaN', { x: Number.NaN }, /data\.x is NaN/],
  ['Infinity', [1, Number.POSITIVE_INFINITY], /data\[1\] is Infinity/],
  ['a Map', new Map([['k', 1]]), /data is a Map/],
  ['a Set', { s: new Set([1]) }, /data\.s is a Set/],
  ['a Date', { at: new Date(0) }, /data\.at is a Date.*toISOString/],
  ['bytes inside a value', { b: new Uint8Array(2) }, /data\.b is a Uint8Array/],
];

describe('unusable URLs throw invalid_url at once', () => {
  for (const [url, hint] of [
    ['127.0.0.1:4000', /did you mean http:\/\/127\.0\.0\.1:4000/],
    ['not a url', /not a URL/],
    ['ftp://example.com', /scheme "ftp:"/],
    ['', /needs the broker's URL/],
  ] as const) {
    it(JSON.stringify(url), () => {
      assert.throws(
        () => connect(url, { lifecycle: false }),
        (e: unknown) => e instanceof RtError && e.code === 'invalid_url' && hint.test(e.message),
      );
    });
  }
});

for (const transport of TRANSPORTS) {
  describe(`the client tells the truth over ${transport}`, () => {
    it('refuses payloads JSON cannot carry with bad_payload before sending; the client lives on', async () => {
      await using b = await startBroker();
      await using c = clients(b.url, transport);
      const client = c.make();
      const got = new Collector<unknown>();
      await client.topic('p').subscribe(got.push).ready;
      const states = new Collector<string>();
      client.on('state', (e) => states.push(e.to));
      for (const [what, data, message] of BAD_PAYLOADS) {
        for (const call of [
          () => client.topic('p').publish(data as never),
          () => client.topic('p').push(data as never),
          () => client.call('echo', data as never),
        ]) {
          const error = await rejection(call());
          assert.equal(error.code, 'bad_payload', what);
          assert.match(error.message, message, what);
        }
      }
      await client.topic('p').publish({ fine: [1, 'two', null, true, { deep: 3.5 }] });
      assert.deepEqual(await got.until(1), [{ fine: [1, 'two', null, true, { deep: 3.5 }] }]);
      assert.deepEqual(states.items, [], 'the connection never dropped');
      assert.equal(b.broker.stats().badFrames, 0);
    });

    it('accepts ws:/wss: URLs, and a path is where the broker is mounted, not a namespace', async () => {
      await using b = await startBroker({ prefix: '/realtime/rt' });
      const unmounted = connect(b.url, { transports: [transport], reconnect: false, lifecycle: false });
      unmounted.on('error', () => undefined);
      await rejection(unmounted.ready());
      const viaPath = connect(`${b.url.replace('http:', 'ws:')}/realtime/`, {
        transports: [transport],
        lifecycle: false,
      });
      try {
        await deadline(viaPath.ready(), 10_000, 'open through the mount path');
        const got = new Collector<string>();
        await viaPath.topic<string>('m').subscribe(got.push).ready;
        await viaPath.topic<string>('m').publish('mounted');
        assert.deepEqual(await got.until(1), ['mounted']);
      } finally {
        viaPath.close();
      }
    });

    it('a closed port: the error names the transport, URL and ECONNREFUSED, once for all retries; every promise settles with it when giving up', async () => {
      const port = await closedPort();
      const url = `http://127.0.0.1:${port}`;
      const client = connect(url, {
        transports: [transport],
        reconnect: { initialDelayMs: 20, maxDelayMs: 40, maxAttempts: 4 },
        lifecycle: false,
      });
      const errors = new Collector<string>();
      client.on('error', (e) => errors.push(e.error.message));
      const sub = client.topic('t').subscribe();
      const bus = client.topic('t').bus();
      const puller = client.topic('t').pull(() => undefined);
      const publish = client.topic('t').publish('x');
      const ready = client.ready();
      for (const p of [ready, publish, sub.ready, bus.ready, puller.ready]) {
        const error = await rejection(p);
        assert.equal(error.code, 'unavailable');
        assert.match(error.message, /could not connect \(5 attempts\)/);
        assert.match(error.message, /ECONNREFUSED/);
      }
      assert.equal(client.state, 'closed');
      assert.equal(errors.items.length, 1, errors.items.join('\n'));
      assert.match(errors.items[0]!, new RegExp(`^${transport} to ${url}/rt did not open: .*ECONNREFUSED`));
    });

    it('with no error listener, the first failure is logged once; logErrors: false silences it', async () => {
      const port = await closedPort();
      const logged: string[] = [];
      const warn = console.warn;
      console.warn = (...args: unknown[]) => logged.push(args.join(' '));
      try {
        for (const logErrors of [true, false]) {
          const client = connect(`http://127.0.0.1:${port}`, {
            transports: [transport],
            reconnect: { initialDelayMs: 10, maxDelayMs: 20, maxAttempts: 3 },
            lifecycle: false,
            logErrors,
          });
          await rejection(client.ready());
        }
      } finally {
        console.warn = warn;
      }
      assert.equal(logged.length, 1, logged.join('\n'));
      assert.match(logged[0]!, /ECONNREFUSED.*logged once/);
    });

    it('refused credentials: auth is asked once more, then unauthorized; everything pending rejects; reconnect() with a good token opens', async () => {
      await using b = await startBroker();
      let admits = 0;
      b.broker.admit = async (handshake: Handshake) => {
        admits++;
        if (handshake.token !== 'good') throw new ServerError('unauthorized', 'bad or missing token');
        return { user: 'ann' };
      };
      await using c = clients(b.url, transport);
      let token = 'stale';
      let asked = 0;
      const client = c.make({
        auth: () => {
          asked++;
          return token;
        },
      });
      client.on('error', () => undefined);
      const sub = client.topic('t').subscribe();
      const publish = client.topic('t').publish('x');
      const ready = client.ready();
      for (const p of [ready, publish, sub.ready]) assert.equal((await rejection(p)).code, 'unauthorized');
      assert.equal(client.state, 'unauthorized');
      assert.equal(asked, 2, 'auth asked again once');
      const admitsThen = admits;
      await quiet(300);
      assert.equal(admits, admitsThen, 'no more attempts while unauthorized');
      assert.equal((await rejection(client.topic('t').publish('y'))).code, 'unauthorized');
      token = 'good';
      client.reconnect();
      await deadline(client.ready(), 10_000, 'open after reconnect()');
      const got = new Collector<string>();
      const again = client.topic<string>('t2').subscribe(got.push);
      await again.ready;
      await client.topic<string>('t2').publish('in');
      assert.deepEqual(await got.until(1), ['in']);
    });

    it('a token refused once and renewed by auth opens without waiting', async () => {
      await using b = await startBroker();
      b.broker.admit = async (handshake: Handshake) => {
        if (handshake.token !== 'fresh') throw new ServerError('unauthorized', 'expired');
        return { user: 'ann' };
      };
      await using c = clients(b.url, transport);
      const tokens = ['expired', 'fresh'];
      const client = c.make({ auth: () => tokens.shift() ?? 'fresh', reconnect: { initialDelayMs: 60_000 } });
      client.on('error', () => undefined);
      await deadline(client.ready(), 10_000, 'open with the renewed token');
    });

    it('with reconnect: false, a drop settles every ready and request with the reason', async () => {
      await using b = await startBroker();
      await using proxy = await startProxy(b.port);
      await using c = clients(proxy.url, transport);
      const client = c.make({ reconnect: false });
      await client.ready();
      proxy.stall('down');
      const sub = client.topic('s').subscribe();
      const bus = client.topic('s').bus();
      const call = client.call('nothing');
      await quiet(100);
      proxy.cut();
      for (const p of [sub.ready, bus.ready, call]) {
        const error = await rejection(p);
        assert.equal(error.code, 'connection_lost', error.message);
      }
      assert.equal(client.state, 'closed');
    });

    it('a stalled connection does not stay open: a request times out, the probe too, and the client reconnects', async () => {
      await using b = await startBroker();
      await using proxy = await startProxy(b.port);
      await using c = clients(proxy.url, transport);
      const client = c.make({ requestTimeoutMs: 500, openTimeoutMs: 1000 });
      await client.ready();
      const states = new Collector<string>();
      client.on('state', (e) => states.push(`${e.to}: ${e.reason ?? ''}`));
      proxy.stall('up');
      assert.equal((await rejection(client.call('stalled'))).code, 'timeout');
      await states.until(1, 10_000, 'the state to leave open');
      assert.match(states.items[0]!, /^reconnecting: .*(no answer|stalled)/);
      proxy.resume();
      await stateReached(client, 'open', 15_000);
    });

    it('headers reach the broker (Origin for allowOrigin)', async () => {
      await using b = await startBroker({ allowOrigin: 'https://app.example' });
      const seen: Handshake[] = [];
      const admit = b.broker.admit.bind(b.broker);
      b.broker.admit = (handshake: Handshake) => {
        seen.push(handshake);
        return admit(handshake);
      };
      await using c = clients(b.url, transport);
      const client = c.make({ headers: { origin: 'https://app.example', 'x-app': 'demo' } });
      await client.ready();
      assert.ok(seen.length > 0 && seen.every((h) => h.headers['x-app'] === 'demo'));
      const wrong = c.make({ headers: { origin: 'https://evil.example' }, reconnect: false });
      wrong.on('error', () => undefined);
      const refused = await rejection(wrong.ready());
      // The broker refuses an origin as it refuses credentials (its code is the broker's choice).
      assert.ok(['forbidden', 'unauthorized'].includes(refused.code), refused.code);
      assert.match(refused.message, /origin https:\/\/evil\.example is not allowed/);
    });

    it('reconnect() reconnects now, and the subscription recovers what was published meanwhile', async () => {
      await using b = await startBroker();
      await using c = clients(b.url, transport);
      const client = c.make();
      const got = new Collector<number>();
      await client.topic<number>('r').subscribe(got.push).ready;
      const states = new Collector<string>();
      client.on('state', (e) => states.push(e.to));
      client.reconnect();
      await c.make().topic<number>('r').publish(1);
      await stateReached(client, 'open');
      assert.deepEqual(states.items.slice(0, 2), ['reconnecting', 'open']);
      assert.deepEqual(await got.until(1), [1]);
    });

    it('lifecycle: background past the grace period suspends; foreground reconnects at once and recovers', async () => {
      await using b = await startBroker();
      await using c = clients(b.url, transport);
      const lifecycle = manualLifecycle();
      // A backoff far longer than the test: only the lifecycle can bring it back in time.
      const client = c.make({ lifecycle, backgroundGraceMs: 50, reconnect: { initialDelayMs: 60_000 } });
      const got = new Collector<number>();
      await client.topic<number>('l').subscribe(got.push).ready;
      lifecycle.emit('background');
      await stateReached(client, 'suspended');
      await c.make().topic<number>('l').publish(1);
      lifecycle.emit('foreground');
      await stateReached(client, 'open');
      assert.deepEqual(await got.until(1), [1]);
      lifecycle.emit('offline');
      assert.equal(client.state, 'suspended');
      lifecycle.emit('online');
      await stateReached(client, 'open');
    });

    it("the broker's limits: an oversized payload is refused locally with payload_too_large, the connection stays", async () => {
      await using b = await startBroker({ limits: { maxPayloadBytes: 1000 } });
      await using c = clients(b.url, transport);
      const client = c.make();
      const got = new Collector<string>();
      await client.topic<string>('big').subscribe(got.push).ready;
      const states = new Collector<string>();
      client.on('state', (e) => states.push(e.to));
      const framesBefore = b.broker.stats().framesIn;
      const error = await rejection(client.topic<string>('big').publish('x'.repeat(5000)));
      assert.equal(error.code, 'payload_too_large');
      assert.equal(b.broker.stats().framesIn, framesBefore, 'nothing was sent');
      await client.topic<string>('big').publish('small');
      assert.deepEqual(await got.until(1), ['small']);
      assert.deepEqual(states.items, []);
    });

    it('a subscription and a bus join answered unavailable are retried until the broker accepts them', async () => {
      await using b = await startBroker({ engine: new FlakyEngine(4) });
      await using c = clients(b.url, transport);
      const client = c.make();
      const retries = new Collector<string>();
      client.on('error', (e) => {
        if (e.retryInMs !== undefined) retries.push(`${e.topic}: ${e.error.message}`);
      });
      const got = new Collector<string>();
      const sub = client.topic<string>('u').subscribe(got.push);
      const bus = client.topic<string>('ub').bus();
      await deadline(Promise.all([sub.ready, bus.ready]), 15_000, 'both accepted after retries');
      assert.ok(retries.items.length >= 2, retries.items.join('\n'));
      assert.match(retries.items[0]!, /unavailable|engine is down.*retrying in \d+ ms/);
      await client.topic<string>('u').publish('through');
      assert.deepEqual(await got.until(1), ['through']);
    });

    it('a subscription the engine cannot confirm caught up is answered unavailable, undone, and retried', async () => {
      await using b = await startBroker({ engine: new UncaughtEngine(2) });
      await using c = clients(b.url, transport);
      const client = c.make();
      const retries = new Collector<string>();
      client.on('error', (e) => {
        if (e.retryInMs !== undefined) retries.push(`${e.topic}: ${e.error.message}`);
      });
      const got = new Collector<string>();
      await deadline(client.topic<string>('caught').subscribe(got.push).ready, 15_000, 'accepted after retries');
      assert.equal(retries.items.length, 2, retries.items.join('\n'));
      assert.match(retries.items[0]!, /pub\/sub is down/);
      await client.topic<string>('caught').publish('once');
      await got.until(1);
      await quiet();
      assert.deepEqual(got.items, ['once']);
    });
  });
}
