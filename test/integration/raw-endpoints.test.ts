/**
 * Mercury-compatible raw WebSocket endpoints and their HTTP POSTs, side by side with SDK
 * clients on the same topics: every pattern, text byte-exact, binary as binary.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Collector, clients, quiet, startBroker } from '../helpers/index.ts';

/** What a raw socket received: text as a string, binary as a byte array. */
type Got = string | number[];

interface RawSocket {
  ws: WebSocket;
  got: Collector<Got>;
  closed: Promise<[number, string]>;
}

/** Opens a raw socket; rejects with the HTTP status when the handshake is refused. */
function raw(url: string, path: string): Promise<RawSocket> {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + path);
  const got = new Collector<Got>();
  ws.on('message', (data: Buffer, isBinary: boolean) => got.push(isBinary ? [...data] : data.toString('utf8')));
  const closed = new Promise<[number, string]>((resolve) =>
    ws.on('close', (code, reason) => resolve([code, reason.toString()])),
  );
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, got, closed }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

const send = (s: RawSocket, data: string | Uint8Array): Promise<void> =>
  new Promise((resolve, reject) =>
    s.ws.send(data, { binary: typeof data !== 'string' }, (e) => (e ? reject(e) : resolve())),
  );

const TEXT = 'héllo wörld ✓ 🎉 "quoted" {not json';
const BYTES = new Uint8Array([0, 1, 127, 128, 254, 255]);

describe('raw endpoints', () => {
  it('pub/sub: raw /pub reaches SDK and raw subscribers of the topic and its ancestors; SDK publishes reach raw /sub', async () => {
    await using b = await startBroker();
    await using c = clients(b.url, 'websocket');
    const sdk = c.make();
    const sdkGot = new Collector<unknown>();
    await sdk.topic('news').subscribe(sdkGot.push).ready;
    const sub = await raw(b.url, '/sub/news');
    const sibling = await raw(b.url, '/sub/newsroom');
    const pub = await raw(b.url, '/pub/news/local');
    await send(pub, TEXT);
    await send(pub, BYTES);
    await sdk.topic('news/x').publish({ from: 'sdk' });
    await sdk.topic('news').publish('sdk text ü');
    await sdk.topic('news').publish(BYTES);
    const got = await sub.got.until(5);
    assert.deepEqual(got, [TEXT, [...BYTES], '{"from":"sdk"}', 'sdk text ü', [...BYTES]]);
    await sdkGot.until(5);
    assert.equal(sdkGot.items[0], TEXT, 'raw text arrives as the same string, byte-exact');
    assert.ok(sdkGot.items[1] instanceof Uint8Array, 'raw binary arrives as bytes');
    assert.deepEqual([...(sdkGot.items[1] as Uint8Array)], [...BYTES]);
    await quiet();
    assert.deepEqual(sibling.got.items, [], 'a sibling topic gets nothing');
    assert.deepEqual(pub.got.items, [], 'a pub socket receives nothing');
    for (const s of [sub, sibling, pub]) s.ws.close();
  });

  it('bus: a raw frame goes to the other peers of exactly the topic, back to the sender only with ?echo=1', async () => {
    await using b = await startBroker();
    await using c = clients(b.url, 'sse');
    const sdk = c.make();
    const sdkGot = new Collector<unknown>();
    const bus = sdk.topic('room').bus();
    bus.on('message', (e) => sdkGot.push(e.data));
    await bus.ready;
    const quietPeer = await raw(b.url, '/bus/room');
    const echoing = await raw(b.url, '/bus/room?echo=1');
    const child = await raw(b.url, '/bus/room/sub');
    // One sender at a time: frames of different senders have no order between them.
    await send(quietPeer, TEXT);
    await Promise.all([echoing.got.until(1), sdkGot.until(1)]);
    await send(echoing, BYTES);
    await Promise.all([quietPeer.got.until(1), echoing.got.until(2), sdkGot.until(2)]);
    await bus.send('from sdk');
    await Promise.all([quietPeer.got.until(2), echoing.got.until(3)]);
    await quiet();
    assert.deepEqual(quietPeer.got.items, [[...BYTES], 'from sdk'], 'no echo without ?echo=1');
    assert.deepEqual(echoing.got.items, [TEXT, [...BYTES], 'from sdk'], 'its own frame comes back with ?echo=1');
    assert.equal(sdkGot.items[0], TEXT);
    assert.deepEqual([...(sdkGot.items[1] as Uint8Array)], [...BYTES]);
    assert.deepEqual(child.got.items, [], 'a bus is exactly one topic');
    const post = await fetch(`${b.url}/bus/room`, { method: 'POST', body: 'posted ✓' });
    assert.equal(post.status, 200);
    assert.equal(await post.text(), '', 'an empty body, as Mercury answers');
    await Promise.all([quietPeer.got.until(3), echoing.got.until(4), sdkGot.until(3)]);
    assert.equal(quietPeer.got.items[2], 'posted ✓');
    for (const s of [quietPeer, echoing, child]) s.ws.close();
  });

  it('push/pull: raw and SDK pullers take turns, each item to exactly one', async () => {
    await using b = await startBroker();
    await using c = clients(b.url, 'polling');
    const sdk = c.make();
    const sdkGot = new Collector<unknown>();
    const pulled = new Collector<string>();
    await sdk.topic<string>('jobs').pull((d) => {
      sdkGot.push(d);
      pulled.push(`sdk:${String(d)}`);
    }).ready;
    const r1 = await raw(b.url, '/pull/jobs');
    const r2 = await raw(b.url, '/pull/jobs');
    r1.ws.on('message', (d: Buffer) => pulled.push(`r1:${d.toString()}`));
    r2.ws.on('message', (d: Buffer) => pulled.push(`r2:${d.toString()}`));
    const pusher = await raw(b.url, '/push/jobs');
    for (let i = 0; i < 6; i++) await send(pusher, `raw-${i}`);
    for (let i = 0; i < 3; i++) await sdk.topic('jobs').push(`sdk-${i}`);
    const post = await fetch(`${b.url}/push/jobs`, { method: 'POST', body: 'posted' });
    assert.equal(post.status, 200);
    assert.equal(await post.text(), '', 'an empty body, as Mercury answers');
    await pulled.until(10);
    await quiet();
    assert.equal(pulled.items.length, 10, 'nothing twice');
    const items = pulled.items.map((p) => p.slice(p.indexOf(':') + 1)).sort();
    assert.deepEqual(items, [
      'posted',
      'raw-0',
      'raw-1',
      'raw-2',
      'raw-3',
      'raw-4',
      'raw-5',
      'sdk-0',
      'sdk-1',
      'sdk-2',
    ]);
    for (const who of ['sdk', 'r1', 'r2'])
      assert.ok(
        pulled.items.some((p) => p.startsWith(`${who}:`)),
        `${who} took a turn`,
      );
    // An SDK push of bytes reaches a raw puller as a binary frame.
    const only = await raw(b.url, '/pull/bin');
    await sdk.topic('bin').push(BYTES);
    assert.deepEqual(await only.got.until(1), [[...BYTES]]);
    assert.deepEqual(b.broker.stats().redelivered, 0);
    for (const s of [r1, r2, pusher, only]) s.ws.close();
  });

  it('HTTP POST /pub answers 200 with an empty body (as Mercury), keeps text byte-exact and bytes as bytes, and refuses what it must', async () => {
    await using b = await startBroker({ authorize: (_id, op, topic) => !topic.startsWith('secret') || op === 'sub' });
    const sub = await raw(b.url, '/sub/p');
    const ok = await fetch(`${b.url}/pub/p/1`, { method: 'POST', body: TEXT });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('content-length'), '0');
    assert.equal(await ok.text(), '', 'an empty body, as Mercury answers');
    assert.equal(
      (
        await fetch(`${b.url}/pub/p`, {
          method: 'POST',
          body: BYTES,
          headers: { 'content-type': 'application/octet-stream' },
        })
      ).status,
      200,
    );
    assert.equal(
      (
        await fetch(`${b.url}/pub/p`, {
          method: 'POST',
          body: '{"a":1}',
          headers: { 'content-type': 'application/json' },
        })
      ).status,
      200,
    );
    assert.deepEqual(await sub.got.until(3), [TEXT, [...BYTES], '{"a":1}']);
    // rt's own HTTP publish keeps its JSON answer.
    const publish = await fetch(`${b.url}/rt/publish?topic=other`, { method: 'POST', body: 'rt' });
    assert.equal(publish.status, 200);
    assert.equal(((await publish.json()) as { ok: boolean }).ok, true);
    const cases: [string, RequestInit, number, string][] = [
      ['/pub/secret/x', { method: 'POST', body: 'x' }, 403, 'forbidden'],
      ['/pub/a//b', { method: 'POST', body: 'x' }, 400, 'invalid_topic'],
      ['/pub/p', { method: 'POST', body: new Uint8Array([0x61, 0xff]) }, 400, 'bad_frame'],
      ['/pub/p', { method: 'POST', body: 'x'.repeat(1024 * 1024 + 1) }, 413, 'payload_too_large'],
      ['/sub/p', { method: 'GET' }, 426, 'bad_frame'],
    ];
    for (const [path, init, status, code] of cases) {
      const res = await fetch(b.url + path, init);
      assert.equal(res.status, status, path);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, code, path);
    }
    await quiet();
    assert.equal(sub.got.items.length, 3);
    sub.ws.close();
  });

  it('refuses a bad handshake with its HTTP status, and closes a socket whose frame is refused', async () => {
    await using b = await startBroker({
      limits: { pushQueueSize: 1 },
      authorize: (_id, op, topic) => !(topic.startsWith('secret') && op !== 'pub'),
    });
    await assert.rejects(raw(b.url, '/sub/secret'), /HTTP 403/);
    await assert.rejects(raw(b.url, '/push/secret'), /HTTP 403/);
    await assert.rejects(raw(b.url, '/sub/a//b'), /HTTP 400/);
    const pub = await raw(b.url, '/pub/fine');
    const big = new Uint8Array(1024 * 1024 + 1);
    pub.ws.send(big);
    const [code] = await pub.closed;
    assert.equal(code, 1009, 'a frame over maxPayloadBytes closes with 1009');
    const pusher = await raw(b.url, '/push/nobody-pulls');
    await send(pusher, 'fits');
    await send(pusher, 'does not fit');
    const [fullCode, reason] = await pusher.closed;
    assert.deepEqual(
      [fullCode, reason.split(':')[0]],
      [1013, 'queue_full'],
      'a refused push closes with 1013 and says why',
    );
    await using c = clients(b.url, 'websocket');
    await c.make().ready();
    await quiet(50);
    assert.equal(b.broker.stats().sessions, 1, 'refused handshakes leave no session behind');
  });

  it('tells raw sockets the broker is restarting (1012) when it closes', async () => {
    const b = await startBroker();
    const sub = await raw(b.url, '/sub/x');
    await b.broker.close();
    const [code] = await sub.closed;
    assert.equal(code, 1012);
  });
});
