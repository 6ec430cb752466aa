import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Policy } from './policy.js';

/** Request headers a browser may send to rt's HTTP endpoints. */
const ALLOWED_HEADERS = 'Authorization, Content-Type, Cache-Control, Last-Event-ID';

/**
 * Sets the CORS headers of an answer to `req` by the `allowOrigin` rules: an allowed Origin
 * is echoed back, with credentials (cookies) allowed; any other Origin gets no CORS header,
 * so the browser keeps the answer from the page. Without `allowOrigin`, every Origin is
 * echoed. Returns true when it answered a preflight (`OPTIONS`) itself.
 */
export function applyCors(
  policy: Policy,
  req: IncomingMessage,
  res: ServerResponse,
  methods = 'GET, POST, OPTIONS',
): boolean {
  const origin = req.headers.origin;
  res.setHeader('Vary', 'Origin');
  const allowed = origin !== undefined && policy.allowsOrigin(origin);
  if (allowed) {
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Allow-Credentials', 'true');
  }
  if (req.method !== 'OPTIONS') return false;
  if (allowed) {
    res.setHeader('Access-Control-Allow-Methods', methods);
    res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS);
    res.setHeader('Access-Control-Max-Age', '600');
  }
  res.writeHead(204);
  res.end();
  return true;
}
