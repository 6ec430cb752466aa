import { type IncomingMessage, type Server as HttpServer, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sendError } from '../http.js';
import { Admin } from './admin.js';
import { bearerMatches } from './bearer.js';
import { Probes } from './probes.js';
import { BrokerMetrics } from './prometheus.js';
import type { MonitorSource } from './source.js';

/**
 * The operations endpoints of a broker: the probes (`{prefix}/livez`, `{prefix}/readyz`),
 * Prometheus metrics (`{prefix}/metrics`, when the `metrics` option is on) and the admin page
 * (`{prefix}/admin`, see the `admin` option). The broker creates one and closes it.
 */
export class Monitor {
  private metrics: BrokerMetrics | undefined;
  private server: HttpServer | undefined;
  private serverReady: Promise<void> | undefined;

  constructor(private readonly source: MonitorSource) {
    const probes = new Probes(source);
    probes.route();
    const options = source.metrics;
    if (options !== false) {
      const metrics = new BrokerMetrics(source);
      this.metrics = metrics;
      const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
        if (options.token !== undefined && !bearerMatches(req, options.token)) {
          res.setHeader('www-authenticate', 'Bearer realm="rt metrics"');
          sendError(res, 'unauthorized', 'metrics need Authorization: Bearer <metrics token>');
          return;
        }
        const text = await metrics.text();
        res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
        res.end(text);
      };
      if (options.listen === undefined) source.addRoute('GET', `${source.prefix}/metrics`, serve);
      else this.listen(options.listen, serve);
    }
    if (source.admin !== false) new Admin(source, source.admin, probes).route();
  }

  /** Serves the metrics alone on their own address (`GET /metrics` and `GET {prefix}/metrics`). */
  private listen(address: string, serve: (req: IncomingMessage, res: ServerResponse) => Promise<void>): void {
    const { logger, prefix } = this.source;
    const url = new URL(address);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || 80);
    const paths = new Set(['/metrics', `${prefix}/metrics`]);
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (req.method !== 'GET' || !paths.has(path)) {
        sendError(res, 'not_found', `nothing at ${path}: metrics are at /metrics`);
        return;
      }
      serve(req, res).catch((e: unknown) => {
        logger.error({ err: e }, 'metrics failed');
        sendError(res, 'internal', 'internal error');
      });
    });
    this.server = server;
    this.serverReady = new Promise<void>((resolve) => {
      server.once('error', (e) => {
        logger.error({ err: e, address }, 'cannot serve metrics');
        resolve();
      });
      server.listen(port, host, () => {
        logger.info({ host, port: (server.address() as AddressInfo).port }, 'metrics listening');
        resolve();
      });
    });
  }

  /** Stops the metrics' own server, if any. */
  async close(): Promise<void> {
    this.metrics?.close();
    const server = this.server;
    if (!server) return;
    await this.serverReady;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
