import { createHash, randomBytes } from 'node:crypto';
import { RtError } from '@rt/protocol';
import type { ForwardedRequest, ForwardedResponse, Forwarding } from '../engine.js';
import type { Logger } from '../../options.js';
import { type Connections, unavailable } from './connection.js';

/** How long a forwarded request may wait for the owner's answer (a long-poll holds up to ~45 s). */
const FORWARD_TIMEOUT_MS = 60_000;
/** How long an ownership record outlives a node that died without releasing it. */
const CLAIM_TTL_MS = 24 * 3600_000;

interface Envelope {
  t: 'req' | 'res';
  id: string;
  /** The node to answer (requests). */
  from?: string;
  method?: string;
  url?: string;
  status?: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

/**
 * Forwarding through Redis: `P own:<hash of id>` names the node that owns a connection id; each node
 * listens on its own channel `P node:<nodeId>` for requests forwarded to it and for answers
 * to the requests it forwarded.
 */
export class RedisForwarding implements Forwarding {
  private readonly waiting = new Map<
    string,
    { owner: string; resolve: (r: ForwardedResponse | undefined) => void; timer: ReturnType<typeof setTimeout> }
  >();
  /** Checks, while requests wait, that their owners are still there (a dead owner never answers). */
  private watchdog: ReturnType<typeof setInterval> | undefined;
  private handler: ((request: ForwardedRequest) => Promise<ForwardedResponse>) | undefined;

  constructor(
    private readonly conns: Connections,
    private readonly prefix: string,
    private readonly nodeId: string,
    private readonly logger: Logger,
  ) {}

  /** This node's channel. */
  get channel(): string {
    return `${this.prefix}node:${this.nodeId}`;
  }

  /** The key naming the owner of `id`: ids can be secrets (SSE POST tokens), so Redis sees only their hash. */
  private ownerKey(id: string): string {
    return `${this.prefix}own:${createHash('sha256').update(id).digest('base64url')}`;
  }

  claim(id: string): void {
    this.conns.cmd
      .set(this.ownerKey(id), this.nodeId, 'PX', CLAIM_TTL_MS)
      .catch((e: Error) =>
        this.logger.warn(
          { err: e.message, id },
          'could not record the owner of a connection: requests for it on other nodes will fail',
        ),
      );
  }

  release(id: string): void {
    this.conns.cmd.del(this.ownerKey(id)).catch(() => undefined);
  }

  serve(handler: (request: ForwardedRequest) => Promise<ForwardedResponse>): void {
    this.handler = handler;
  }

  async forward(id: string, request: ForwardedRequest): Promise<ForwardedResponse | undefined> {
    let owner: string | null;
    try {
      owner = await this.conns.cmd.get(this.ownerKey(id));
    } catch (error) {
      throw unavailable(error);
    }
    if (owner === null || owner === this.nodeId) return undefined;
    const reqId = randomBytes(8).toString('hex');
    const envelope: Envelope = {
      t: 'req',
      id: reqId,
      from: this.nodeId,
      method: request.method,
      url: request.url,
      headers: request.headers,
      body: request.body.toString('base64'),
    };
    const answer = new Promise<ForwardedResponse | undefined>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(reqId);
        reject(new RtError('unavailable', 'the node that owns this connection did not answer'));
      }, FORWARD_TIMEOUT_MS);
      timer.unref();
      this.waiting.set(reqId, { owner, resolve, timer });
    });
    this.watch();
    try {
      const receivers = await this.conns.cmd.publish(`${this.prefix}node:${owner}`, JSON.stringify(envelope));
      if (receivers === 0) {
        // The owner is gone: the connection is gone with it.
        this.settle(reqId, undefined);
        return undefined;
      }
    } catch (error) {
      this.settle(reqId, undefined);
      throw unavailable(error);
    }
    return answer;
  }

  private settle(reqId: string, response: ForwardedResponse | undefined): void {
    const w = this.waiting.get(reqId);
    if (!w) return;
    this.waiting.delete(reqId);
    clearTimeout(w.timer);
    w.resolve(response);
  }

  /**
   * Every second while requests wait: an owner whose channel has no subscriber any more died
   * (its connection to Redis closed with it), so its requests end now as "no owner" instead
   * of hanging until the timeout.
   */
  private watch(): void {
    if (this.watchdog) return;
    this.watchdog = setInterval(() => {
      if (this.waiting.size === 0) {
        clearInterval(this.watchdog);
        this.watchdog = undefined;
        return;
      }
      const owners = [...new Set([...this.waiting.values()].map((w) => w.owner))];
      this.conns.cmd
        .call('PUBSUB', 'NUMSUB', ...owners.map((o) => `${this.prefix}node:${o}`))
        .then((reply) => {
          const counts = reply as (string | number)[];
          const gone = new Set(owners.filter((_, i) => Number(counts[i * 2 + 1]) === 0));
          for (const [reqId, w] of this.waiting) if (gone.has(w.owner)) this.settle(reqId, undefined);
        })
        .catch(() => undefined);
    }, 1000);
    this.watchdog.unref();
  }

  /** Stops the watchdog (the engine closes). */
  close(): void {
    if (this.watchdog) clearInterval(this.watchdog);
  }

  /** A message on this node's channel. */
  onMessage(text: string): void {
    let envelope: Envelope;
    try {
      envelope = JSON.parse(text) as Envelope;
    } catch {
      return;
    }
    if (envelope.t === 'res') {
      this.settle(envelope.id, {
        status: envelope.status ?? 502,
        headers: envelope.headers,
        body: Buffer.from(envelope.body, 'base64'),
      });
      return;
    }
    const handler = this.handler;
    const from = envelope.from;
    if (!handler || !from) return;
    const request: ForwardedRequest = {
      method: envelope.method ?? 'GET',
      url: envelope.url ?? '/',
      headers: envelope.headers as ForwardedRequest['headers'],
      body: Buffer.from(envelope.body, 'base64'),
    };
    handler(request)
      .catch((): ForwardedResponse => ({ status: 502, headers: {}, body: Buffer.alloc(0) }))
      .then((response) => {
        const reply: Envelope = {
          t: 'res',
          id: envelope.id,
          status: response.status,
          headers: response.headers,
          body: response.body.toString('base64'),
        };
        return this.conns.cmd.publish(`${this.prefix}node:${from}`, JSON.stringify(reply));
      })
      .catch((e: Error) => this.logger.warn({ err: e.message }, 'could not answer a forwarded request'));
  }
}
