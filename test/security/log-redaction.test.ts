/**
 * Tokens in logs (issue 13): at debug, refused Mercure requests logged `?authorization=<full
 * JWT>`, and `req.url` (with `?token=`) was logged at error and warn. A log capture at `trace`
 * now shows no token, cookie or SSE session URL, whatever the broker refused and why.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { RtError } from '@rt/server';
import { startBroker } from '../helpers/index.ts';
import { KEY, token as mercureToken } from '../helpers/mercure.ts';
import { SECRET, token } from '../helpers/security.ts';

describe('security: no secrets in logs', () => {
  it('a log capture at trace level holds no token, cookie or SSE session URL', async () => {
    let captured = '';
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        captured += chunk.toString();
        done();
      },
    });
    const secrets: string[] = [];
    await using b = await startBroker({
      logger: pino({ level: 'trace' }, stream),
      jwt: { key: SECRET },
      // A hook that (carelessly) puts the token in its error: the log still must not show it.
      authenticate: (request) => {
        if (request.token === 'opaque-token-value-123') throw new RtError('unauthorized', `bad token ${request.token}`);
        return request.jwt;
      },
      mercure: { key: KEY, anonymous: false },
      allowOrigin: 'https://app.example',
    });
    const wrongKey = new TextEncoder().encode('another-secret-of-at-least-32-bytes!');
    const bad = await token({ sub: 'x' }, { key: wrongKey });
    const badMercure = await mercureToken({ mercure: { subscribe: ['*'] } }, 'not-the-hub-key-but-long-enough!!');
    const good = await token({ sub: 'ann', rt: { subscribe: ['*'], publish: ['*'] } });
    secrets.push(bad, badMercure, good, 'opaque-token-value-123');
    const hub = `${b.url}/.well-known/mercure`;
    const calls: [string, RequestInit][] = [
      [`${hub}?topic=x&authorization=${badMercure}`, {}],
      [`${hub}?topic=x`, { headers: { cookie: `mercureAuthorization=${badMercure}` } }],
      [
        hub,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${badMercure}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'topic=x&data=y',
        },
      ],
      [`${b.url}/rt/sse?topic=a&token=${bad}`, {}],
      [`${b.url}/rt/sse?topic=a&token=opaque-token-value-123`, {}],
      [`${b.url}/rt/sse?topic=a`, { headers: { origin: 'https://app.example', cookie: `rt_token=${bad}` } }],
      [
        `${b.url}/rt/publish`,
        { method: 'POST', headers: { authorization: `Bearer ${bad}`, 'content-type': 'application/json' }, body: '{}' },
      ],
      [`${b.url}/pub/a?token=${bad}`, { method: 'POST', body: 'x' }],
    ];
    for (const [url, init] of calls) {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
      await res.text();
      assert.ok(res.status >= 400, `${url}: ${res.status}`);
    }
    // An SDK SSE session: its POST URL is a capability, never to be logged either.
    const stream2 = await fetch(`${b.url}/rt/sse?frames=1`, {
      headers: { authorization: `Bearer ${good}`, origin: 'https://app.example' },
    });
    const reader = stream2.body!.getReader();
    let text = '';
    assert.equal(stream2.status, 200);
    while (!/"url":"([^"]+)"/.test(text)) {
      const { value, done } = await reader.read();
      if (done) assert.fail(`the SSE stream ended: ${text}`);
      text += new TextDecoder().decode(value);
    }
    const sessionUrl = /"url":"([^"]+)"/.exec(text)![1]!;
    secrets.push(sessionUrl.split('/').pop()!);
    const post = await fetch(`${b.url}/${sessionUrl}`, {
      method: 'POST',
      headers: { origin: 'https://app.example' },
      body: 'not json at all',
    });
    await post.text();
    await reader.cancel();
    assert.match(captured, /refused/, 'the refusals were logged');
    assert.match(captured, /\[redacted\]/, 'secrets were there to redact');
    for (const secret of secrets)
      assert.equal(captured.includes(secret), false, `a log line holds ${secret.slice(0, 12)}…`);
    for (const part of secrets.filter((s) => s.startsWith('eyJ')).map((s) => s.split('.')[2]!))
      assert.equal(captured.includes(part), false, 'a JWT signature is in the log');
  });
});
