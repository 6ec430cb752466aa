import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Policy } from './policy.js';

/** Request headers a browser may send to rt's HTTP endpoints. */
const ALLOWED_HEADERS = 'Authorization, Content-Type, Cache-Control, Last-Event-ID';

/**
 * Sets the CORS headers of an answer to `req` by the `allowOrigin` rules: an Origin listed
 * there is echoed back with credentials (cookies) allowed; without `allowOrigin`, or for an
 * origin only `*` admits, the answer is `Access-Control-Allow-Origin: *` without
 * credentials (pages may call with a token, never with the user's cookies); any other Origin
 * gets no CORS header, so the browser keeps the answer from the page. Returns true when it
 * answered a preflight (`OPTIONS`) itself.
 */
export function applyCors(
  policy: Policy,
  req: IncomingMessage,
  res: ServerResponse,
  methods = 'GET, POST, OPTIONS',
): boolean {
  const origin = req.headers.origin;
  res.setHeader('Vary', 'Origin');
  const answer = policy.corsFor(origin);
  const allowed = answer !== undefined;
  if (answer) {
    res.setHeader('Access-Control-Allow-Origin', answer.origin);
    if (answer.credentials) res.setHeader('Access-Control-Allow-Credentials', 'true');
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

/** The request and answer shapes of the `cors` package's options delegate (as socket.io takes it). */
type CorsDelegate = (
  req: { headers: { origin?: string | undefined } },
  callback: (err: Error | null, options?: { origin: boolean | string; credentials: boolean }) => void,
) => void;

/**
 * socket.io's `cors` option with the same answers as {@link applyCors}: listed origins get
 * themselves back with credentials, others `*` without (or nothing, see `Policy.corsFor`).
 */
export function socketIoCors(policy: Policy): CorsDelegate {
  return (req, callback) => {
    const answer = policy.corsFor(req.headers.origin);
    callback(
      null,
      answer
        ? { origin: answer.origin === '*' ? '*' : true, credentials: answer.credentials }
        : { origin: false, credentials: false },
    );
  };
}
