import type { IncomingMessage, ServerResponse } from 'node:http';
import { RtError } from '@rt/protocol';
import { sendFailure, sendJson } from '../http.js';
import type { Caller } from '../ops/types.js';
import type { Transport, TransportHost } from './host.js';

/**
 * Presence for backends: `GET {prefix}/presence?topic=room/1` answers
 * `200 {"topic": "room/1", "members": [{clientId, subject?, info?, since}, …]}`, the members
 * on every node. Authenticated like HTTP publishing (a token in `Authorization: Bearer` when
 * the broker authenticates; anyone with `httpPublish: 'open'`; refused with 403 when
 * `httpPublish` is false) and authorized as the operation `presence` on the topic.
 */
export class HttpPresenceTransport implements Transport {
  setup(broker: TransportHost): void {
    const path = `${broker.options.prefix}/presence`;
    broker.addRoute('GET', path, (req, res, url) => this.members(broker, req, res, url));
    broker.addRoute('OPTIONS', path, (req, res) => void broker.cors(req, res, 'GET, OPTIONS'));
  }

  attach(): void {}

  async close(): Promise<void> {}

  private async members(broker: TransportHost, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    broker.cors(req, res, 'GET, OPTIONS');
    try {
      const mode = broker.options.httpPublish;
      if (mode === false) throw new RtError('forbidden', 'HTTP publishing, and with it GET presence, is disabled');
      const topic = url.searchParams.get('topic');
      if (topic === null) throw new RtError('invalid_topic', 'GET presence needs ?topic=');
      const caller: Caller =
        mode === 'open'
          ? { identity: null, trusted: 'http' }
          : { identity: await broker.admit({ transport: 'http', headers: req.headers, query: url.searchParams }) };
      const snapshot = await broker.ops.presence(caller, topic, { do: 'get' });
      res.setHeader('cache-control', 'no-store');
      sendJson(res, 200, { topic, members: snapshot?.members ?? [] });
    } catch (e) {
      sendFailure(res, e);
    }
  }
}
