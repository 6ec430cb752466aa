import type { ServerResponse } from 'node:http';
import { sendJson } from '../http.js';
import type { MonitorSource } from './source.js';

/**
 * Kubernetes-style probes:
 *
 * - `GET {prefix}/livez`: `200 {"status":"ok"}` while the process answers HTTP at all
 *   (a liveness probe restarts a process that stops answering; Redis being down is no
 *   reason to restart it).
 * - `GET {prefix}/readyz`: `200 {"status":"ready"}` once the engine started, can serve and
 *   (Redis) has its subscriptions re-established after a reconnect; otherwise
 *   `503 {"status":"unavailable","reason":"..."}` (and while the broker shuts down), so a
 *   load balancer sends new clients elsewhere.
 */
export class Probes {
  private started = false;

  constructor(private readonly source: MonitorSource) {
    source.whenReady().then(
      () => {
        this.started = true;
      },
      () => undefined,
    );
  }

  /** Adds the routes under `prefix`. */
  route(): void {
    const { source } = this;
    source.addRoute('GET', `${source.prefix}/livez`, (_req, res) => live(res));
    source.addRoute('GET', `${source.prefix}/readyz`, (_req, res) => this.ready(res));
  }

  /** Why the broker is not ready, or `undefined` when it is. */
  async problem(): Promise<string | undefined> {
    const { source } = this;
    if (source.isClosing) return 'the broker is shutting down';
    if (!this.started) return 'the engine is starting';
    const health = await source.ready();
    if (source.isClosing) return 'the broker is shutting down';
    return health.ok ? undefined : (health.detail ?? 'the engine cannot serve');
  }

  private async ready(res: ServerResponse): Promise<void> {
    const problem = await this.problem();
    res.setHeader('cache-control', 'no-store');
    const engine = this.source.stats().engine;
    if (problem === undefined) sendJson(res, 200, { status: 'ready', engine });
    else sendJson(res, 503, { status: 'unavailable', engine, reason: problem });
  }
}

function live(res: ServerResponse): void {
  res.setHeader('cache-control', 'no-store');
  sendJson(res, 200, { status: 'ok' });
}
