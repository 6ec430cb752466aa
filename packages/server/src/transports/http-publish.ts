import type { IncomingMessage, ServerResponse } from 'node:http';
import { RtError, type JsonValue, type Payload } from '@rt/protocol';
import type { TransportHost } from './host.js';
import type { Caller } from '../ops/types.js';
import { queryRetain } from '../ops/retain.js';
import type { Identity } from '../session.js';
import { bodyPayload, readBody, sendError, sendFailure, sendJson } from '../http.js';
import type { Transport } from './host.js';

/**
 * Publishing from backends in any language, and the health check:
 *
 * - `POST {prefix}/publish` with JSON `{"topic": "...", "data": ...}`;
 * - `POST {prefix}/publish?topic=a/b` with the payload as the body: `application/json` is
 *   parsed, `application/octet-stream` stays bytes, anything else is UTF-8 text, byte-exact
 *   (so `curl -d hello` publishes the string `"hello"`; invalid UTF-8 is refused with 400);
 * - `GET {prefix}/health`: `200 {"status": "ok", ...}`, or `503 {"status": "degraded", "engineStatus": why}`
 *   while the engine cannot serve (Redis unreachable).
 *
 * `"retain": true` in the JSON, or `?retain=1`, keeps the message as the topic's latest value
 * (see `ops/retain.ts`).
 *
 * An `Idempotency-Key` header makes a retried POST safe: within the dedupe window the broker
 * publishes once and answers every retry with the first offset. Keys are scoped to the
 * publisher (its token's subject), the operation and the topic: no other caller's key can
 * suppress a publish.
 *
 * Both answer `200 {"ok": true, "off": N}` or an error status with `{"error": {code, message}}`.
 * Publishing is authenticated and authorized like a connection's `pub` (a token in
 * `Authorization: Bearer`, with `rt.publish` covering the topic, when the broker
 * authenticates), unless `httpPublish` is `'open'`.
 */
export class HttpPublishTransport implements Transport {
  setup(broker: TransportHost): void {
    const prefix = broker.options.prefix;
    broker.addRoute('POST', `${prefix}/publish`, (req, res, url) => this.publish(broker, req, res, url));
    broker.addRoute('OPTIONS', `${prefix}/publish`, (req, res) => void broker.cors(req, res, 'POST, OPTIONS'));
    broker.addRoute('GET', `${prefix}/health`, (_req, res) => {
      // 503 while the engine cannot serve (Redis unreachable): load balancers route new clients elsewhere.
      const health = broker.health();
      sendJson(res, health.ok ? 200 : 503, {
        status: health.ok ? 'ok' : 'degraded',
        engine: health.engine,
        ...(health.detail !== undefined ? { engineStatus: health.detail } : {}),
        sessions: health.sessions,
      });
    });
  }

  attach(): void {}

  async close(): Promise<void> {}

  private async publish(broker: TransportHost, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    broker.cors(req, res, 'POST, OPTIONS');
    if (broker.options.httpPublish === false) {
      sendError(res, 'forbidden', 'HTTP publishing is disabled on this broker');
      return;
    }
    const open = broker.options.httpPublish === 'open';
    let identity: Identity = null;
    let body: Buffer;
    try {
      // Credentials first: a refused request is not read further than its headers.
      if (!open) identity = await broker.admit({ transport: 'http', headers: req.headers, query: url.searchParams });
      // JSON envelopes and base64 cost some bytes over the payload itself.
      body = await readBody(req, broker.limits.maxPayloadBytes * 2 + 4096);
    } catch (e) {
      sendFailure(res, e);
      return;
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    let topic = url.searchParams.get('topic');
    let data: Payload;
    try {
      let retain = queryRetain(url);
      if (topic !== null) {
        data = type === 'application/json' ? parseJson(body) : bodyPayload(req, body);
      } else {
        const envelope = parseJson(body);
        if (typeof envelope !== 'object' || envelope === null || Array.isArray(envelope) || !('topic' in envelope)) {
          throw new RtError('bad_frame', 'expected JSON {"topic": "...", "data": ...} or ?topic=');
        }
        if (typeof envelope.topic !== 'string') throw new RtError('invalid_topic', '"topic" must be a string');
        if (!('data' in envelope) || envelope.data === undefined) throw new RtError('bad_frame', '"data" is missing');
        topic = envelope.topic;
        data = envelope.data;
        if ('retain' in envelope && envelope.retain !== undefined) {
          if (typeof envelope.retain !== 'boolean') throw new RtError('bad_frame', '"retain" must be true or false');
          retain = envelope.retain;
        }
      }
      const key = req.headers['idempotency-key'];
      if (key !== undefined && (typeof key !== 'string' || key.length === 0 || key.length > 128)) {
        throw new RtError('bad_frame', 'Idempotency-Key must be 1 to 128 characters');
      }
      // `open`: anyone may publish, as the application would; else authorized like a connection's `pub`.
      const caller: Caller = open ? { identity: null, trusted: 'http' } : { identity };
      const { off } = await broker.ops.publish(
        caller,
        topic,
        { data },
        { ...(key === undefined ? {} : { key }), ...(retain ? { retain } : {}) },
      );
      sendJson(res, 200, { ok: true, off });
    } catch (e) {
      sendFailure(res, e);
    }
  }
}

function parseJson(body: Buffer): JsonValue {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new RtError('bad_frame', 'body is not valid JSON');
  }
}
