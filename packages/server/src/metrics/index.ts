import { type IncomingMessage, type Server as HttpServer, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Broker, parseListen } from '../broker.js';
import { sendError } from '../http.js';
import type { Transport } from '../transports/index.js';
import { Admin } from './admin.js';
import { bearerMatches } from './bearer.js';
import { Probes } from './probes.js';
import { BrokerMetrics } from './prometheus.js';

/**
 * Operations endpoints, as a transport of the broker: the probes (`{prefix}/livez`,
 * `{prefix}/readyz`), Prometheus metrics (`{prefix}/metrics`, when the `metrics` option is
 * on) and the admin page (`{prefix}/admin`, see the `admin` option).
 */
export class OperationsTransport implements Transport {
  private metrics: BrokerMetrics | undefined;
  private server: HttpServer | undefined;
  private serverReady: Promise<void> | undefined;

  /** `mercureSubscribers` counts the Mercure hub's subscribers on this node (0 when it is off). */
  constructor(private readonly mercureSubscribers: () => number = () => 0) {}

  setup(broker: Broker): void {
    const probes = new Probes(broker);
    probes.route();
    const options = broker.options.metrics;
    if (options !== false) {
      const metrics = new BrokerMetrics(broker, this.mercureSubscribers);
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
      if (options.listen === undefined) broker.addRoute('GET', `${broker.options.prefix}/metrics`, serve);
      else this.listen(broker, options.listen, serve);
    }
    if (broker.options.admin !== false)
      new Admin(broker, broker.options.admin, probes, this.mercureSubscribers).route();
  }

  /** Serves the metrics alone on their own address (`GET /metrics` and `GET {prefix}/metrics`). */
  private listen(
    broker: Broker,
    address: string,
    serve: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  ): void {
    const { host, port } = parseListen(address);
    const paths = new Set(['/metrics', `${broker.options.prefix}/metrics`]);
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (req.method !== 'GET' || !paths.has(path)) {
        sendError(res, 'not_found', `nothing at ${path}: metrics are at /metrics`);
        return;
      }
      serve(req, res).catch((e: unknown) => {
        broker.logger.error({ err: e }, 'metrics failed');
        sendError(res, 'internal', 'internal error');
      });
    });
    this.server = server;
    this.serverReady = new Promise<void>((resolve) => {
      server.once('error', (e) => {
        broker.logger.error({ err: e, address }, 'cannot serve metrics');
        resolve();
      });
      server.listen(port, host === '*' ? undefined : host.replace(/^\[|\]$/g, ''), () => {
        const actual = (server.address() as AddressInfo).port;
        broker.logger.info({ host, port: actual }, 'metrics listening');
        resolve();
      });
    });
  }

  attach(): void {}

  async close(): Promise<void> {
    this.metrics?.close();
    const server = this.server;
    if (!server) return;
    await this.serverReady;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
