/**
 * Bad input gets a clear error, and the same connection (and the broker) keeps working.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RtError } from '@rt/server';
import { Collector, clients, startBroker } from '../helpers/index.ts';
import { rawSocket } from '../helpers/socketio.ts';
import { frameStream } from '../helpers/sse.ts';
import { request } from 'node:http';
import { maxBatchBytes } from '@rt/protocol';

for (const transport of ['websocket', 'polling'] as const) {
  describe(`bad frames over ${transport}`, () => {
    it('each malformed frame gets its error, and the same connection still works', async () => {
      await using b = await startBroker({ limits: { maxPayloadBytes: 1000 } });
      const { socket, frames } = await rawSocket(b.url, transport);
      try {
        const cases: [unknown, Record<string, unknown>][] = [
          ['not json at all', { t: 'err', code: 'bad_frame' }],
          [42, { t: 'err', code: 'bad_frame' }],
          [[1, 2, 3], { t: 'err', code: 'bad_frame' }],
          [
            { t: 'teleport', ref: 1 },
            { t: 'err', ref: 1, code: 'unknown_op' },
          ],
          [
            { t: 'pub', ref: 2, topic: 'a' },
            { t: 'err', ref: 2, code: 'bad_frame' },
          ],
          [
            { t: 'pub', ref: 3, topic: ['a'], data: 1 },
            { t: 'err', ref: 3, code: 'invalid_topic' },
          ],
          [
            { t: 'sub', ref: 4, topic: 'a//b' },
            { t: 'err', ref: 4, code: 'invalid_topic' },
          ],
          [
            { t: 'sub', ref: 5, topic: 'x'.repeat(300) },
            { t: 'err', ref: 5, code: 'invalid_topic' },
          ],
          [
            { t: 'pub', ref: 6, topic: 'a', data: 'x'.repeat(2000) },
            { t: 'err', ref: 6, code: 'payload_too_large' },
          ],
          [
            { t: 'push', ref: 7, topic: 'a', data: new Uint8Array(1001) },
            { t: 'err', ref: 7, code: 'payload_too_large' },
          ],
          [
            { t: 'ack', ref: 8, id: 'nobody' },
            { t: 'err', ref: 8, code: 'not_found' },
          ],
          [
            { t: 'pull', ref: 9, topic: 'q', prefetch: -3 },
            { t: 'err', ref: 9, code: 'bad_frame' },
          ],
          [
            { t: 'call', ref: 10, name: 'nothing', data: null },
            { t: 'err', ref: 10, code: 'unknown_action' },
          ],
        ];
        for (const [frame] of cases) socket.emit('f', frame);
        socket.emit('not-an-rt-event', { hello: 1 });
        await frames.until(cases.length + 1);
        // Answers to frames with a ref are matched by ref; the others come in the order sent.
        const unreferenced = frames.items.filter((f) => f.ref === undefined);
        for (let i = 0; i < cases.length; i++) {
          const ref = cases[i]![1].ref;
          const got = ref === undefined ? unreferenced.shift()! : frames.items.find((f) => f.ref === ref)!;
          assert.ok(got, `case ${i}: no answer`);
          for (const [k, v] of Object.entries(cases[i]![1]))
            assert.deepEqual(got[k], v, `case ${i}: ${JSON.stringify(got)}`);
          assert.equal(typeof got.message, 'string');
          assert.ok((got.message as string).length > 0);
        }
        assert.equal(unreferenced.shift()!.code, 'unknown_op');
        // Same connection: a valid subscribe and publish still work.
        socket.emit('f', { t: 'sub', ref: 20, topic: 'ok' });
        socket.emit('f', { t: 'pub', ref: 21, topic: 'ok', data: 'still alive' });
        await frames.until(cases.length + 4);
        const rest = frames.items.slice(cases.length + 1);
        assert.deepEqual(rest.map((f) => f.t).sort(), ['msg', 'ok', 'ok']);
        assert.equal(rest.find((f) => f.t === 'msg')!.data, 'still alive');
        assert.equal(socket.connected, true);
        assert.ok(b.broker.stats().badFrames >= 10);
      } finally {
        socket.close();
      }
    });
  });
}

describe('bad HTTP publishes', () => {
  it('get a 4xx with a JSON error body, and the broker keeps serving', async () => {
    await using b = await startBroker({ limits: { maxPayloadBytes: 100 } });
    const post = (path: string, body: string, type = 'application/json') =>
      fetch(`${b.url}${path}`, { method: 'POST', headers: { 'content-type': type }, body });
    const cases: [string, string, number, string, string?][] = [
      ['/rt/publish', '{broken', 400, 'bad_frame'],
      ['/rt/publish', '[1]', 400, 'bad_frame'],
      ['/rt/publish', '{"data":1}', 400, 'bad_frame'],
      ['/rt/publish', '{"topic":5,"data":1}', 400, 'invalid_topic'],
      ['/rt/publish', '{"topic":"a/","data":1}', 400, 'invalid_topic'],
      ['/rt/publish', '{"topic":"a"}', 400, 'bad_frame'],
      ['/rt/publish', JSON.stringify({ topic: 'a', data: 'x'.repeat(150) }), 413, 'payload_too_large'],
      ['/rt/publish', 'x'.repeat(10_000), 413, 'payload_too_large'],
      ['/rt/publish?topic=a%20b', 'hello', 400, 'invalid_topic', 'text/plain'],
      ['/rt/publish?topic=a', '{oops', 400, 'bad_frame', 'application/json'],
    ];
    for (const [path, body, status, code, type] of cases) {
      const res = await post(path, body, type);
      assert.equal(res.status, status, `${path} ${body.slice(0, 40)}`);
      const json = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(json.error.code, code);
      assert.ok(json.error.message.length > 0);
    }
    const wrongMethod = await fetch(`${b.url}/rt/publish`);
    assert.equal(wrongMethod.status, 400);
    await using c = clients(b.url, 'websocket');
    const got = new Collector<unknown>();
    await c.make().topic('a').subscribe(got.push).ready;
    assert.equal((await post('/rt/publish', '{"topic":"a","data":"fine"}')).status, 200);
    assert.deepEqual(await got.until(1), ['fine']);
  });
});

describe('bad server-side publishes', () => {
  it('broker.publish refuses what it cannot send with an RtError, before anything is published', async () => {
    await using b = await startBroker({ limits: { maxPayloadBytes: 100 } });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'published',
        (e: unknown) => (e instanceof RtError ? e.code : `not an RtError: ${String(e)}`),
      );
    assert.equal(await code(b.broker.publish('a', circular as never)), 'bad_frame');
    assert.equal(await code(b.broker.publish('a', (() => 1) as never)), 'bad_frame');
    assert.equal(await code(b.broker.publish('a', 'x'.repeat(200))), 'payload_too_large');
    assert.equal(await code(b.broker.publish('a', new Uint8Array(101))), 'payload_too_large');
    assert.equal(await code(b.broker.publish('a//b', 1)), 'invalid_topic');
    assert.equal(b.broker.stats().published, 0);
    assert.deepEqual(await b.broker.publish('a', new Uint8Array(100)), { off: 1 });
  });
});

describe('bad POST bodies over SSE', () => {
  it('a body past the batch limit gets 413 payload_too_large; a body in several chunks is read whole; the session keeps working', async () => {
    const maxPayloadBytes = 1000;
    await using b = await startBroker({ limits: { maxPayloadBytes } });
    await using stream = await frameStream(b.url);
    const url = stream.postUrl();

    const tooLarge = await fetch(url, { method: 'POST', body: 'x'.repeat(maxBatchBytes(maxPayloadBytes) + 1) });
    assert.equal(tooLarge.status, 413);
    assert.equal(((await tooLarge.json()) as { error: { code: string } }).error.code, 'payload_too_large');

    // The same frames, sent in two chunks a moment apart (no content-length: chunked).
    const body = JSON.stringify([
      { t: 'hello', ref: 1 },
      { t: 'pub', ref: 2, topic: 'a', data: 'y'.repeat(500) },
    ]);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(url, { method: 'POST', headers: { 'content-type': 'text/plain' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.write(body.slice(0, 20));
      setTimeout(() => req.end(body.slice(20)), 50);
    });
    assert.equal(status, 204);
    const answers = await stream.frames.until(2);
    assert.deepEqual(
      answers.map((f) => [f.t, f.ref]),
      [
        ['ok', 1],
        ['ok', 2],
      ],
    );
  });

  it('payload strings with line breaks (LF, CR, CRLF) arrive intact: a frame stays one SSE data line', async () => {
    await using b = await startBroker();
    await using sse = clients(b.url, 'sse');
    await using ws = clients(b.url, 'websocket');
    const got = new Collector<unknown>();
    await sse
      .make()
      .topic('lines')
      .subscribe((d) => got.push(d)).ready;
    const sent = [{ text: 'a\nb\rc\r\nd' }, 'e\n\nf', ['\r', '\n']];
    const publisher = ws.make();
    for (const data of sent) await publisher.topic('lines').publish(data);
    assert.deepEqual(await got.until(3), sent);
  });
});
