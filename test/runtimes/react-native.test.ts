/**
 * React Native: the client's browser build, evaluated in a context holding only what React
 * Native gives an app (a global `WebSocket`, `fetch`, timers, `navigator.product`; no
 * `window`, `document`, `EventSource` or `location`), runs every pattern against a broker,
 * and survives a broker restart.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import vm from 'node:vm';
import { WebSocket } from 'ws';
import { createBroker } from '@rt/server';
import { Collector, quiet, startBroker } from '../helpers/index.ts';
import { CLIENT_DIST } from '../../scripts/bundle-size.ts';

type ClientModule = typeof import('@rt/client');

/**
 * React Native's `WebSocket`, played by the `ws` package: binary messages arrive as
 * `ArrayBuffer`s of the app's realm, as React Native's own WebSocket delivers them (`ws`
 * would deliver this process's, which `instanceof` checks in the app's realm do not know).
 */
function realmWebSocket(context: vm.Context): unknown {
  const RealmArrayBuffer = vm.runInContext('ArrayBuffer', context) as ArrayBufferConstructor;
  const RealmUint8Array = vm.runInContext('Uint8Array', context) as Uint8ArrayConstructor;
  const toRealm = (data: unknown): unknown => {
    if (!(data instanceof ArrayBuffer)) return data;
    const copy = new RealmArrayBuffer(data.byteLength);
    new RealmUint8Array(copy).set(new Uint8Array(data));
    return copy;
  };
  const inherited = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'onmessage')!;
  return class ReactNativeWebSocket extends WebSocket {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args);
      Object.defineProperty(this, 'onmessage', {
        get: () => inherited.get!.call(this) as unknown,
        set: (handler: ((event: { data: unknown }) => void) | null) => {
          inherited.set!.call(this, handler && ((event: { data: unknown }) => handler({ data: toRealm(event.data) })));
        },
      });
    }
  };
}

/** A fresh context with React Native's globals only, and the `rt` global of the IIFE bundle in it. */
function reactNative(): { rt: ClientModule; context: vm.Context } {
  const context = vm.createContext({
    fetch,
    setTimeout,
    clearTimeout,
    setInterval,
    clearInterval,
    queueMicrotask,
    console,
    navigator: { product: 'ReactNative' },
  });
  (context as { WebSocket: unknown }).WebSocket = realmWebSocket(context);
  vm.runInContext(readFileSync(join(CLIENT_DIST, 'rt-client.min.js'), 'utf8'), context, {
    filename: 'rt-client.min.js',
  });
  return { rt: (context as { rt: ClientModule }).rt, context };
}

/** Values made in the other realm, as plain values of this one (deepEqual compares prototypes). */
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value)) as unknown;
const isBytes = (value: unknown): value is Uint8Array =>
  Object.prototype.toString.call(value) === '[object Uint8Array]';

describe('React Native runtime', () => {
  it('has none of the browser globals the client must not need', () => {
    const { context, rt } = reactNative();
    for (const name of ['window', 'document', 'EventSource', 'location', 'XMLHttpRequest', 'self']) {
      assert.equal(vm.runInContext(`typeof ${name}`, context), 'undefined', name);
    }
    assert.equal(typeof rt.connect, 'function');
  });

  it('every pattern works over the default transports, which pick WebSocket', async () => {
    await using b = await startBroker();
    const { rt, context } = reactNative();
    const one = rt.connect(b.url);
    const two = rt.connect(b.url);
    try {
      await Promise.all([one.ready(), two.ready()]);
      assert.deepEqual([one.transport, two.transport], ['websocket', 'websocket']);

      // pub/sub, with hierarchy
      const parent = new Collector<unknown>();
      const child = new Collector<unknown>();
      await Promise.all([
        one.topic('home').subscribe((data, meta) => parent.push([meta.topic, plain(data)])).ready,
        one.topic('home/kitchen').subscribe((data, meta) => child.push([meta.topic, plain(data)])).ready,
      ]);
      await two.topic('home/kitchen/temp').publish({ c: 21 });
      await two.topic('home/garden').publish({ c: 12 });
      await two.topic('homer').publish('not a child');
      await b.broker.publish('home/kitchen', 'from the server');
      await parent.until(3);
      await child.until(2);
      await quiet();
      assert.deepEqual(parent.items, [
        ['home/kitchen/temp', { c: 21 }],
        ['home/garden', { c: 12 }],
        ['home/kitchen', 'from the server'],
      ]);
      assert.deepEqual(child.items, [
        ['home/kitchen/temp', { c: 21 }],
        ['home/kitchen', 'from the server'],
      ]);

      // bus: the other peer only
      const heardByOne = new Collector<unknown>();
      const heardByTwo = new Collector<unknown>();
      const busOne = one.topic('room').bus();
      const busTwo = two.topic('room').bus();
      busOne.on('message', ({ data }) => heardByOne.push(plain(data)));
      busTwo.on('message', ({ data }) => heardByTwo.push(plain(data)));
      await Promise.all([busOne.ready, busTwo.ready]);
      await busOne.send({ text: 'hi' });
      await heardByTwo.until(1, 5000, 'the bus message');
      await quiet();
      assert.deepEqual([heardByOne.items, heardByTwo.items], [[], [{ text: 'hi' }]]);

      // push/pull: turns, and binary payloads
      const jobs = new Collector<[string, unknown]>();
      await Promise.all([
        one.topic<number>('jobs').pull((n) => jobs.push(['one', n])).ready,
        two.topic<number>('jobs').pull((n) => jobs.push(['two', n])).ready,
      ]);
      for (let i = 0; i < 2; i++) await one.topic<number>('jobs').push(i);
      await jobs.until(2);
      await quiet();
      assert.deepEqual(jobs.items.map(([, n]) => n).sort(), [0, 1]);
      assert.deepEqual(jobs.items.map(([who]) => who).sort(), ['one', 'two']);
      const bytes = new Collector<unknown>();
      await two.topic('bin').pull(bytes.push).ready;
      // Made in the app's realm, as an app's bytes are.
      await one.topic('bin').push(vm.runInContext('new Uint8Array([0, 1, 254, 255])', context) as Uint8Array);
      const [got] = await bytes.until(1, 5000, 'the binary job');
      assert.ok(isBytes(got), 'binary arrives as a Uint8Array');
      assert.deepEqual([...got], [0, 1, 254, 255]);
    } finally {
      one.close();
      two.close();
    }
  });

  it('reconnects after a broker restart and re-establishes subscriptions, bus joins and pullers', async () => {
    const first = await startBroker();
    const { rt } = reactNative();
    const client = rt.connect(first.url, { reconnect: { initialDelayMs: 50, maxDelayMs: 300 } });
    try {
      const states: string[] = [];
      client.on('state', ({ to }) => states.push(to));
      const msgs = new Collector<unknown>();
      const bus = new Collector<unknown>();
      const jobs = new Collector<unknown>();
      const joined = client.topic('room').bus();
      joined.on('message', ({ data }) => bus.push(data));
      await Promise.all([
        client.topic('news').subscribe(msgs.push).ready,
        joined.ready,
        client.topic('work').pull(jobs.push).ready,
      ]);
      await first.broker.close();
      await using second = await restartOn(first.port);
      await new Promise<void>((resolve) => client.on('state', ({ to }) => to === 'open' && resolve()));
      // A round trip: what the client re-sent first thing on open is in place once it is answered.
      await client.call('__barrier__').catch(() => undefined);
      // The broker has the client's subscription, join and puller again: each pattern reaches it.
      const peer = rt.connect(second.url);
      try {
        await peer.ready();
        await peer.topic('work').push('job after restart');
        await jobs.until(1);
        await peer.topic('room').bus().ready;
        await peer.topic('room').bus().send('bus after restart');
        await bus.until(1);
        await second.broker.publish('news/today', 'news after restart');
        await msgs.until(1);
        assert.deepEqual(
          [msgs.items, bus.items, jobs.items],
          [['news after restart'], ['bus after restart'], ['job after restart']],
        );
        assert.deepEqual(states, ['open', 'reconnecting', 'open']);
      } finally {
        peer.close();
      }
    } finally {
      client.close();
    }
  });
});

/** A broker on `port` again (the previous one on it closed). */
async function restartOn(
  port: number,
): Promise<{ broker: ReturnType<typeof createBroker>; url: string } & AsyncDisposable> {
  const broker = createBroker({ mode: 'production', logger: { level: 'silent' } });
  const { url } = await broker.listen(`http://127.0.0.1:${port}`);
  return { broker, url: url.replace('localhost', '127.0.0.1'), [Symbol.asyncDispose]: () => broker.close() };
}
