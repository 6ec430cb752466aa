import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { pino } from 'pino';
import { createBroker } from './broker.js';
import { type CliFlags, developmentWarning, loadConfig } from './config.js';
import { redis } from './engines/redis/index.js';

/** The repository's example app, when the broker runs from a checkout. */
function defaultPlayground(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidate = join(here, '..', '..', '..', 'playground');
  return existsSync(join(candidate, 'index.html')) ? candidate : undefined;
}

/** How long shutdown may take before the process exits anyway, in ms. */
const SHUTDOWN_LIMIT_MS = 10_000;

async function runBroker(flags: CliFlags): Promise<void> {
  const config = loadConfig(flags, process.env, process.cwd());
  const logger = pino({ name: 'rt', level: config.logLevel });
  const warning = developmentWarning(config);
  if (warning !== undefined) process.stderr.write(`${warning}\n`);
  const playground = config.playground ?? defaultPlayground();
  const broker = createBroker({
    mode: config.mode,
    limits: config.limits,
    logger,
    ...(config.redis
      ? { engine: redis({ url: config.redis, ...(config.redisPrefix ? { prefix: config.redisPrefix } : {}) }) }
      : {}),
    ...(playground ? { playground } : {}),
    ...(config.allowOrigin ? { allowOrigin: config.allowOrigin } : {}),
    ...(config.jwt ? { jwt: config.jwt } : {}),
    ...(config.allowAnonymous !== undefined ? { allowAnonymous: config.allowAnonymous } : {}),
    ...(config.httpPublish !== undefined ? { httpPublish: config.httpPublish } : {}),
    ...(config.mercure !== undefined ? { mercure: config.mercure } : {}),
    ...(config.tls ? { tls: config.tls } : {}),
    ...(config.metrics !== undefined ? { metrics: config.metrics } : {}),
    ...(config.admin !== undefined ? { admin: config.admin } : {}),
    ...(config.retain ? { retain: config.retain } : {}),
  });
  // Signal handlers first: a SIGTERM that arrives while starting still shuts down cleanly.
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_LIMIT_MS);
    force.unref();
    broker.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  const address = await broker.listen(config.listen);
  logger.info({ url: address.url, mode: config.mode, engine: broker.engine.name }, `rt broker on ${address.url}`);
  if (!process.stdout.isTTY || config.logLevel === 'silent') {
    // Machine-readable line for scripts and tests that start the broker on port 0.
    process.stdout.write(`rt broker listening on ${address.url}\n`);
  }
}

/** Runs the `rt` command line with `argv` (without `node` and the script). */
export async function main(argv: string[]): Promise<void> {
  const program = new Command('rt').description('rt: realtime messaging broker').showHelpAfterError();
  program
    .command('broker')
    .description('run a broker (bus, pub/sub, push/pull over WebSocket, SSE and long-polling)')
    .option('-l, --listen <url>', 'where to listen, e.g. http://*:4000 or http://127.0.0.1:0 (default http://*:4000)')
    .option(
      '-m, --mode <mode>',
      'development (serves the example app at /) or production (default: development on a loopback address, else production; NODE_ENV=production selects production)',
    )
    .option('-c, --config <file>', 'JSON config file (default ./rt.config.json when present)')
    .option('--playground <dir>', 'folder served at / in development mode')
    .option('--log-level <level>', 'trace, debug, info, warn, error or silent (default info)')
    .option(
      '--allow-origin <origins>',
      'origins allowed to connect, comma-separated, e.g. "example.com,http://localhost:*" (default any)',
    )
    .option('--jwt-key <key>', 'JWT key: HMAC secret or PEM public key (prefer RT_JWT_KEY: flags show in ps)')
    .option('--jwt-key-file <file>', 'file holding the JWT key (PEM)')
    .option('--jwt-publisher-key <key>', 'JWT key of publisher tokens (prefer RT_JWT_PUBLISHER_KEY)')
    .option('--jwt-publisher-key-file <file>', 'file holding the publisher key')
    .option('--jwt-subscriber-key <key>', 'JWT key of subscriber tokens (prefer RT_JWT_SUBSCRIBER_KEY)')
    .option('--jwt-subscriber-key-file <file>', 'file holding the subscriber key')
    .option('--jwt-algorithms <list>', 'accepted JWT algorithms, e.g. RS256 (default: those that fit the key)')
    .option('--allow-anonymous [bool]', 'admit connections without a token (default: true unless a JWT key is set)')
    .option('--http-publish <mode>', 'POST /rt/publish: true (needs a publisher token when JWT is on), open, or false')
    .option(
      '--redis <url>',
      'share state with other brokers through Redis, e.g. redis://127.0.0.1:6379 (default: in-memory, one process)',
    )
    .option('--redis-prefix <prefix>', "prefix of rt's Redis keys and channels (default rt:)")
    .option(
      '--retain <patterns>',
      'latest-value topics, comma-separated: a topic, topic/# (and descendants), # (all); + is one segment (default none)',
    )
    .option(
      '--mercure',
      'serve a Mercure hub at /.well-known/mercure (keys: RT_MERCURE_KEY, or "mercure" in rt.config.json)',
    )
    .option('--tls-cert <file>', 'serve HTTPS with HTTP/2: the certificate chain (PEM); needs --tls-key')
    .option('--tls-key <file>', 'the private key (PEM) of --tls-cert')
    .option('--allow-http1 [bool]', 'with TLS, also serve HTTP/1.1 (WebSocket needs it) (default true)')
    .option('--metrics', 'Prometheus metrics at /rt/metrics (development mode; in production give a token or address)')
    .option('--metrics-listen <url>', 'serve the metrics on their own address, e.g. http://127.0.0.1:9464')
    .option('--metrics-token <token>', 'bearer token Prometheus must send (prefer RT_METRICS_TOKEN: flags show in ps)')
    .option('--admin-token <token>', 'token of the admin page /rt/admin (needed in production; prefer RT_ADMIN_TOKEN)')
    .addHelpText('after', '\nSettings come from rt.config.json, then RT_* environment variables, then flags.')
    .action((flags: CliFlags) => runBroker(flags));
  await program.parseAsync(argv, { from: 'user' });
}
