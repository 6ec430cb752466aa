import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeJob,
  decodeMessage,
  encodeJob,
  encodeMessage,
  splitHeader,
} from '../../packages/server/src/engines/redis/codec.ts';
import { reconnectDelay } from '../../packages/server/src/engines/redis/connection.ts';

describe('Redis engine codec', () => {
  it('messages keep topic, JSON text and bytes intact (bytes are not base64 in Redis)', () => {
    const json = decodeMessage(encodeMessage('a/b', { x: ['ü', null] }));
    assert.deepEqual(json, { topic: 'a/b', data: { x: ['ü', null] }, dataText: '{"x":["ü",null]}' });
    // The JSON text the client sent is kept as is (not re-encoded).
    assert.equal(decodeMessage(encodeMessage('t', { a: 1 }, '{ "a": 1 }')).dataText, '{ "a": 1 }');
    const bytes = new Uint8Array([10, 0, 255, 32]);
    const encoded = encodeMessage('bin', bytes);
    assert.equal(encoded.length, 'bbin\n'.length + 4);
    const bin = decodeMessage(encoded);
    assert.ok(bin.data instanceof Uint8Array);
    assert.deepEqual([bin.topic, [...bin.data]], ['bin', [10, 0, 255, 32]]);
    assert.deepEqual(decodeJob(encodeJob('job')), { data: 'job', dataText: '"job"' });
    assert.deepEqual([...(decodeJob(encodeJob(bytes)).data as Uint8Array)], [10, 0, 255, 32]);
  });

  it('channel headers split at the first two spaces; malformed input throws', () => {
    const buf = Buffer.concat([Buffer.from('42 ep1 '), encodeMessage('a', 'x y')]);
    const [off, ep, start] = splitHeader(buf);
    assert.deepEqual([off, ep, decodeMessage(buf, start).data], ['42', 'ep1', 'x y']);
    assert.throws(() => splitHeader(Buffer.from('nospace')), /malformed/);
    assert.throws(() => decodeMessage(Buffer.from('jtopic-without-newline')), /malformed/);
  });

  it('reconnect delays grow and stay within 2 s', () => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const d = reconnectDelay(attempt);
      assert.ok(d >= 25 && d <= 2000, `attempt ${attempt}: ${d}`);
    }
    assert.ok(reconnectDelay(10) >= 1000);
  });
});
