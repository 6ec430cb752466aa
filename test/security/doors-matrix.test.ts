/**
 * Doors × guarantees (issue 12): every entry point into the broker goes through one
 * operations core, so every guarantee holds at every door. One row per door (an adapter that
 * speaks its wire), one block per guarantee; a door without the capability a guarantee needs
 * (raw WebSocket subscriptions have no replay, HTTP publish has no subscription) says so with
 * a skip naming why. Adding a door is one adapter; adding a guarantee is one block.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import type { Broker } from '@rt/server';
import { Collector, deadline, quiet, startBroker, type TestBroker } from '../helpers/index.ts';
import { KEY, token as mercureToken } from '../helpers/mercure.ts';
import { heapUsed } from '../helpers/reliability.ts';
import { SECRET, token as rtToken } from '../helpers/security.ts';
import { frameStream, readSse, StreamRefused, type SseReader } from '../helpers/sse.ts';

/** Who calls: a subject and its grants (rt topics); each door turns it into its own credential. */
interface Who {
  sub: string;
  subscribe?: string[];
  publish?: string[];
  /** Seconds the credential lives. */
  exp?: number;
}

/** A subscription as a test sees it: the payloads (as text), and when the door closed. */
interface Sub {
  got: Collector<string>;
  closed: Promise<void>;
  close(): void;
}

/** A door: how to subscribe (optionally replaying from `<ep>-<off>`) and publish through it. */
interface Door {
  name: string;
  subscribe?(b: TestBroker, who: Who, topic: string, from?: string): Promise<Sub>;
  /** Whether `subscribe` can replay from a position. */
  replay?: boolean;
  publish?(b: TestBroker, who: Who, topic: string, data: string, key?: string): Promise<void>;
  /** Whether `publish` takes an idempotency key. */
  keys?: boolean;
  /** Opens a subscription replaying from `from` and never reads from it (for memory bounds). */
  stalled?(b: TestBroker, topic: string, from: string): Promise<() => void>;
}

/** A refusal, with the door's code (an rt error code, an HTTP status or a WebSocket close code). */
class Refused extends Error {
  constructor(readonly code: string | number) {
    super(`refused: ${code}`);
  }
}

const rtCredential = (who: Who): Promise<string> =>
  rtToken({ sub: who.sub, rt: { subscribe: who.subscribe ?? [], publish: who.publish ?? [] } }, { exp: who.exp ?? 60 });

const bearer = async (who: Who): Promise<Record<string, string>> => ({
  authorization: `Bearer ${await rtCredential(who)}`,
});

// ---- SDK frames: socket.io (websocket, polling) and SSE ----

type Frame = Record<string, unknown>;

interface FrameConn {
  frames: Collector<Frame>;
  request(frame: Frame): Promise<Frame>;
  closed: Promise<void>;
  close(): void;
}

let nextRef = 1;

function frameConn(frames: Collector<Frame>, send: (f: Frame) => void, closed: Promise<void>, close: () => void) {
  const conn: FrameConn = {
    frames,
    closed,
    close,
    request(frame) {
      const ref = nextRef++;
      send({ ...frame, ref });
      return deadline(
        (async () => {
          for (let seen = 0; ; ) {
            await frames.until(seen + 1, 10_000, `an answer to ref ${ref}`);
            for (; seen < frames.items.length; seen++) {
              const f = frames.items[seen]!;
              if (f.ref !== ref) continue;
              if (f.t === 'err') throw new Refused(f.code as string);
              return f;
            }
          }
        })(),
        10_000,
        `an answer to ref ${ref}`,
      );
    },
  };
  return conn;
}

async function socketIo(b: TestBroker, transport: 'websocket' | 'polling', who: Who): Promise<FrameConn> {
  const socket: Socket = io(b.url, {
    path: '/rt/socket.io',
    transports: [transport],
    auth: { token: await rtCredential(who) },
    reconnection: false,
    forceNew: true,
  });
  await deadline(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', (e: Error & { data?: { code?: string } }) =>
        reject(new Refused(e.data?.code ?? e.message)),
      );
    }),
    10_000,
    'a socket.io connection',
  );
  const frames = new Collector<Frame>();
  socket.on('f', (...got: Frame[]) => {
    for (const f of got) frames.push(f);
  });
  const closed = new Promise<void>((resolve) => socket.once('disconnect', () => resolve()));
  return frameConn(
    frames,
    (f) => socket.emit('f', f),
    closed,
    () => socket.close(),
  );
}

async function sseFrames(b: TestBroker, who: Who): Promise<FrameConn> {
  const stream = await frameStream(b.url, '', await bearer(who)).catch((e: unknown) => {
    throw e instanceof StreamRefused ? new Refused(e.status) : e;
  });
  return frameConn(
    stream.frames,
    (f) => void stream.send(f),
    stream.reader.ended,
    () => stream.reader.close(),
  );
}

/** A door speaking SDK frames. */
function frameDoor(name: string, open: (b: TestBroker, who: Who) => Promise<FrameConn>): Door {
  return {
    name,
    replay: true,
    keys: true,
    async subscribe(b, who, topic, from) {
      const conn = await open(b, who);
      const position = from === undefined ? {} : { ep: from.slice(0, from.lastIndexOf('-')), off: 0 };
      const got = new Collector<string>();
      const before = conn.frames.items.length;
      try {
        await conn.request({ t: 'sub', topic, ...position });
      } catch (e) {
        conn.close();
        throw e;
      }
      const collect = (f: Frame): void => {
        if (f.t === 'msg') got.push(String(f.data));
      };
      for (const f of conn.frames.items.slice(before)) collect(f);
      const push = conn.frames.push;
      (conn.frames as { push: (f: Frame) => void }).push = (f) => {
        push(f);
        collect(f);
      };
      return { got, closed: conn.closed, close: conn.close };
    },
    async publish(b, who, topic, data, key) {
      const conn = await open(b, who);
      try {
        await conn.request({ t: 'pub', topic, data, ...(key === undefined ? {} : { key }) });
      } finally {
        conn.close();
      }
    },
  };
}

// ---- plain doors ----

/** Reads a plain SSE stream's message events. */
function plainSub(reader: SseReader): Sub {
  const got = new Collector<string>();
  let seen = 0;
  const pump = (): void => {
    for (; seen < reader.events.items.length; seen++) {
      const e = reader.events.items[seen]!;
      if (e.comment === undefined && e.event === 'message') got.push(e.data);
    }
  };
  const push = reader.events.push;
  (reader.events as { push: (e: (typeof reader.events.items)[number]) => void }).push = (e) => {
    push(e);
    pump();
  };
  pump();
  return { got, closed: reader.ended, close: () => reader.close() };
}

/** A request that never reads its answer (a client that stopped reading). */
async function stalledFetch(url: string, headers: Record<string, string> = {}): Promise<() => void> {
  const abort = new AbortController();
  const res = await fetch(url, { headers, signal: abort.signal });
  assert.equal(res.status, 200);
  return () => abort.abort();
}

const plainSse: Door = {
  name: 'plain SSE',
  replay: true,
  async subscribe(b, who, topic, from) {
    const query = `topic=${encodeURIComponent(topic)}${from === undefined ? '' : `&lastEventId=${from}`}`;
    const reader = await readSse(`${b.url}/rt/sse?${query}`, await bearer(who));
    if (!reader.response.ok) throw new Refused(reader.response.status);
    await reader.events.until(1, 10_000, 'the ready event');
    return plainSub(reader);
  },
  stalled: (b, topic, from) => stalledFetch(`${b.url}/rt/sse?topic=${encodeURIComponent(topic)}&lastEventId=${from}`),
};

function rawSocket(url: string, headers: Record<string, string>): Promise<WebSocket> {
  const ws = new WebSocket(url, { headers });
  return deadline(
    new Promise((resolve, reject) => {
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (_req, res) => reject(new Refused(res.statusCode ?? 0)));
      ws.once('error', reject);
    }),
    10_000,
    `a WebSocket to ${url}`,
  );
}

const rawWs: Door = {
  name: 'raw WebSocket',
  async subscribe(b, who, topic) {
    const ws = await rawSocket(`${b.url.replace('http', 'ws')}/sub/${encodeURIComponent(topic)}`, await bearer(who));
    const got = new Collector<string>();
    ws.on('message', (data: Buffer) => got.push(data.toString('utf8')));
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    return { got, closed, close: () => ws.close() };
  },
  async publish(b, who, topic, data) {
    const ws = await rawSocket(`${b.url.replace('http', 'ws')}/pub/${encodeURIComponent(topic)}`, await bearer(who));
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send(data);
    // A refused frame closes the socket with a code saying why; give it the chance to.
    const code = await Promise.race([closed, quiet(300).then(() => 0)]);
    ws.close();
    if (code !== 0) throw new Refused(code);
  },
};

async function post(url: string, body: string, headers: Record<string, string>): Promise<void> {
  const res = await fetch(url, { method: 'POST', body, headers });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Refused(res.status);
}

const rawHttp: Door = {
  name: 'raw HTTP POST',
  publish: async (b, who, topic, data) => post(`${b.url}/pub/${encodeURIComponent(topic)}`, data, await bearer(who)),
};

const httpPublish: Door = {
  name: 'HTTP publish',
  keys: true,
  publish: async (b, who, topic, data, key) =>
    post(`${b.url}/rt/publish?topic=${encodeURIComponent(topic)}`, data, {
      ...(await bearer(who)),
      'content-type': 'text/plain',
      ...(key === undefined ? {} : { 'idempotency-key': key }),
    }),
};

const mercureClaims = (who: Who) => ({
  sub: who.sub,
  mercure: { subscribe: who.subscribe ?? [], publish: who.publish ?? [] },
});

const mercure: Door = {
  name: 'Mercure',
  replay: true,
  async subscribe(b, who, topic, from) {
    const jwt = await mercureToken(mercureClaims(who), KEY, Math.floor(Date.now() / 1000) + (who.exp ?? 60));
    const url = new URL(`${b.url}/.well-known/mercure`);
    url.searchParams.append('topic', topic);
    if (from !== undefined) url.searchParams.append('lastEventID', `#${from}`);
    const reader = await readSse(url.toString(), { authorization: `Bearer ${jwt}` });
    if (!reader.response.ok) throw new Refused(reader.response.status);
    return plainSub(reader);
  },
  async publish(b, who, topic, data) {
    const jwt = await mercureToken(mercureClaims(who), KEY);
    await post(`${b.url}/.well-known/mercure`, new URLSearchParams({ topic, data }).toString(), {
      authorization: `Bearer ${jwt}`,
      'content-type': 'application/x-www-form-urlencoded',
    });
  },
  stalled: (b, topic, from) =>
    stalledFetch(
      `${b.url}/.well-known/mercure?topic=${encodeURIComponent(topic)}&lastEventID=${encodeURIComponent(`#${from}`)}`,
    ),
};

/** SDK SSE that stops reading once its subscription is asked for. */
async function stalledSseFrames(b: TestBroker, topic: string, from: string): Promise<() => void> {
  const abort = new AbortController();
  const res = await fetch(`${b.url}/rt/sse?frames=1`, { signal: abort.signal });
  const reader = res.body!.getReader();
  let text = '';
  const session = /event: session\n(?:id: .*\n)?data: (.*)\n/;
  const started = Date.now();
  while (!session.test(text)) {
    if (Date.now() - started > 10_000) throw new Error('no session event within 10 s');
    const { value, done } = await reader.read();
    if (done) throw new Error('the stream ended');
    text += new TextDecoder().decode(value);
  }
  const { url } = JSON.parse(session.exec(text)![1]!) as { url: string };
  const ep = from.slice(0, from.lastIndexOf('-'));
  await post(`${b.url}/rt/${url}`, JSON.stringify({ t: 'sub', ref: 1, topic, ep, off: 0 }), {}).catch((e: unknown) => {
    if (!(e instanceof Refused && e.code === 204)) throw e;
  });
  return () => abort.abort();
}

/** socket.io over a raw WebSocket (engine.io v4 packets) that stops reading once it asked for a replay. */
async function stalledSocketIo(b: TestBroker, topic: string, from: string): Promise<() => void> {
  const ws = new WebSocket(`${b.url.replace('http', 'ws')}/rt/socket.io/?EIO=4&transport=websocket`);
  const messages = new Collector<string>();
  // Listening before the socket opens: the open packet comes at once.
  ws.on('message', (data: Buffer) => messages.push(data.toString('utf8')));
  await messages.until(1, 10_000, 'the engine.io open packet');
  ws.send('40');
  await messages.until(2, 10_000, 'the socket.io connect answer');
  const ep = from.slice(0, from.lastIndexOf('-'));
  ws.send(`42${JSON.stringify(['f', { t: 'sub', ref: 1, topic, ep, off: 0 }])}`);
  // Stop reading: the socket's receive buffer fills and the broker's writes back up.
  (ws as unknown as { _socket: { pause(): void } })._socket.pause();
  return () => ws.terminate();
}

const DOORS: Door[] = [
  {
    ...frameDoor('socket.io websocket', (b, who) => socketIo(b, 'websocket', who)),
    stalled: stalledSocketIo,
  },
  frameDoor('socket.io polling', (b, who) => socketIo(b, 'polling', who)),
  { ...frameDoor('SDK SSE', sseFrames), stalled: stalledSseFrames },
  plainSse,
  rawWs,
  rawHttp,
  httpPublish,
  mercure,
];

// ---- the guarantees ----

const U42: Who = { sub: 'u42', subscribe: ['users/42'], publish: ['users/42'] };

async function rejects(p: Promise<unknown>): Promise<Refused> {
  try {
    await p;
  } catch (e) {
    if (e instanceof Refused) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

/** The position every replay in these tests starts from: the beginning of the current epoch. */
async function origin(broker: Broker): Promise<string> {
  const { ep } = await broker.engine.position();
  return `${ep}-0`;
}

describe('doors × guarantees', () => {
  let b: TestBroker;
  before(async () => {
    // rt authorizes by the tokens' grants; the Mercure hub checks its own tokens.
    b = await startBroker({
      jwt: { key: SECRET },
      mercure: { key: KEY, anonymous: false },
      limits: { maxPayloadBytes: 4096, maxTopicDepth: 4 },
    });
  });
  after(() => b?.broker.close());

  for (const door of DOORS) {
    describe(door.name, () => {
      it('authorization and the hierarchy: allowed users/42 never gets users/7, live or on replay', {
        skip: door.subscribe ? false : 'no subscriptions at this door',
      }, async () => {
        const tag = `${door.name}-${nextRef++}`;
        await b.broker.publish('users/7', `seven-before ${tag}`);
        await b.broker.publish('users/42', `fortytwo-before ${tag}`);
        const from = door.replay ? await origin(b.broker) : undefined;
        const own = await door.subscribe!(b, U42, 'users/42', from);
        // Subscribing elsewhere is refused, or (Mercure, which filters instead) gets nothing.
        const others: Sub[] = [];
        for (const topic of ['users/7', 'users']) {
          try {
            others.push(await door.subscribe!(b, U42, topic, from));
          } catch (e) {
            assert.ok(e instanceof Refused, String(e));
          }
        }
        await b.broker.publish('users/7', `seven-live ${tag}`);
        await b.broker.publish('users/42', `fortytwo-live ${tag}`);
        const want = door.replay ? [`fortytwo-before ${tag}`, `fortytwo-live ${tag}`] : [`fortytwo-live ${tag}`];
        await own.got.until(want.length, 10_000, 'the messages of users/42');
        await quiet();
        const mine = own.got.items.filter((d) => d.endsWith(tag));
        assert.deepEqual(mine, want);
        for (const other of others)
          assert.deepEqual(
            other.got.items.filter((d) => d.includes('seven')),
            [],
          );
        own.close();
        for (const other of others) other.close();
      });

      it('authorization: publishing outside the grants is refused and delivers nothing', {
        skip: door.publish ? false : 'no publishing at this door',
      }, async () => {
        const published = b.broker.stats().published;
        const refused = await rejects(door.publish!(b, U42, 'users/7', 'intruder'));
        assert.ok([403, 1008, 'forbidden'].includes(refused.code), `refused with ${refused.code}`);
        assert.equal(b.broker.stats().published, published);
      });

      it('private messages never reach a caller not entitled to them, live or on replay', {
        skip: door.subscribe ? false : 'no subscriptions at this door',
      }, async () => {
        const topic = `https:/example.com/secret/${nextRef++}`;
        const iri = topic.replace('https:/', 'https://');
        const publisher = await mercureToken({ mercure: { publish: ['*'] } }, KEY);
        const form = (data: string, priv: boolean): string =>
          new URLSearchParams([['topic', iri], ['data', data], ...(priv ? [['private', 'on']] : [])]).toString();
        const headers = { authorization: `Bearer ${publisher}`, 'content-type': 'application/x-www-form-urlencoded' };
        await post(`${b.url}/.well-known/mercure`, form('private-before', true), headers);
        await post(`${b.url}/.well-known/mercure`, form('public-before', false), headers);
        const from = door.replay ? await origin(b.broker) : undefined;
        // rt grants cover the topic; a Mercure token that covers it is entitled, so it gets none.
        const who: Who = { sub: 'reader', subscribe: door === mercure ? ['https://example.com/other'] : [topic] };
        const sub = await door.subscribe!(b, who, door === mercure ? iri : topic, from);
        await post(`${b.url}/.well-known/mercure`, form('private-live', true), headers);
        await post(`${b.url}/.well-known/mercure`, form('public-live', false), headers);
        const want = door.replay ? ['public-before', 'public-live'] : ['public-live'];
        await sub.got.until(want.length, 10_000, 'the public updates');
        await quiet();
        assert.deepEqual(sub.got.items, want);
        sub.close();
      });

      it("idempotency keys are scoped to the caller: nobody can suppress another caller's publish", {
        skip: door.keys ? false : 'no idempotency keys at this door',
      }, async () => {
        const key = `order-${nextRef++}`;
        const shared = `shared/${nextRef}`;
        const mallory: Who = { sub: 'mallory', publish: ['chat/room1', shared], subscribe: [] };
        const backend: Who = { sub: 'backend', publish: ['users/42', shared], subscribe: [] };
        const watcher = await plainSse.subscribe!(b, { sub: 'w', subscribe: ['users/42', shared] }, 'users/42');
        const watcherShared = await plainSse.subscribe!(b, { sub: 'w', subscribe: [shared] }, shared);
        await door.publish!(b, mallory, 'chat/room1', 'mallory', key);
        await door.publish!(b, mallory, shared, 'mallory', key);
        await door.publish!(b, backend, 'users/42', 'backend', key);
        await door.publish!(b, backend, shared, 'backend', key);
        // The same caller resending is carried out once.
        await door.publish!(b, backend, shared, 'backend', key);
        await watcher.got.until(1, 10_000, 'the backend publish on users/42');
        await watcherShared.got.until(2, 10_000, 'both publishes on the shared topic');
        await quiet();
        assert.deepEqual(
          watcher.got.items.filter((d) => d === 'backend'),
          ['backend'],
        );
        assert.deepEqual(watcherShared.got.items, ['mallory', 'backend']);
        watcher.close();
        watcherShared.close();
      });

      it('payload and topic limits apply', async (t) => {
        if (door.publish) {
          const tooLarge = await rejects(door.publish(b, { sub: 'big', publish: ['big'] }, 'big', 'x'.repeat(5000)));
          assert.ok([413, 1009, 'payload_too_large'].includes(tooLarge.code), `too large: ${tooLarge.code}`);
          const deep = await rejects(door.publish(b, { sub: 'deep', publish: ['a'] }, 'a/b/c/d/e/f', 'deep'));
          assert.ok([400, 403, 1008, 'invalid_topic', 'forbidden'].includes(deep.code), `too deep: ${deep.code}`);
        }
        if (door.subscribe && door !== mercure) {
          const deep = await rejects(door.subscribe(b, { sub: 's', subscribe: ['a'] }, 'a/b/c/d/e/f'));
          assert.ok([400, 403, 'invalid_topic', 'forbidden'].includes(deep.code), `too deep: ${deep.code}`);
        }
        if (!door.publish && !door.subscribe) t.skip('nothing to limit');
      });

      it('token expiry closes the door', {
        skip: door.subscribe ? false : 'no connection outlives its request at this door',
      }, async () => {
        // `exp` is whole seconds from now: 4 lives 3 to 4 s, past any door's handshake on a loaded machine.
        const sub = await door.subscribe!(b, { ...U42, exp: 4 }, 'users/42');
        await deadline(sub.closed, 15_000, 'the door to close when the token expires');
      });
    });
  }
});

describe('doors × replay bounded by the outbound limit', () => {
  const bound = 64 * 1024;
  const history = 400;
  const size = 32 * 1024;
  let b: TestBroker;
  let from: string;
  before(async () => {
    b = await startBroker({
      mercure: { key: KEY, anonymous: true, maxBufferedBytes: bound },
      limits: { maxOutboundBytes: bound, historySize: history, maxPayloadBytes: 64 * 1024 },
    });
    from = await origin(b.broker);
    for (let i = 0; i < history; i++) await b.broker.publish('big', `${i} ${'x'.repeat(size)}`);
  });
  after(() => b?.broker.close());

  for (const door of DOORS) {
    it(`${door.name}: non-reading clients asking for ${(history * size) >> 20} MiB of history keep the broker's memory bounded`, {
      skip: door.stalled ? false : door.replay ? 'no client here that can stop reading' : 'no replay at this door',
    }, async () => {
      const baseline = heapUsed() + process.memoryUsage().external;
      const closers: (() => void)[] = [];
      for (let i = 0; i < 4; i++) closers.push(await door.stalled!(b, 'big', from));
      // What must not happen (the whole history queued per client) gets the time to show.
      await quiet(1500);
      const grown = heapUsed() + process.memoryUsage().external - baseline;
      for (const close of closers) close();
      assert.ok(
        grown < 4 * 8 * bound + 4 * 1024 * 1024,
        `memory grew by ${(grown / 1048576).toFixed(1)} MiB for 4 clients (history ${((history * size) / 1048576).toFixed(1)} MiB)`,
      );
    });
  }
});
