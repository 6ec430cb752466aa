/**
 * `rt broker` serving HTTPS with HTTP/2: `--tls-cert`/`--tls-key` (or `tls` in rt.config.json,
 * or `RT_TLS_*`), HTTP/1.1 beside it unless `--allow-http1 false`. Checked with Node's own
 * HTTP/2 and HTTPS clients, trusting the test's self-signed certificate.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Agent, request as httpsRequest } from 'node:https';
import { connect as http2Connect } from 'node:http2';
import { BrokerProcess, deadline } from '../helpers/index.ts';
import { selfSignedCertificate } from '../helpers/tls.ts';
import { loadConfig } from '../../packages/server/src/config.ts';

/** GET `path` over HTTP/2: status, the `:status`-free headers, and the body. */
async function h2Get(
  url: string,
  ca: string,
  path: string,
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const session = http2Connect(url, { ca });
  try {
    return await deadline(
      new Promise((resolve, reject) => {
        session.on('error', reject);
        const stream = session.request({ ':path': path });
        let body = '';
        let status = 0;
        let headers: Record<string, unknown> = {};
        stream.on('response', (h) => {
          status = Number(h[':status']);
          headers = h;
        });
        stream.setEncoding('utf8');
        stream.on('data', (d: string) => (body += d));
        stream.on('end', () => resolve({ status, body, headers }));
        stream.on('error', reject);
      }),
      10_000,
      `GET ${path} over HTTP/2`,
    );
  } finally {
    session.close();
  }
}

/** GET `path` over HTTPS with HTTP/1.1: the status, or the error. */
function h1Get(url: string, ca: string, path: string): Promise<number> {
  return deadline(
    new Promise((resolve, reject) => {
      const req = httpsRequest(
        `${url}${path}`,
        { agent: new Agent({ ca, ALPNProtocols: ['http/1.1'], keepAlive: false }) },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    }),
    10_000,
    `GET ${path} over HTTP/1.1`,
  );
}

describe('rt broker with TLS', () => {
  it('--tls-cert/--tls-key: HTTP/2 and HTTP/1.1 on one port', async () => {
    await using cert = await selfSignedCertificate();
    await using broker = await new BrokerProcess(['--tls-cert', cert.certFile, '--tls-key', cert.keyFile]).start();
    assert.match(broker.url, /^https:/);
    const health = await h2Get(broker.url, cert.cert, '/rt/health');
    assert.equal(health.status, 200);
    assert.equal(JSON.parse(health.body).status, 'ok');
    assert.equal(await h1Get(broker.url, cert.cert, '/rt/health'), 200);
    // An SSE stream over HTTP/2 carries no connection-specific header (RFC 9113 forbids them).
    const session = http2Connect(broker.url, { ca: cert.cert });
    try {
      const headers = await deadline(
        new Promise<Record<string, unknown>>((resolve, reject) => {
          session.on('error', reject);
          const stream = session.request({ ':path': '/rt/sse?frames=1' });
          stream.on('response', resolve);
          stream.on('error', reject);
        }),
        10_000,
        'the SSE stream to answer',
      );
      assert.equal(headers[':status'], 200);
      assert.match(String(headers['content-type']), /text\/event-stream/);
      assert.equal(headers.connection, undefined);
      // Node would drop such a header itself, with a warning on stderr: the broker sends none.
      await h2Get(broker.url, cert.cert, '/rt/health');
      assert.doesNotMatch(broker.output, /connection header/);
    } finally {
      session.destroy();
    }
  });

  it('--allow-http1 false serves HTTP/2 only', async () => {
    await using cert = await selfSignedCertificate();
    await using broker = await new BrokerProcess([
      '--tls-cert',
      cert.certFile,
      '--tls-key',
      cert.keyFile,
      '--allow-http1',
      'false',
    ]).start();
    assert.equal((await h2Get(broker.url, cert.cert, '/rt/health')).status, 200);
    await assert.rejects(h1Get(broker.url, cert.cert, '/rt/health'));
  });

  it('rt.config.json "tls", RT_TLS_* and flags; both files or neither', async () => {
    await using cert = await selfSignedCertificate();
    const dir = dirname(cert.certFile);
    await writeFile(
      join(dir, 'rt.config.json'),
      JSON.stringify({ tls: { cert: 'cert.pem', key: 'key.pem', allowHTTP1: false } }),
    );
    const fromFile = loadConfig({}, {}, dir);
    assert.deepEqual(fromFile.tls, { cert: cert.cert, key: cert.key, allowHTTP1: false });
    const fromEnv = loadConfig({}, { RT_TLS_CERT: cert.certFile, RT_TLS_KEY: cert.keyFile }, '/');
    assert.deepEqual(fromEnv.tls, { cert: cert.cert, key: cert.key });
    assert.equal(loadConfig({}, {}, '/').tls, undefined);
    assert.throws(() => loadConfig({ tlsCert: cert.certFile }, {}, '/'), /needs both a certificate .* and a key/);
    assert.throws(() => loadConfig({ tlsCert: 'missing.pem', tlsKey: cert.keyFile }, {}, '/'), /cannot read/);
  });
});
