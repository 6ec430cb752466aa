import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  type ClientFrame,
  base64ToBytes,
  bytesToBase64,
  decodeServerFrame,
  encodeFrame,
  parseClientFrame,
  utf8Length,
} from '@rt/protocol';

function problem(input: unknown, limits?: Parameters<typeof parseClientFrame>[1]) {
  const parsed = parseClientFrame(input, limits);
  assert.equal(parsed.ok, false, `expected ${JSON.stringify(input)} to be refused`);
  return parsed as Extract<typeof parsed, { ok: false }>;
}

describe('frame codec', () => {
  it('parses every operation from text and from objects', () => {
    const frames: ClientFrame[] = [
      { t: 'sub', ref: 1, topic: 'a' },
      { t: 'sub', ref: 2, topic: 'a/b', ep: 'e1', off: 7 },
      { t: 'unsub', ref: 3, topic: 'a' },
      { t: 'pub', ref: 4, topic: 'a', data: { x: [1, null] } },
      { t: 'join', ref: 5, topic: 'r' },
      { t: 'leave', ref: 6, topic: 'r' },
      { t: 'bus', ref: 7, topic: 'r', data: 'hi' },
      { t: 'push', ref: 8, topic: 'q', data: 0 },
      { t: 'pull', ref: 9, topic: 'q', prefetch: 4 },
      { t: 'unpull', ref: 10, topic: 'q' },
      { t: 'ack', ref: 11, id: 'j1' },
      { t: 'nack', ref: 12, id: 'j1' },
      { t: 'call', ref: 13, name: 'add', data: [1, 2] },
      { t: 'presence', ref: 14, topic: 'room', do: 'join', member: 'tab1', info: { name: 'amy', tags: ['a'] } },
      { t: 'presence', ref: 15, topic: 'room', do: 'watch' },
      { t: 'presence', ref: 16, topic: 'room', do: 'leave', member: 'tab1' },
      { t: 'presence', ref: 17, topic: 'room', do: 'get' },
    ];
    for (const f of frames) {
      for (const input of [JSON.stringify(f), structuredClone(f)]) {
        const parsed = parseClientFrame(input);
        assert.ok(parsed.ok, JSON.stringify(f));
        assert.deepEqual(parsed.frame, f);
        if ('data' in f) assert.equal(parsed.dataText, JSON.stringify(f.data));
      }
    }
  });

  it('refuses malformed frames with a code and a reason, keeping the ref when there is one', () => {
    assert.equal(problem('{not json').code, 'bad_frame');
    assert.equal(problem('[1,2]').code, 'bad_frame');
    assert.equal(problem(42).code, 'bad_frame');
    assert.equal(problem(null).code, 'bad_frame');
    assert.equal(problem({ ref: 1 }).code, 'bad_frame');
    assert.deepEqual(problem({ t: 'explode', ref: 5 }), {
      ok: false,
      ref: 5,
      code: 'unknown_op',
      message: 'unknown operation "explode"',
    });
    assert.equal(problem({ t: 'pub', topic: 'a', data: 1 }).code, 'bad_frame'); // no ref
    assert.equal(problem({ t: 'pub', ref: -1, topic: 'a', data: 1 }).code, 'bad_frame');
    assert.equal(problem({ t: 'pub', ref: 1.5, topic: 'a', data: 1 }).code, 'bad_frame');
    const noData = problem({ t: 'pub', ref: 2, topic: 'a' });
    assert.deepEqual([noData.code, noData.ref], ['bad_frame', 2]);
    assert.equal(problem({ t: 'sub', ref: 3, topic: 7 }).code, 'invalid_topic');
    assert.equal(problem({ t: 'sub', ref: 3, topic: 'a//b' }).code, 'invalid_topic');
    assert.equal(problem({ t: 'sub', ref: 3, topic: 'a', off: 'x' }).code, 'bad_frame');
    assert.equal(problem({ t: 'sub', ref: 3, topic: 'a', ep: 5 }).code, 'bad_frame');
    assert.equal(problem({ t: 'pull', ref: 3, topic: 'a', prefetch: 0 }).code, 'bad_frame');
    assert.equal(problem({ t: 'ack', ref: 3 }).code, 'bad_frame');
    assert.equal(problem({ t: 'call', ref: 3, data: 1 }).code, 'bad_frame');
    assert.equal(problem({ t: 'pub', ref: 3, topic: 'a', data: 'AA$', bin: 1 }).code, 'bad_frame');
  });

  it('refuses presence frames with what is wrong: the action, the member slot, the info', () => {
    const reason = (input: unknown) => {
      const p = problem(input);
      assert.equal(p.code === 'bad_frame' || p.code === 'invalid_topic', true);
      return `${p.code}: ${p.message}`;
    };
    assert.equal(
      reason({ t: 'presence', ref: 1, topic: 'r' }),
      'bad_frame: "presence" needs "do": "join", "watch", "leave" or "get"',
    );
    assert.equal(
      reason({ t: 'presence', ref: 1, topic: 'r', do: 'enter' }),
      'bad_frame: "presence" needs "do": "join", "watch", "leave" or "get"',
    );
    assert.match(reason({ t: 'presence', ref: 1, topic: 'a//b', do: 'get' }), /^invalid_topic/);
    assert.equal(
      reason({ t: 'presence', ref: 1, topic: 'r', do: 'join', member: '' }),
      'bad_frame: "member" must be a string of 1 to 64 characters',
    );
    assert.equal(
      reason({ t: 'presence', ref: 1, topic: 'r', do: 'join', member: 'x'.repeat(65) }),
      'bad_frame: "member" must be a string of 1 to 64 characters',
    );
    for (const info of ['amy', [1], null, 5])
      assert.equal(
        reason({ t: 'presence', ref: 1, topic: 'r', do: 'join', info }),
        'bad_frame: "info" must be a JSON object',
      );
    assert.equal(
      reason({ t: 'presence', ref: 1, topic: 'r', do: 'watch', info: {} }),
      'bad_frame: "info" goes with "do": "join" only',
    );
    assert.equal(
      reason({ t: 'presence', ref: 1, topic: 'r', do: 'join', info: { s: `a${'é'.repeat(1020)}` } }),
      'bad_frame: "info" is 2049 bytes of JSON, more than 2048',
    );
    assert.ok(parseClientFrame({ t: 'presence', ref: 1, topic: 'r', do: 'join', info: { s: 'é'.repeat(1020) } }).ok);
  });

  it('refuses payloads over the limit, JSON by UTF-8 bytes and binary by length', () => {
    const limits = { maxPayloadBytes: 10, topic: { maxLength: 256, maxDepth: 16 } };
    assert.ok(parseClientFrame({ t: 'pub', ref: 1, topic: 'a', data: '12345678' }, limits).ok); // "12345678" is 10 bytes
    assert.equal(problem({ t: 'pub', ref: 1, topic: 'a', data: '123456789' }, limits).code, 'payload_too_large');
    assert.equal(problem({ t: 'pub', ref: 1, topic: 'a', data: 'ééééé' }, limits).code, 'payload_too_large');
    assert.ok(parseClientFrame({ t: 'push', ref: 1, topic: 'a', data: new Uint8Array(10) }, limits).ok);
    assert.equal(
      problem({ t: 'push', ref: 1, topic: 'a', data: new Uint8Array(11) }, limits).code,
      'payload_too_large',
    );
  });

  it('binary payloads travel as base64 on text transports and come back as Uint8Array', () => {
    const bytes = new Uint8Array([0, 255, 128, 7]);
    const text = encodeFrame({ t: 'pub', ref: 1, topic: 'a', data: bytes });
    assert.deepEqual(JSON.parse(text), { t: 'pub', ref: 1, topic: 'a', data: 'AP+ABw==', bin: 1 });
    const parsed = parseClientFrame(text);
    assert.ok(parsed.ok && parsed.frame.t === 'pub');
    assert.deepEqual(parsed.frame.data, bytes);
    const back = decodeServerFrame(encodeFrame({ t: 'msg', topic: 'a', data: bytes, off: 1 }));
    assert.ok(back && back.t === 'msg' && back.data instanceof Uint8Array);
    assert.deepEqual([...back.data], [...bytes]);
  });

  it('decodeServerFrame returns null for what is not a frame', () => {
    for (const junk of ['', 'nope', '42', 'null', '[]', '{"x":1}', 7, null])
      assert.equal(decodeServerFrame(junk), null, String(junk));
  });

  it('property: base64 round-trips any bytes and matches Node', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const b64 = bytesToBase64(bytes);
        assert.equal(b64, Buffer.from(bytes).toString('base64'));
        assert.deepEqual(base64ToBytes(b64), bytes);
      }),
      { numRuns: 1000 },
    );
    for (const bad of ['A', 'AAA$', 'A===', '====']) assert.equal(base64ToBytes(bad), null, bad);
  });

  it('property: utf8Length equals the encoded length of any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
        assert.equal(utf8Length(s), Buffer.byteLength(s, 'utf8'));
      }),
      { numRuns: 2000 },
    );
  });
});
