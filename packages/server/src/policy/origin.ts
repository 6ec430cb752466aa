/**
 * Origin rules (`allowOrigin`), in the forms Mercury's `allow_origin` takes, matched part by
 * part and never as substrings:
 *
 * | rule                       | scheme | host                          | port |
 * |----------------------------|--------|-------------------------------|------|
 * | `*`                        | any    | any (and requests without an Origin) | any |
 * | `example.com`              | any    | `example.com` or a subdomain  | any  |
 * | `*.example.com`            | any    | a subdomain of `example.com`  | any  |
 * | `*://www.example.com`      | any    | exactly `www.example.com`     | any  |
 * | `https://www.example.com`  | https  | exactly `www.example.com`     | any  |
 * | `http://www.example.com:*` | http   | exactly `www.example.com`     | any  |
 * | `https://example.com:8443` | https  | exactly `example.com`         | 8443 |
 *
 * So `example.com` admits `http://www.example.com:3000` but never `http://notexample.com`
 * nor `http://example.com.evil.net`. A port left out means any port; a default port is the
 * scheme's (`https://a.com` is port 443).
 */

/** One parsed rule. `undefined` parts match anything. */
interface OriginRule {
  scheme?: string;
  /** `exact`: the host itself; `self-or-sub`: it or a subdomain; `sub`: a subdomain only; `any`. */
  host: { kind: 'exact' | 'self-or-sub' | 'sub'; name: string } | { kind: 'any' };
  port?: number;
}

/** A parsed Origin header. */
interface Origin {
  scheme: string;
  host: string;
  port: number;
}

const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443, ws: 80, wss: 443 };
const SCHEME = /^[a-z][a-z0-9+.-]*$/;
const HOST_LABELS = /^(?:[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$/;
const IPV6 = /^\[[0-9a-f:.]+\]$/;

function validHost(host: string): boolean {
  return HOST_LABELS.test(host) || IPV6.test(host);
}

function parsePort(text: string, where: string): number {
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port > 65535) throw new TypeError(`allowOrigin "${where}": bad port "${text}"`);
  return port;
}

/** Parses one `allowOrigin` entry; throws a `TypeError` naming it when it is malformed. */
function parseOriginRule(text: string): OriginRule | 'any' {
  const rule = text.trim().toLowerCase();
  if (rule === '*') return 'any';
  const m = /^(?:([^:/]+):\/\/)?(\[[^\]]*\]|[^:/]+)(?::([^:/]+))?$/.exec(rule);
  if (!m)
    throw new TypeError(
      `allowOrigin "${text}": expected e.g. example.com, *.example.com or https://app.example.com:8443`,
    );
  const [, scheme, host = '', port] = m;
  const out: OriginRule = { host: { kind: 'any' } };
  if (scheme !== undefined && scheme !== '*') {
    if (!SCHEME.test(scheme)) throw new TypeError(`allowOrigin "${text}": bad scheme "${scheme}"`);
    out.scheme = scheme;
  }
  if (port !== undefined && port !== '*') out.port = parsePort(port, text);
  const bare = scheme === undefined && port === undefined;
  if (host === '*') out.host = { kind: 'any' };
  else if (host.startsWith('*.')) {
    const name = host.slice(2);
    if (!HOST_LABELS.test(name)) throw new TypeError(`allowOrigin "${text}": bad host "${host}"`);
    out.host = { kind: 'sub', name };
  } else {
    if (!validHost(host)) throw new TypeError(`allowOrigin "${text}": bad host "${host}"`);
    // A bare name stands for the site: itself and its subdomains (an IP address has none).
    const ip = IPV6.test(host) || /^\d+(?:\.\d+){3}$/.test(host);
    out.host = { kind: bare && !ip ? 'self-or-sub' : 'exact', name: host };
  }
  return out;
}

/** Parses a `Host` header (`host[:port]`); `undefined` when it is not one. */
export function parseHost(header: string): { host: string; port: number | undefined } | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::(\d{1,5}))?$/.exec(header.trim().toLowerCase());
  if (!m || !validHost(m[1]!)) return undefined;
  return { host: m[1]!, port: m[2] === undefined ? undefined : Number(m[2]) };
}

/**
 * True when a DNS rebinding attack cannot produce this `Host`: an IP address (a browser sends
 * the name it resolved, never the address, when a page uses a name) or `localhost`.
 */
export function isRebindingProof(host: string): boolean {
  return (
    /^\d{1,3}(?:\.\d{1,3}){3}$/.test(host) || IPV6.test(host) || host === 'localhost' || host.endsWith('.localhost')
  );
}

/** The port of an origin with this scheme when it names none. */
export function defaultPort(scheme: string): number | undefined {
  return DEFAULT_PORTS[scheme];
}

/** Parses an `Origin` header (`scheme://host[:port]`, nothing else); `undefined` when it is not one (`null`, paths, user info). */
export function parseOrigin(header: string): Origin | undefined {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::(\d{1,5}))?$/.exec(header.trim().toLowerCase());
  if (!m) return undefined;
  const [, scheme = '', host = '', portText] = m;
  if (!validHost(host)) return undefined;
  const port = portText !== undefined ? Number(portText) : DEFAULT_PORTS[scheme];
  if (port === undefined || port > 65535) return undefined;
  return { scheme, host, port };
}

function hostMatches(rule: OriginRule['host'], host: string): boolean {
  switch (rule.kind) {
    case 'any':
      return true;
    case 'exact':
      return host === rule.name;
    case 'sub':
      return host.endsWith(`.${rule.name}`);
    case 'self-or-sub':
      return host === rule.name || host.endsWith(`.${rule.name}`);
  }
}

/**
 * The compiled form of `allowOrigin`. `allows(header)` says whether a request with that
 * `Origin` header (or none) may come in.
 */
export class OriginPolicy {
  private readonly rules: OriginRule[] = [];
  private readonly anything: boolean;
  /** True when some entry is not `*`: an explicit list of origins. */
  readonly hasList: boolean;

  /** Compiles `allowOrigin`; throws a `TypeError` on a malformed entry. */
  constructor(allowOrigin: string | readonly string[]) {
    const entries = (typeof allowOrigin === 'string' ? [allowOrigin] : allowOrigin)
      .flatMap((e) => e.split(/[\s,]+/))
      .filter((e) => e !== '');
    if (entries.length === 0) throw new TypeError('allowOrigin is empty: give at least one origin, or "*"');
    let anything = false;
    for (const entry of entries) {
      const rule = parseOriginRule(entry);
      if (rule === 'any') anything = true;
      else this.rules.push(rule);
    }
    this.anything = anything;
    this.hasList = this.rules.length > 0;
  }

  /** True when a request with this `Origin` header may come in (`undefined`: the request had none). */
  allows(header: string | undefined): boolean {
    return this.anything || this.lists(header);
  }

  /**
   * True when this `Origin` is allowed by an entry other than `*`: such origins, and only
   * they, get credentialed CORS answers and may authenticate with a cookie.
   */
  lists(header: string | undefined): boolean {
    if (header === undefined) return false;
    const origin = parseOrigin(header);
    if (!origin) return false;
    return this.rules.some(
      (r) =>
        (r.scheme === undefined || r.scheme === origin.scheme) &&
        (r.port === undefined || r.port === origin.port) &&
        hostMatches(r.host, origin.host),
    );
  }
}
