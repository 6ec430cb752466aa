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
  // Parsed by hand: React Native's URL cannot read a URL's parts.
  const m = /^([a-z][a-z\d+.-]*):\/\/([^/?#\s]+)([^?#\s]*)([?#]\S*)?$/i.exec(url.trim());
  const scheme = m ? SCHEMES[`${m[1]!.toLowerCase()}:`] : undefined;
  if (!m || !scheme) {
    const hint =
      /^[\w.-]+(:\d+)?(\/|$)/.test(url) || /^\[[\d:a-f]+\](:\d+)?/i.test(url) ? ` (did you mean http://${url}?)` : '';
    const why = m ? `its scheme "${m[1]}:" is not http:, https:, ws: or wss:` : 'it is not a URL';
    throw new RtError('invalid_url', `cannot connect to "${url}": ${why}${hint}`);
  }
  const host = m[2]!.replace(/^[^@]*@/, '');
  return { origin: `${scheme}//${host}`, path: m[3]!.replace(/\/+$/, '') };
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : typeof value;
}
