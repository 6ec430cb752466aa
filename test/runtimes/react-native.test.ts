/**
 * React Native, as far as it goes without a device: an app importing `@rt/client` is bundled
 * by the real Metro with React Native's config from the packed tarballs, the bundle holds no
 * Node built-ins, the Hermes compiler accepts it, and it runs in a context holding exactly
 * React Native's globals (global = window = self, WebSocket, XMLHttpRequest, fetch, timers,
 * `navigator.product`; no EventSource, no document) against a real broker: every pattern,
 * reconnect and resubscribe over WebSocket and over long-polling on XMLHttpRequest, and the
 * app's lifecycle from (fake) `AppState` and `NetInfo` events.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { builtinModules, createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import vm from 'node:vm';
import { WebSocket } from 'ws';
import { createBroker } from '@rt/server';
import type { AppStateLike, NetInfoLike, NetInfoStateLike, TransportName } from '@rt/client';
import { Collector, deadline, quiet, startBroker } from '../helpers/index.ts';
import { brokerSide } from '../react/broker-side.ts';
import { type MetroApp, buildMetroApp, hermesc } from './metro-app.ts';

const run = promisify(execFile);
type ClientModule = typeof import('@rt/client');
/** What React's test renderer gives back (react-test-renderer, in the app's bundle). */
interface Rendered {
  toJSON(): { children: { children: string[] | null }[] | null } | null;
  unmount(): void;
}
interface App {
  connect: ClientModule['connect'];
  reactNativeLifecycle: ClientModule['reactNativeLifecycle'];
  /** Renders the app's screen (`@rt/react` hooks) with `client`. */
  render(client: ReturnType<ClientModule['connect']>): Rendered;
}

/** React Native's XMLHttpRequest, played by the `xhr2` package (an XMLHttpRequest over Node's http). */
const require = createRequire(import.meta.url);
const XMLHttpRequest = (require('xhr2') as { XMLHttpRequest: unknown }).XMLHttpRequest;

/**
 * React Native's `FileReader` (native in React Native; engine.io's long-polling reads binary
 * payloads through it as base64), the part of it engine.io uses.
 */
class FileReader {
  result: string | null = null;
  onload: (() => void) | null = null;
  readAsDataURL(blob: Blob): void {
    void blob.arrayBuffer().then((buffer) => {
      this.result = `data:${blob.type || 'application/octet-stream'};base64,${Buffer.from(buffer).toString('base64')}`;
      this.onload?.();
    });
  }
}

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

/**
 * A context with React Native's globals (what `InitializeCore` sets up: `global`, `window` and
 * `self` are the global object; XMLHttpRequest, fetch and its classes, WebSocket, Blob,
 * FileReader, URL, AbortController, timers, `navigator.product`; Hermes's TextEncoder) and
 * nothing of a browser's (no document, location or EventSource); the Metro bundle run in it.
 * Metro's prelude adds `process.env`.
 */
function reactNative(code: string): { app: App; context: vm.Context } {
  const context = vm.createContext({
    fetch,
    Headers,
    Request,
    Response,
    FormData,
    Blob,
    FileReader,
    URL,
    URLSearchParams,
    AbortController,
    AbortSignal,
    TextEncoder,
    setTimeout,
    clearTimeout,
    setInterval,
    clearInterval,
    queueMicrotask,
    console,
    navigator: { product: 'ReactNative' },
    XMLHttpRequest,
  });
  vm.runInContext('globalThis.global = globalThis.window = globalThis.self = globalThis;', context);
  (context as { WebSocket: unknown }).WebSocket = realmWebSocket(context);
  vm.runInContext(code, context, { filename: 'index.android.js' });
  return { app: (context as { rtApp: App }).rtApp, context };
}

/** Values made in the other realm, as plain values of this one (deepEqual compares prototypes). */
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value)) as unknown;
const isBytes = (value: unknown): value is Uint8Array =>
  Object.prototype.toString.call(value) === '[object Uint8Array]';

/** Packages that are Node-only, or that a React Native bundle must not carry. */
const NODE_ONLY = ['ws', 'xmlhttprequest-ssl', 'eventsource', 'debug', 'supports-color'];

describe('React Native: a Metro bundle from the packed tarballs', { timeout: 180_000 }, () => {
  let metro: MetroApp;

  before(async () => {
    metro = await buildMetroApp('android');
  });

  after(async () => {
    await metro?.[Symbol.asyncDispose]();
  });

  it('resolves the browser variants: no Node built-in, no Node-only package in the bundle', () => {
    const packages = metro.modules
      .map((m) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(m)?.[1])
      .filter((p): p is string => p !== undefined);
    assert.ok(packages.includes('@rt/client') && packages.includes('engine.io-client'), 'the client is in it');
    assert.ok(packages.includes('@rt/react') && packages.includes('react'), 'the React hooks are in it');
    assert.deepEqual(
      packages.filter((p) => NODE_ONLY.includes(p)),
      [],
      'no Node-only package',
    );
    assert.deepEqual(
      metro.modules.filter((m) => /\.node\.js$/.test(m)),
      [],
      "engine.io's Node variants are mapped to the browser ones",
    );
    // Any `require` of a built-in left in the code (Metro would have failed to resolve one it saw).
    const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    const required = [...metro.code.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]!);
    assert.deepEqual(
      required.filter((r) => builtins.has(r)),
      [],
    );
    // `eventsource` (the client's SSE in Node) is mapped to nothing, as the package's `browser` field says.
    assert.ok(metro.modules.some((m) => m.endsWith('metro-runtime/src/modules/empty-module.js')));
  });

  it('compiles with the Hermes compiler (hermesc -O, as a release build does)', async () => {
    const out = join(metro.dir, 'index.android.hbc');
    await run(hermesc(), ['-emit-binary', '-O', '-out', out, metro.bundleFile], { timeout: 60_000 });
    // The check can fail: hermesc refuses what Hermes cannot parse.
    const broken = join(metro.dir, 'broken.js');
    await writeFile(broken, 'const x = ;');
    await assert.rejects(run(hermesc(), ['-emit-binary', '-out', join(metro.dir, 'broken.hbc'), broken]));
  });

  it('runs with exactly React Native’s globals', () => {
    const { app, context } = reactNative(metro.code);
    const type = (name: string): string => vm.runInContext(`typeof ${name}`, context) as string;
    assert.deepEqual(
      ['document', 'EventSource', 'location', 'Buffer', 'require', 'module'].map(type),
      Array(6).fill('undefined'),
    );
    assert.equal(
      vm.runInContext('window === globalThis && self === globalThis && global === globalThis', context),
      true,
    );
    assert.deepEqual([type('WebSocket'), type('XMLHttpRequest'), type('fetch')], ['function', 'function', 'function']);
    assert.equal(typeof app.connect, 'function');
    assert.equal(typeof app.render, 'function');
  });

  for (const transport of ['websocket', 'polling'] as const satisfies readonly TransportName[]) {
    it(`every pattern works over ${transport}`, async () => {
      await using b = await startBroker();
      const { app, context } = reactNative(metro.code);
      // The default transports pick WebSocket (no EventSource for SSE); polling is asked for.
      const options = transport === 'websocket' ? {} : { transports: [transport] };
      const one = app.connect(b.url, options);
      const two = app.connect(b.url, options);
      try {
        await deadline(Promise.all([one.ready(), two.ready()]), 10_000, 'both clients open');
        assert.deepEqual([one.transport, two.transport], [transport, transport]);

        // pub/sub, with hierarchy
        const parent = new Collector<unknown>();
        const child = new Collector<unknown>();
        await Promise.all([
          one.topic('home').subscribe((data, meta) => parent.push([meta.topic, plain(data)])).ready,
          one.topic('home/kitchen').subscribe((data, meta) => child.push([meta.topic, plain(data)])).ready,
        ]);
        // Objects made in the app's realm, as an app's are.
        const made = (js: string): { c: number } => vm.runInContext(`(${js})`, context) as { c: number };
        await two.topic('home/kitchen/temp').publish(made('{ c: 21 }'));
        await two.topic('home/garden').publish(made('{ c: 12 }'));
        await two.topic('homer').publish('not a child');
        await b.broker.publish('home/kitchen', 'from the server');
        await parent.until(3, 10_000);
        await child.until(2, 10_000);
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
        await busOne.send(vm.runInContext("({ text: 'hi' })", context) as { text: string });
        await heardByTwo.until(1, 10_000, 'the bus message');
        await quiet();
        assert.deepEqual([heardByOne.items, heardByTwo.items], [[], [{ text: 'hi' }]]);

        // push/pull: turns, and binary payloads made in the app's realm
        const jobs = new Collector<[string, unknown]>();
        await Promise.all([
          one.topic<number>('jobs').pull((n) => jobs.push(['one', n])).ready,
          two.topic<number>('jobs').pull((n) => jobs.push(['two', n])).ready,
        ]);
        for (let i = 0; i < 2; i++) await one.topic<number>('jobs').push(i);
        await jobs.until(2, 10_000);
        assert.deepEqual(jobs.items.map(([, n]) => n).sort(), [0, 1]);
        assert.deepEqual(jobs.items.map(([who]) => who).sort(), ['one', 'two']);
        const bytes = new Collector<unknown>();
        await two.topic('bin').pull(bytes.push).ready;
        await one.topic('bin').push(vm.runInContext('new Uint8Array([0, 1, 254, 255])', context) as Uint8Array);
        const [got] = await bytes.until(1, 10_000, 'the binary job');
        assert.ok(isBytes(got), 'binary arrives as a Uint8Array');
        assert.deepEqual([...got], [0, 1, 254, 255]);
      } finally {
        one.close();
        two.close();
      }
    });

    it(`reconnects over ${transport} after a broker restart, with its subscriptions, bus joins and pullers`, async () => {
      const first = await startBroker();
      const { app } = reactNative(metro.code);
      const client = app.connect(first.url, {
        transports: [transport],
        reconnect: { initialDelayMs: 50, maxDelayMs: 300 },
      });
      try {
        const states: string[] = [];
        client.on('state', ({ to }) => states.push(to));
        const msgs = new Collector<unknown>();
        const bus = new Collector<unknown>();
        const jobs = new Collector<unknown>();
        const joined = client.topic('room').bus();
        joined.on('message', ({ data }) => bus.push(data));
        await deadline(
          Promise.all([
            client.topic('news').subscribe(msgs.push).ready,
            joined.ready,
            client.topic('work').pull(jobs.push).ready,
          ]),
          10_000,
          'subscribed, joined and pulling',
        );
        await first.broker.close();
        const restored = new Promise<unknown>((resolve) => client.once('restored', resolve));
        await using second = await restartOn(first.port);
        // Everything the app wanted is confirmed by the new broker.
        assert.deepEqual(plain(await deadline(restored, 15_000, 'restored')), {
          subscriptions: 1,
          buses: 1,
          pullers: 1,
          refused: 0,
        });
        const peer = app.connect(second.url);
        try {
          await peer.ready();
          await peer.topic('work').push('job after restart');
          await jobs.until(1, 10_000);
          await peer.topic('room').bus().ready;
          await peer.topic('room').bus().send('bus after restart');
          await bus.until(1, 10_000);
          await second.broker.publish('news/today', 'news after restart');
          await msgs.until(1, 10_000);
          assert.deepEqual(
            [msgs.items, bus.items, jobs.items],
            [['news after restart'], ['bus after restart'], ['job after restart']],
          );
          assert.deepEqual(states, ['open', 'reconnecting', 'open']);
          assert.equal(client.transport, transport);
        } finally {
          peer.close();
        }
      } finally {
        client.close();
      }
    });
  }

  it('@rt/react renders in the bundle: state, latest value and messages; unmounting lets go of the subscriptions', async () => {
    await using b = await startBroker();
    const listening = brokerSide(b.broker);
    const { app } = reactNative(metro.code);
    const client = app.connect(b.url);
    try {
      const screen = app.render(client);
      // As this realm's strings (the renderer's arrays are the app's).
      const texts = (): string[] => Array.from(screen.toJSON()?.children ?? [], (t) => t.children?.join('') ?? '');
      await until(() => texts()[0] === 'open' && listening() === 2, 'open and subscribed');
      assert.deepEqual(texts(), ['open', 'none', '']);
      await b.broker.publish('home/temp', { celsius: 21 });
      for (const line of ['a', 'b', 'c']) await b.broker.publish('log', line);
      await until(() => texts()[2] === 'b,c', 'the latest 2 log lines');
      assert.deepEqual(texts(), ['open', '21 °C', 'b,c']);
      screen.unmount();
      await until(() => listening() === 0, 'no subscription left on the broker');
      assert.equal(listening.made, 2, 'one subscription per topic, ever');
    } finally {
      client.close();
    }
  });

  it('with the adapter, background suspends after the grace period; foreground and online reconnect at once, with recovery', async () => {
    await using b = await startBroker();
    const { app } = reactNative(metro.code);
    const appState = fakeAppState('active');
    const netInfo = fakeNetInfo({ isConnected: true, isInternetReachable: true });
    const client = app.connect(b.url, {
      lifecycle: app.reactNativeLifecycle({ AppState: appState, NetInfo: netInfo }),
      backgroundGraceMs: 300,
      // Slow on purpose: only the lifecycle can bring the connection back quickly.
      reconnect: { initialDelayMs: 30_000, maxDelayMs: 30_000 },
    });
    try {
      const states = new Collector<string>();
      client.on('state', ({ to }) => states.push(to));
      const news = new Collector<unknown>();
      await deadline(client.topic('news').subscribe(news.push).ready, 10_000, 'subscribed');
      await b.broker.publish('news', 'before');
      await news.until(1);

      const backgrounded = Date.now();
      appState.set('inactive');
      appState.set('background');
      await deadline(waitFor(client, 'suspended'), 10_000, 'suspended in the background');
      assert.ok(Date.now() - backgrounded >= 300, 'not before the grace period');
      await b.broker.publish('news', 'while in the background');
      appState.set('active');
      await deadline(waitFor(client, 'open'), 10_000, 'open again at once');
      assert.deepEqual(plain(await news.until(2)), ['before', 'while in the background']);

      netInfo.set({ isConnected: false, isInternetReachable: false });
      await deadline(waitFor(client, 'suspended'), 10_000, 'suspended offline');
      await b.broker.publish('news', 'while offline');
      netInfo.set({ isConnected: true, isInternetReachable: true });
      await deadline(waitFor(client, 'open'), 10_000, 'open again once online');
      assert.deepEqual(plain(await news.until(3)), ['before', 'while in the background', 'while offline']);
    } finally {
      client.close();
    }
  });

  it('the AppState/NetInfo adapter reports foreground, background, online and offline once per change', () => {
    const { app } = reactNative(metro.code);
    const appState = fakeAppState('active');
    const netInfo = fakeNetInfo({ isConnected: true, isInternetReachable: true });
    const events: string[] = [];
    const stop = app.reactNativeLifecycle({ AppState: appState, NetInfo: netInfo }).subscribe((e) => events.push(e));
    assert.deepEqual(events, [], 'starting in the foreground and online is no news');
    appState.set('inactive'); // iOS: the app switcher is up
    appState.set('background');
    appState.set('background');
    appState.set('active');
    netInfo.set({ isConnected: true, isInternetReachable: null }); // reachability unknown: still online
    netInfo.set({ isConnected: true, isInternetReachable: false });
    netInfo.set({ isConnected: false, isInternetReachable: false });
    netInfo.set({ isConnected: true, isInternetReachable: true });
    assert.deepEqual(events, ['background', 'foreground', 'offline', 'online']);
    stop();
    appState.set('background');
    netInfo.set({ isConnected: false, isInternetReachable: false });
    assert.equal(events.length, 4, 'nothing after stop');
    assert.deepEqual([appState.listeners.size, netInfo.listeners.size], [0, 0]);

    // Started in the background (a headless task): said at once.
    const headless: string[] = [];
    app.reactNativeLifecycle({ AppState: fakeAppState('background') }).subscribe((e) => headless.push(e));
    assert.deepEqual(headless, ['background']);
  });
});

/** Waits until `check()` holds, looking every 10 ms, failing after `ms`. */
async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  await deadline(
    (async () => {
      while (!check()) await new Promise((r) => setTimeout(r, 10));
    })(),
    ms,
    what,
  );
}

/** Resolves when `client` is in `state` (at once if it is). */
function waitFor(client: ReturnType<App['connect']>, state: string): Promise<void> {
  return new Promise((resolve) => {
    if (client.state === state) return resolve();
    const off = client.on('state', ({ to }) => {
      if (to !== state) return;
      off();
      resolve();
    });
  });
}

/** `AppState` as React Native has it, driven by the test. */
function fakeAppState(
  initial: string,
): AppStateLike & { set(state: string): void; listeners: Set<(s: string) => void> } {
  const listeners = new Set<(s: string) => void>();
  const state = {
    currentState: initial,
    listeners,
    addEventListener(_type: 'change', listener: (s: string) => void) {
      listeners.add(listener);
      return { remove: () => listeners.delete(listener) };
    },
    set(next: string) {
      state.currentState = next;
      for (const l of [...listeners]) l(next);
    },
  };
  return state;
}

/** `NetInfo` as `@react-native-community/netinfo` has it: the current state at once, then changes. */
function fakeNetInfo(
  initial: NetInfoStateLike,
): NetInfoLike & { set(state: NetInfoStateLike): void; listeners: Set<(s: NetInfoStateLike) => void> } {
  const listeners = new Set<(s: NetInfoStateLike) => void>();
  let current = initial;
  return {
    listeners,
    addEventListener(listener) {
      listeners.add(listener);
      listener(current);
      return () => listeners.delete(listener);
    },
    set(next) {
      current = next;
      for (const l of [...listeners]) l(next);
    },
  };
}

/** A broker on `port` again (the previous one on it closed). */
async function restartOn(
  port: number,
): Promise<{ broker: ReturnType<typeof createBroker>; url: string } & AsyncDisposable> {
  const broker = createBroker({ mode: 'production', logger: { level: 'silent' } });
  const { url } = await broker.listen(`http://127.0.0.1:${port}`);
  return { broker, url: url.replace('localhost', '127.0.0.1'), [Symbol.asyncDispose]: () => broker.close() };
}
