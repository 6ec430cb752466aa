import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import sirv from 'sirv';
import type { TransportHost } from './host.js';
import { sendError } from '../http.js';
import type { Transport } from './host.js';

const MINIMAL_PAGE = `<!doctype html><meta charset="utf-8"><title>rt broker</title>
<h1>rt broker</h1><p>The broker is running. Connect with <code>@rt/client</code>:</p>
<pre>import { connect } from '@rt/client';
const client = connect(location.origin);</pre>`;

/** The browser bundles of `@rt/client`, when built: `[file name, path]`. */
function clientBundles(): Map<string, string> {
  const out = new Map<string, string>();
  try {
    const require = createRequire(import.meta.url);
    const dist = join(dirname(require.resolve('@rt/client/package.json')), 'dist');
    for (const name of [
      'rt-client.browser.mjs',
      'rt-client.min.js',
      'rt-client.browser.mjs.map',
      'rt-client.min.js.map',
    ]) {
      if (existsSync(join(dist, name))) out.set(name, join(dist, name));
    }
  } catch {
    // @rt/client is not installed beside the server: no bundle to serve.
  }
  return out;
}

/**
 * Development mode: serves the example app (the `playground` folder) at `/` and the client's
 * browser bundles at `{prefix}/rt-client.browser.mjs` and `{prefix}/rt-client.min.js`, on
 * servers the broker owns (`listen()`); an application that embeds the broker keeps its `/`.
 */
export class PlaygroundTransport implements Transport {
  setup(broker: TransportHost): void {
    if (broker.options.mode !== 'development') return;
    for (const [name, path] of clientBundles()) {
      broker.addRoute('GET', `${broker.options.prefix}/${name}`, (_req, res) => {
        const type = name.endsWith('.map') ? 'application/json' : 'text/javascript';
        res.writeHead(200, { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-cache' });
        res.end(readFileSync(path));
      });
    }
    const dir = broker.options.playground;
    if (dir && existsSync(dir)) {
      const serve = sirv(dir, { dev: true, single: false });
      broker.setFallback((req, res) =>
        serve(req, res, () => sendError(res, 'not_found', `nothing at ${req.url ?? '/'}`)),
      );
    } else {
      broker.setFallback((req, res) => {
        if (req.url === '/' || req.url === '/index.html') {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
          res.end(MINIMAL_PAGE);
        } else sendError(res, 'not_found', `nothing at ${req.url ?? '/'}`);
      });
    }
  }

  attach(): void {}

  async close(): Promise<void> {}
}
