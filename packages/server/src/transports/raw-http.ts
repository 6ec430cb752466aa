import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TransportHost } from './host.js';
import { bodyPayload, readBody, sendFailure, sendJson } from '../http.js';
import type { Caller } from '../ops/types.js';
import { queryRetain } from '../ops/retain.js';
import { admitRequest } from './handshake.js';

/** The raw endpoints, Mercury's names. */
export type RawKind = 'bus' | 'sub' | 'pub' | 'push' | 'pull';
const KINDS: ReadonlySet<string> = new Set<RawKind>(['bus', 'sub', 'pub', 'push', 'pull']);

/**
 * Reads `{prefix}/<kind>/<topic>` from a path: `null` when the path is not a raw endpoint.
 * The topic is percent-decoded (an undecodable one is returned as it is, for the topic check
 * to refuse).
 */
export function rawTarget(pathname: string, prefix: string): { kind: RawKind; topic: string } | null {
  if (prefix !== '' && !pathname.startsWith(prefix + '/')) return null;
  const rest = pathname.slice(prefix.length + 1);
  const slash = rest.indexOf('/');
  if (slash <= 0 || !KINDS.has(rest.slice(0, slash))) return null;
  const raw = rest.slice(slash + 1);
  let topic = raw;
  try {
    topic = decodeURIComponent(raw);
  } catch {
    // left as is: not a valid topic either
  }
  return { kind: rest.slice(0, slash) as RawKind, topic };
}

/**
 * Mercury's HTTP side of the raw endpoints: `POST {rawPrefix}/pub/<topic>`, `/bus/<topic>` and
 * `/push/<topic>` with the payload as the body (`application/octet-stream`: bytes; anything else:
 * UTF-8 text, byte-exact), answering `200` with an empty body, as Mercury does. Each request is admitted by
 * {@link TransportHost.admit} and carried out by the operations core, so authorization and
 * limits apply; a bus message from HTTP reaches every peer. A `GET` of a raw
 * path without a WebSocket upgrade gets 426.
 */
export class RawHttp {
  constructor(
    private readonly broker: TransportHost,
    private readonly prefix: string,
  ) {}

  /** Adds the routes. */
  routes(): void {
    for (const kind of ['pub', 'bus', 'push'] as const) {
      this.broker.addRoute('POST', `${this.prefix}/${kind}/*`, (req, res, url) => this.post(kind, req, res, url));
      this.broker.addRoute(
        'OPTIONS',
        `${this.prefix}/${kind}/*`,
        (req, res) => void this.broker.cors(req, res, 'POST, OPTIONS'),
      );
    }
    for (const kind of KINDS) {
      this.broker.addRoute('GET', `${this.prefix}/${kind}/*`, (_req, res) =>
        sendJson(res, 426, {
          error: {
            code: 'bad_frame',
            message: `${kind} endpoints are WebSocket endpoints: connect with a WebSocket (ws://)`,
          },
        }),
      );
    }
  }

  private async post(kind: 'pub' | 'bus' | 'push', req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const broker = this.broker;
    broker.cors(req, res, 'POST, OPTIONS');
    const topic = rawTarget(url.pathname, this.prefix)?.topic ?? '';
    try {
      const caller: Caller = { identity: await admitRequest(broker, 'http', req, url) };
      const data = { data: bodyPayload(req, await readBody(req, broker.limits.maxPayloadBytes)) };
      const ops = broker.ops;
      if (kind === 'pub') await ops.publish(caller, topic, data, queryRetain(url) ? { retain: true } : {});
      else await (kind === 'bus' ? ops.sendBus(caller, topic, data) : ops.push(caller, topic, data));
      // As Mercury: 200 with an empty body (`POST {prefix}/publish` is the one that answers JSON).
      res.writeHead(200, { 'content-length': '0' });
      res.end();
    } catch (e) {
      if (!res.headersSent) req.resume();
      sendFailure(res, e);
    }
  }
}
