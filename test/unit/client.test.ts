/**
 * The client's state machine and request queue against a fake transport: every transition,
 * resend on disconnect, the offline queue's bound, and the `restored` event.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type Client, type ClientEvents, type ConnectOptions, RtError, connect } from '@rt/client';
import { FakeBroker } from '../helpers/fake-transport.ts';
import { deadline } from '../helpers/index.ts';

function client(fake: FakeBroker, options: ConnectOptions = {}): Client {
  return connect('http://fake.invalid', {
    transports: [fake.factory],
    reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
    lifecycle: false,
    ...options,
  });
}

/** Every `state` event of `c`, as `from>to`. */
function states(c: Client): string[] {
  const seen: string[] = [];
  c.on('state', ({ from, to }) => seen.push(`${from}>${to}`));
  return seen;
}

function next<K extends keyof ClientEvents>(c: Client, event: K): Promise<ClientEvents[K]> {
  return deadline(new Promise((resolve) => c.once(event, resolve)), 5000, `the "${String(event)}" event`);
}

const rejection = async (p: Promise<unknown>): Promise<RtError> => {
  try {
    await deadline(p, 5000, 'a rejection');
  } catch (e) {
    if (e instanceof RtError) return e;
    throw e;
  }
  throw new Error('resolved, expected a rejection');
};

describe('client state machine (fake transport)', () => {
  it('connecting > open > reconnecting > open > closed', async () => {
    const fake = new FakeBroker();
    const c = client(fake);
    const seen = states(c);
    assert.equal(c.state, 'connecting');
    await fake.accept(0);
    await c.ready();
    assert.equal(c.transport, 'websocket');
    (await fake.attempt(0)).drop('fake: cut');
    assert.equal(c.state, 'reconnecting');
    await fake.accept(1);
    await c.ready();
    c.close();
    assert.deepEqual(seen, ['connecting>open', 'open>reconnecting', 'reconnecting>open', 'open>closed']);
    assert.equal((await fake.attempt(1)).closed, true);
  });

  it('connecting > closed when reconnect is false and the first attempt fails, with the cause', async () => {
    const fake = new FakeBroker();
    const c = client(fake, { reconnect: false });
    c.on('error', () => undefined);
    const ready = c.ready();
    (await fake.attempt(0)).refuse(new Error('connect ECONNREFUSED 127.0.0.1:9'));
    const error = await rejection(ready);
    assert.match(error.message, /ECONNREFUSED/);
    assert.equal(c.state, 'closed');
  });

  it('gives up after maxAttempts and rejects what waits with the reason', async () => {
    const fake = new FakeBroker();
    const c = client(fake, { reconnect: { initialDelayMs: 1, maxDelayMs: 2, maxAttempts: 2 } });
    c.on('error', () => undefined);
    const publish = c.topic('a').publish('x');
    for (let i = 0; i < 3; i++) (await fake.attempt(i)).refuse(new Error('getaddrinfo ENOTFOUND fake.invalid'));
    const error = await rejection(publish);
    assert.match(error.message, /ENOTFOUND/);
    assert.equal(c.state, 'closed');
    assert.equal(fake.connections.length, 3);
  });

  it('open > closed on a bye without reconnect', async () => {
    const fake = new FakeBroker();
    const c = client(fake);
    const conn = await fake.accept(0);
    await c.ready();
    conn.deliver({ t: 'bye', code: 'shutting_down', message: 'going away', reconnect: false });
    assert.equal(c.state, 'closed');
  });
});

describe('client requests (fake transport)', () => {
  it('queues calls while connecting, and rejects past queueLimit with queue_overflow', async () => {
    const fake = new FakeBroker();
    const c = client(fake, { queueLimit: 2 });
    const a = c.topic('a').publish(1);
    const b = c.topic('a').publish(2);
    const overflow = await rejection(c.topic('a').publish(3));
    assert.equal(overflow.code, 'queue_overflow');
    const conn = await fake.accept(0);
    const first = await conn.ok('pub');
    const second = await conn.ok('pub');
    await Promise.all([a, b]);
    assert.deepEqual(
      [first, second].map((f) => (f.t === 'pub' ? f.data : null)),
      [1, 2],
    );
    c.close();
  });

  it('sends an unanswered publish again with the same key after a reconnect; a call rejects with connection_lost', async () => {
    const fake = new FakeBroker();
    const c = client(fake);
    const conn = await fake.accept(0);
    await c.ready();
    const published = c.topic('a').publish('once');
    const called = c.call('act');
    const sent = await conn.next((f) => f.t === 'pub');
    await conn.next((f) => f.t === 'call');
    conn.drop();
    assert.equal((await rejection(called)).code, 'connection_lost');
    const again = await fake.accept(1);
    const resent = await again.ok('pub');
    await published;
    assert.ok(sent.t === 'pub' && resent.t === 'pub');
    assert.equal(resent.key, sent.key);
    assert.notEqual(resent.ref, sent.ref);
    c.close();
  });

  it('times out a request the broker does not answer', async () => {
    const fake = new FakeBroker();
    const c = client(fake, { requestTimeoutMs: 50 });
    await fake.accept(0);
    await c.ready();
    const error = await rejection(c.call('slow'));
    assert.equal(error.code, 'timeout');
    c.close();
  });

  it('rejects everything waiting with closed on close()', async () => {
    const fake = new FakeBroker();
    const c = client(fake);
    const publish = c.topic('a').publish(1);
    const sub = c.topic('a').subscribe();
    c.close();
    assert.equal((await rejection(publish)).code, 'closed');
    assert.equal((await rejection(sub.ready)).code, 'closed');
  });
});

describe('client interests (fake transport)', () => {
  it('re-establishes subscriptions (from their position), joins and pullers on every open, then emits restored', async () => {
    const fake = new FakeBroker();
    const c = client(fake);
    const sub = c.topic('news').subscribe();
    const bus = c.topic('room').bus();
    const puller = c.topic('jobs').pull(() => undefined);
    const conn = await fake.accept(0);
    const restored = next(c, 'restored');
    await conn.ok('sub', { ep: 'e1', off: 4 });
    await conn.ok('join');
    await conn.ok('pull');
    await Promise.all([sub.ready, bus.ready, puller.ready]);
    assert.deepEqual(await restored, { subscriptions: 1, buses: 1, pullers: 1, refused: 0 });
    conn.deliver({ t: 'msg', topic: 'news', data: 'x', off: 5 });
    conn.drop();
    const again = await fake.accept(1);
    const restoredAgain = next(c, 'restored');
    const resub = await again.ok('sub', { ep: 'e1', off: 5 });
    assert.deepEqual(resub, { t: 'sub', ref: resub.ref, topic: 'news', ep: 'e1', off: 5 });
    await again.ok('join');
    await again.err('pull', 'forbidden');
    assert.deepEqual(await restoredAgain, { subscriptions: 1, buses: 1, pullers: 1, refused: 1 });
    assert.equal(puller.isActive, false);
    c.close();
  });

  it('shares one interest between handles of one topic and tears it down with the last', async () => {
    const fake = new FakeBroker();
    const c = client(fake);
    const conn = await fake.accept(0);
    await c.ready();
    const one = c.topic('t').subscribe();
    const two = c.topic('t').subscribe();
    await conn.ok('sub');
    await Promise.all([one.ready, two.ready]);
    assert.equal(conn.sent.filter((f) => f.t === 'sub').length, 1);
    await one.unsubscribe();
    assert.equal(conn.sent.filter((f) => f.t === 'unsub').length, 0);
    const gone = two.unsubscribe();
    await conn.ok('unsub');
    await gone;
    c.close();
  });

  it('a refused subscription ends with the refusal on ready and on its error event', async () => {
    const fake = new FakeBroker();
    const c = client(fake);
    const errors: Error[] = [];
    c.on('error', ({ error }) => errors.push(error));
    const conn = await fake.accept(0);
    const sub = c.topic('secret').subscribe();
    await conn.err('sub', 'forbidden');
    assert.equal((await rejection(sub.ready)).code, 'forbidden');
    assert.equal(sub.isActive, false);
    assert.equal(errors.length, 1);
    c.close();
  });
});

describe('client truthfulness (fake transport)', () => {
  it('connecting > unauthorized when the handshake is refused and auth has no new token; reconnect() leaves it', async () => {
    const fake = new FakeBroker();
    let asked = 0;
    const c = client(fake, {
      auth: () => {
        asked++;
        return 'same';
      },
    });
    c.on('error', () => undefined);
    const seen = states(c);
    const publish = c.topic('a').publish(1);
    (await fake.attempt(0)).refuse(new RtError('unauthorized', 'bad token'));
    assert.equal((await rejection(publish)).code, 'unauthorized');
    assert.equal(c.state, 'unauthorized');
    assert.equal(asked, 2);
    assert.equal(fake.connections.length, 1, 'no retry');
    c.reconnect();
    await fake.accept(1);
    await c.ready();
    assert.deepEqual(seen, ['connecting>unauthorized', 'unauthorized>connecting', 'connecting>open']);
    c.close();
  });

  it('open > degraded when answers are slow, > open again once they are prompt', async () => {
    const fake = new FakeBroker();
    const c = client(fake, { openTimeoutMs: 200, requestTimeoutMs: 5000 });
    const conn = await fake.accept(0);
    await c.ready();
    fake.autoHello = false;
    const call = c.call('slow');
    const degraded = next(c, 'state');
    const callFrame = await conn.next((f) => f.t === 'call');
    const probe = await conn.next((f) => f.t === 'hello', 'a probe');
    assert.equal((await degraded).to, 'degraded');
    assert.equal(c.transport, 'websocket', 'still connected');
    conn.deliver({ t: 'ok', ref: probe.ref });
    conn.deliver({ t: 'ok', ref: callFrame.ref });
    await call;
    const back = next(c, 'state');
    fake.autoHello = true;
    conn.answerHellos();
    assert.deepEqual(await back, { from: 'degraded', to: 'open', reason: 'answers come promptly again' });
    c.close();
  });

  it('a probe with no answer drops the connection: open > reconnecting', async () => {
    const fake = new FakeBroker();
    const c = client(fake, { openTimeoutMs: 1000, requestTimeoutMs: 30 });
    const conn = await fake.accept(0);
    await c.ready();
    fake.autoHello = false;
    const errors = rejection(c.call('never'));
    const dropped = next(c, 'state');
    assert.equal((await errors).code, 'timeout');
    const { to, reason } = await dropped;
    assert.equal(to, 'reconnecting');
    assert.match(reason ?? '', /no answer/);
    assert.equal(conn.closed, true);
    c.close();
  });

  it('a puller answered unavailable is retried with backoff (restored waits for it); forbidden is final', async () => {
    const fake = new FakeBroker();
    const c = client(fake);
    const retries: (number | undefined)[] = [];
    c.on('error', (e) => retries.push(e.retryInMs));
    const puller = c.topic('jobs').pull(() => undefined);
    const conn = await fake.accept(0);
    const restored = next(c, 'restored');
    await conn.err('pull', 'unavailable');
    await conn.err('pull', 'unavailable');
    await conn.ok('pull');
    await puller.ready;
    assert.deepEqual(await restored, { subscriptions: 0, buses: 0, pullers: 1, refused: 0 });
    assert.equal(retries.length, 2);
    assert.ok(retries.every((ms) => typeof ms === 'number' && ms > 0));
    const sub = c.topic('secret').subscribe();
    await conn.err('sub', 'forbidden');
    assert.equal((await rejection(sub.ready)).code, 'forbidden');
    c.close();
  });

  it("the broker's advertised limits: payload_too_large and too_many_subscriptions without a round trip", async () => {
    const fake = new FakeBroker();
    fake.limits = { maxPayloadBytes: 10, maxSubscriptions: 1 };
    const c = client(fake);
    const conn = await fake.accept(0);
    await c.ready();
    assert.equal((await rejection(c.topic('a').publish('x'.repeat(20)))).code, 'payload_too_large');
    c.topic('a').subscribe();
    await conn.ok('sub');
    const second = c.topic('b').subscribe();
    assert.equal((await rejection(second.ready)).code, 'too_many_subscriptions');
    assert.equal(conn.sent.filter((f) => f.t === 'pub' || f.t === 'sub').length, 1);
    c.close();
  });

  it('suspends in the background after backgroundGraceMs and comes back at once on foreground', async () => {
    const fake = new FakeBroker();
    let listener: ((e: 'foreground' | 'background' | 'online' | 'offline') => void) | undefined;
    const c = client(fake, {
      backgroundGraceMs: 10,
      reconnect: { initialDelayMs: 60_000 },
      lifecycle: {
        subscribe(l) {
          listener = l;
          return () => undefined;
        },
      },
    });
    const seen = states(c);
    await fake.accept(0);
    await c.ready();
    listener?.('background');
    await deadline(new Promise<void>((r) => c.once('state', () => r())), 5000, 'suspended');
    assert.equal(c.state, 'suspended');
    listener?.('foreground');
    await fake.accept(1);
    await c.ready();
    assert.deepEqual(seen, ['connecting>open', 'open>suspended', 'suspended>reconnecting', 'reconnecting>open']);
    c.close();
  });
});
