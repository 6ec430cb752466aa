import { RtError } from '@rt/protocol';

/** Where a broker is: its origin, and the path it is mounted under (behind a reverse proxy). */
export interface BrokerAddress {
  /** `http(s)://host[:port]` (a `ws:`/`wss:` URL maps to `http:`/`https:`). */
  origin: string;
  /** The URL's path without a trailing slash (`''` for none): rt's endpoints are under `{path}{prefix}`. */
  path: string;
}

const SCHEMES: Readonly<Record<string, string>> = {
  'http:': 'http:',
  'https:': 'https:',
  'ws:': 'http:',
  'wss:': 'https:',
};

/**
 * Reads the URL given to `connect()`. Throws `RtError('invalid_url')` for one the client cannot
 * use, with a hint when the scheme is missing (`127.0.0.1:4000` → `http://127.0.0.1:4000`).
 */
export function brokerAddress(url: unknown): BrokerAddress {
  if (typeof url !== 'string' || url.trim() === '')
    throw new RtError(
      'invalid_url',
      `connect() needs the broker's URL, e.g. http://127.0.0.1:4000 (got ${describe(url)})`,
    );
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  const scheme = parsed ? SCHEMES[parsed.protocol] : undefined;
  if (!parsed || !scheme) {
    const hint =
      /^[\w.-]+(:\d+)?(\/|$)/.test(url) || /^\[[\d:a-f]+\](:\d+)?/i.test(url) ? ` (did you mean http://${url}?)` : '';
    const why = parsed ? `its scheme "${parsed.protocol}" is not http:, https:, ws: or wss:` : 'it is not a URL';
    throw new RtError('invalid_url', `cannot connect to "${url}": ${why}${hint}`);
  }
  return { origin: `${scheme}//${parsed.host}`, path: parsed.pathname.replace(/\/+$/, '') };
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : typeof value;
}
