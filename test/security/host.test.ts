/**
 * The Host header and the own-origin exemption (issue 13): with `--allow-origin example.com`,
 * `Origin: http://evil.net:PORT` with `Host: evil.net:PORT` was admitted as the broker's own
 * origin, which is what a DNS rebinding attack sends (evil.net resolving to the broker's
 * address); the scheme was not compared either. Now the exemption compares scheme, host and
 * port, and trusts only a Host that rebinding cannot forge (an IP address, localhost) or one
 * that `allowOrigin` lists.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startBroker } from '../helpers/index.ts';

/** GETs a plain SSE stream with exactly these headers (fetch does not let a test set Host); resolves with the status. */
function status(port: number, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/rt/sse?topic=a', headers }, (res) => {
      resolve(res.statusCode ?? 0);
      res.destroy();
    });
    req.on('error', reject);
    req.end();
  });
}

describe('security: Host and the own-origin exemption', () => {
  it('refuses a DNS-rebinding page (Origin and Host both evil.net) and wrong schemes or ports', async () => {
    await using b = await startBroker({ allowOrigin: 'example.com' });
    const p = b.port;
    const cases: [Record<string, string>, number, string][] = [
      [{ host: `evil.net:${p}`, origin: `http://evil.net:${p}` }, 401, 'rebinding'],
      [{ host: `evil.net:${p}`, 'sec-fetch-site': 'same-origin' }, 401, 'rebinding without Origin'],
      [{ host: `127.0.0.1:${p}`, origin: `foo://127.0.0.1:${p}` }, 401, 'another scheme'],
      [{ host: `127.0.0.1:${p}`, origin: 'http://127.0.0.1' }, 401, 'another port (80)'],
      [{ host: `127.0.0.1:${p}`, origin: `http://127.0.0.1:${p}` }, 200, 'own origin by IP'],
      [{ host: `localhost:${p}`, origin: `http://localhost:${p}` }, 200, 'own origin on localhost'],
      [{ host: `127.0.0.1:${p}`, 'sec-fetch-site': 'same-origin' }, 200, 'same-origin GET by IP'],
      [{ host: `www.example.com:${p}`, origin: `http://www.example.com:${p}` }, 200, 'a listed host'],
      [{ host: 'www.example.com', origin: 'http://www.example.com' }, 200, 'a listed host, default port'],
    ];
    for (const [headers, expected, what] of cases) assert.equal(await status(p, headers), expected, what);
  });
});
