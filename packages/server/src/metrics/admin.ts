import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError, sendFailure, sendJson } from '../http.js';
import { ADMIN_PAGE } from './admin-page.js';
import type { AdminOptions } from './options.js';
import { bearerMatches } from './bearer.js';
import type { Probes } from './probes.js';
import { snapshot } from './snapshot.js';
import type { MonitorSource } from './source.js';

/** Topics listed on the admin page, most subscribed first. */
const TOP_TOPICS = 100;

/** Sums a counter map. */
function total(map: ReadonlyMap<string, number>): number {
  let sum = 0;
  for (const n of map.values()) sum += n;
  return sum;
}

/**
 * The admin page: `GET {prefix}/admin` (plain HTML and JS) and the JSON it polls,
 * `GET {prefix}/admin/state`: connections by door and transport, topics with their
 * subscriber counts (the 100 most subscribed), work queues with their depth (engines that
 * report them), readiness and the same counters as the metrics (the page turns them into
 * rates), and `GET {prefix}/admin/presence?topic=` for the presence of the topic chosen on the
 * page. With a token, `state` and `presence` need `Authorization: Bearer <token>`; the page reads the
 * token from its URL (`#token=...`) and sends it.
 */
export class Admin {
  private readonly startedAt = Date.now();

  constructor(
    private readonly source: MonitorSource,
    private readonly options: AdminOptions,
    private readonly probes: Probes,
  ) {}

  /** Adds the routes. */
  route(): void {
    const prefix = this.source.prefix;
    this.source.addRoute('GET', `${prefix}/admin`, (_req, res) => page(res));
    this.source.addRoute('GET', `${prefix}/admin/state`, async (req, res) => {
      if (!this.allowed(req, res)) return;
      res.setHeader('cache-control', 'no-store');
      sendJson(res, 200, await this.state());
    });
    // The presence of the topic chosen on the page: `{topic, members}`, or the error.
    this.source.addRoute('GET', `${prefix}/admin/presence`, async (req, res, url) => {
      if (!this.allowed(req, res)) return;
      res.setHeader('cache-control', 'no-store');
      const topic = url.searchParams.get('topic') ?? '';
      try {
        sendJson(res, 200, { topic, members: await this.source.presence(topic) });
      } catch (e) {
        sendFailure(res, e);
      }
    });
  }

  /** True when the request may read the admin state (it carries the token, when there is one); answers 401 otherwise. */
  private allowed(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.options.token === undefined || bearerMatches(req, this.options.token)) return true;
    sendError(res, 'unauthorized', 'the admin page needs its token: open it as /rt/admin#token=...');
    return false;
  }

  /** What the page shows, now. */
  async state(): Promise<Record<string, unknown>> {
    const source = this.source;
    const gauges = await source.gauges();
    const stats = source.stats();
    const node = snapshot(source);
    const counters = source.counters;
    const problem = await this.probes.problem();
    const topics = [...node.topics]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, TOP_TOPICS)
      .map(([topic, subscribers]) => ({ topic, subscribers }));
    return {
      at: Date.now(),
      engine: stats.engine,
      mode: source.mode,
      uptimeSec: Math.round((Date.now() - this.startedAt) / 1000),
      ready: problem === undefined,
      ...(problem !== undefined ? { reason: problem } : {}),
      connections: [...node.connections].map(([key, count]) => {
        const [door, transport] = key.split(' ');
        return { door, transport, count };
      }),
      subscriptions: node.subscriptions,
      busJoins: node.busJoins,
      pullers: node.pullers,
      topicCount: node.topics.size,
      topics,
      queues: gauges?.queues ?? source.queues() ?? null,
      counters: {
        framesIn: stats.framesIn,
        badFrames: stats.badFrames,
        published: stats.published,
        delivered: [...counters.delivered.values()].reduce((sum, d) => sum + d.pubsub + d.bus + d.job, 0),
        bytesIn: total(counters.bytesIn),
        bytesOut: total(counters.bytesOut),
        gaps: total(counters.gaps),
        authFailures: total(counters.authFailures),
        dropped: stats.outboundDropped + (stats.historyEvicted ?? 0),
        slowDisconnects: stats.slowDisconnects,
        pushed: stats.pushed,
        acked: counters.acked,
        nacked: counters.nacked,
        redelivered: stats.redelivered,
      },
    };
  }
}

function page(res: ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
  });
  res.end(ADMIN_PAGE);
}
