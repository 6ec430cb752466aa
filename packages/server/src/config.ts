import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_LIMITS, type Limits } from './options.js';
import { type Grants, grantsProblem } from './policy/grants.js';
import type { JwtOptions } from './policy/jwt.js';
import type { MercureOptions } from './mercure/options.js';
import type { TlsOptions } from './http2.js';
import type { AdminOptions, MetricsOptions } from './metrics/options.js';

/** What `rt broker` runs with, merged from `rt.config.json`, `RT_*` variables and flags (later wins). */
export interface CliConfig {
  /** Where to listen. Default `http://*:4000`. */
  listen: string;
  mode: 'development' | 'production';
  /** Folder of the example app served in development mode. */
  playground?: string;
  logLevel: string;
  limits: Partial<Limits>;
  /** Origins allowed to connect (see `BrokerOptions.allowOrigin`). */
  allowOrigin?: string[];
  /** JWT verification (keys already read from their files). */
  jwt?: JwtOptions;
  /** Whether connections without credentials are admitted, or with which grants. */
  allowAnonymous?: boolean | Grants;
  /** `POST /rt/publish`: authenticated (true), `open`, or off (false). */
  httpPublish?: boolean | 'open';
  /** Redis URL: when set, the broker runs the Redis engine (many brokers share it). */
  redis?: string;
  /** Prefix of rt's Redis keys and channels (default `rt:`): brokers sharing a prefix form one cluster. */
  redisPrefix?: string;
  /** The Mercure hub: off unless set (see `BrokerOptions.mercure`). */
  mercure?: MercureOptions | boolean;
  /** HTTPS with HTTP/2 (certificate and key already read from their files; see `BrokerOptions.tls`). */
  tls?: TlsOptions;
  /** Prometheus metrics: off unless set (see `BrokerOptions.metrics`). */
  metrics?: MetricsOptions | boolean;
  /** The admin page (see `BrokerOptions.admin`). */
  admin?: AdminOptions | boolean;
  /** Latest-value topic patterns (see `BrokerOptions.retain`). */
  retain?: string[];
}

/** Flags as parsed by the command line. */
export interface CliFlags {
  listen?: string;
  mode?: string;
  config?: string;
  playground?: string;
  logLevel?: string;
  allowOrigin?: string;
  jwtKey?: string;
  jwtKeyFile?: string;
  jwtPublisherKey?: string;
  jwtPublisherKeyFile?: string;
  jwtSubscriberKey?: string;
  jwtSubscriberKeyFile?: string;
  jwtAlgorithms?: string;
  allowAnonymous?: string | boolean;
  httpPublish?: string;
  redis?: string;
  redisPrefix?: string;
  mercure?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  allowHttp1?: string | boolean;
  metrics?: boolean;
  metricsListen?: string;
  metricsToken?: string;
  adminToken?: string;
  retain?: string;
}

/**
 * `RT_MERCURE_*` variables: `RT_MERCURE=1` turns the hub on; the others set one option each
 * (and turn it on): `RT_MERCURE_KEY`, `RT_MERCURE_PUBLISHER_KEY`, `RT_MERCURE_SUBSCRIBER_KEY`
 * (HMAC secrets), `RT_MERCURE_ANONYMOUS` and `RT_MERCURE_SUBSCRIPTIONS` (`true`/`false`),
 * `RT_MERCURE_CORS_ORIGINS` and `RT_MERCURE_PUBLISH_ORIGINS` (comma-separated).
 */
function mercureFromEnv(
  env: Record<string, string | undefined>,
  base: MercureOptions | boolean | undefined,
): MercureOptions | boolean | undefined {
  const options: MercureOptions = typeof base === 'object' ? { ...base } : {};
  let set = false;
  const text = (name: string): string | undefined => (env[name] ? env[name] : undefined);
  const flag = (name: string): boolean | undefined => (env[name] ? bool(env[name], name) : undefined);
  const names = (name: string): string[] | undefined => (env[name] ? list(env[name]) : undefined);
  const entries: [keyof MercureOptions, unknown][] = [
    ['key', text('RT_MERCURE_KEY')],
    ['publisherKey', text('RT_MERCURE_PUBLISHER_KEY')],
    ['subscriberKey', text('RT_MERCURE_SUBSCRIBER_KEY')],
    ['anonymous', flag('RT_MERCURE_ANONYMOUS')],
    ['subscriptions', flag('RT_MERCURE_SUBSCRIPTIONS')],
    ['corsOrigins', names('RT_MERCURE_CORS_ORIGINS')],
    ['publishOrigins', names('RT_MERCURE_PUBLISH_ORIGINS')],
  ];
  for (const [key, value] of entries) {
    if (value === undefined) continue;
    (options as Record<string, unknown>)[key] = value;
    set = true;
  }
  const on = flag('RT_MERCURE');
  if (on === false) return false;
  if (set) return options;
  return on === true ? (typeof base === 'object' ? base : true) : base;
}

const ENV_LIMITS: Record<string, keyof Limits> = Object.fromEntries(
  Object.keys(DEFAULT_LIMITS).map((k) => [
    `RT_${k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`,
    k as keyof Limits,
  ]),
);

function mode(value: unknown, where: string): 'development' | 'production' {
  if (value === 'development' || value === 'production') return value;
  throw new Error(`${where}: mode must be "development" or "production", got ${JSON.stringify(value)}`);
}

/** The JWT settings each source may give, by name in rt.config.json / env suffix / flag. */
const JWT_KEYS = [
  { json: 'key', env: 'RT_JWT_KEY', flag: 'jwtKey' },
  { json: 'publisherKey', env: 'RT_JWT_PUBLISHER_KEY', flag: 'jwtPublisherKey' },
  { json: 'subscriberKey', env: 'RT_JWT_SUBSCRIBER_KEY', flag: 'jwtSubscriberKey' },
] as const;

function list(value: string): string[] {
  return value.split(/[\s,]+/).filter((v) => v !== '');
}

function bool(value: unknown, where: string): boolean {
  if (value === true || value === 'true' || value === '1' || value === 'yes') return true;
  if (value === false || value === 'false' || value === '0' || value === 'no') return false;
  throw new Error(`${where} must be true or false, got ${JSON.stringify(value)}`);
}

function httpPublish(value: unknown, where: string): boolean | 'open' {
  return value === 'open' ? 'open' : bool(value, `${where} ("open" also allowed)`);
}

function readKey(file: string, cwd: string, where: string): string {
  const path = resolve(cwd, file);
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`${where}: cannot read ${path}: ${(e as Error).message}`);
  }
}

function strings(value: unknown, where: string): string[] {
  if (typeof value === 'string') return list(value);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  throw new Error(`${where} must be a string or an array of strings`);
}

/** Reads the `jwt` object of rt.config.json. */
function jwtFromJson(value: unknown, file: string, cwd: string): JwtOptions {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error(`${file}: "jwt" must be an object`);
  const json = value as Record<string, unknown>;
  const out: JwtOptions = {};
  for (const { json: name } of JWT_KEYS) {
    const key = json[name];
    const keyFile = json[`${name}File`];
    if (typeof key === 'string') out[name] = key;
    else if (key !== undefined) throw new Error(`${file}: "jwt.${name}" must be a string`);
    if (typeof keyFile === 'string') out[name] = readKey(keyFile, cwd, `${file}: "jwt.${name}File"`);
    else if (keyFile !== undefined) throw new Error(`${file}: "jwt.${name}File" must be a string`);
  }
  if (json.algorithms !== undefined) out.algorithms = strings(json.algorithms, `${file}: "jwt.algorithms"`);
  if (json.issuer !== undefined) out.issuer = strings(json.issuer, `${file}: "jwt.issuer"`);
  if (json.audience !== undefined) out.audience = strings(json.audience, `${file}: "jwt.audience"`);
  if (json.clockToleranceSec !== undefined) {
    if (typeof json.clockToleranceSec !== 'number' || json.clockToleranceSec < 0)
      throw new Error(`${file}: "jwt.clockToleranceSec" must be a non-negative number`);
    out.clockToleranceSec = json.clockToleranceSec;
  }
  return out;
}

/** Applies JWT keys from `RT_JWT_*` variables or `--jwt-*` flags (a `…_FILE` / `…File` names a PEM file). */
function jwtFrom(
  source: Record<string, string | undefined>,
  names: 'env' | 'flag',
  cwd: string,
  into: JwtOptions,
): void {
  for (const k of JWT_KEYS) {
    const name = k[names];
    const fileName = names === 'env' ? `${name}_FILE` : `${name}File`;
    if (source[name]) into[k.json] = source[name];
    if (source[fileName]) into[k.json] = readKey(source[fileName], cwd, fileName);
  }
  const algorithms = source[names === 'env' ? 'RT_JWT_ALGORITHMS' : 'jwtAlgorithms'];
  if (algorithms) into.algorithms = list(algorithms);
  if (names === 'env') {
    if (source.RT_JWT_ISSUER) into.issuer = list(source.RT_JWT_ISSUER);
    if (source.RT_JWT_AUDIENCE) into.audience = list(source.RT_JWT_AUDIENCE);
  }
}

/** Where the TLS settings come from, as file paths (and whether HTTP/1.1 is served too). */
interface TlsFiles {
  cert?: string;
  key?: string;
  allowHTTP1?: boolean;
}

/** Reads the certificate and key files: both or neither. */
function tlsFrom(files: TlsFiles, cwd: string): TlsOptions | undefined {
  if (files.cert === undefined && files.key === undefined) return undefined;
  if (files.cert === undefined || files.key === undefined)
    throw new Error('TLS needs both a certificate (--tls-cert, RT_TLS_CERT) and a key (--tls-key, RT_TLS_KEY)');
  const tls: TlsOptions = {
    cert: readKey(files.cert, cwd, 'the TLS certificate'),
    key: readKey(files.key, cwd, 'the TLS key'),
  };
  if (files.allowHTTP1 !== undefined) tls.allowHTTP1 = files.allowHTTP1;
  return tls;
}

/** Reads the `tls` object of rt.config.json: `{ "cert": file, "key": file, "allowHTTP1": bool }`. */
function tlsFromJson(value: unknown, file: string): TlsFiles {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error(`${file}: "tls" must be an object { "cert": file, "key": file, "allowHTTP1"?: bool }`);
  const json = value as Record<string, unknown>;
  const out: TlsFiles = {};
  for (const name of ['cert', 'key'] as const) {
    if (typeof json[name] === 'string') out[name] = json[name];
    else if (json[name] !== undefined) throw new Error(`${file}: "tls.${name}" must be a file name`);
  }
  if (json.allowHTTP1 !== undefined) out.allowHTTP1 = bool(json.allowHTTP1, `${file}: "tls.allowHTTP1"`);
  return out;
}

/** Reads `metrics` or `admin` from rt.config.json: true, false, or an object of string settings among `keys`. */
function tokenOptions(value: unknown, where: string, keys: readonly string[]): boolean | Record<string, string> {
  if (typeof value === 'boolean') return value;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error(`${where} must be true, false or an object`);
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (!keys.includes(key)) throw new Error(`${where}: unknown setting "${key}" (known: ${keys.join(', ')})`);
    if (typeof v !== 'string') throw new Error(`${where}: "${key}" must be a string`);
    out[key] = v;
  }
  return out;
}

/**
 * Applies `RT_METRICS*` / `RT_ADMIN*` variables and flags over the config file's value, in
 * order: `on` (true/false) turns it on or off, any other entry sets that option (and turns it on).
 */
function operationsFrom<T extends object>(
  base: boolean | T | undefined,
  entries: [keyof T | 'on', string | boolean | undefined][],
): boolean | T | undefined {
  let value = base;
  for (const [key, v] of entries) {
    if (v === undefined || v === '') continue;
    if (key === 'on') value = v === false ? false : typeof value === 'object' ? value : true;
    else value = { ...(typeof value === 'object' ? value : {}), [key]: String(v) } as T;
  }
  return value;
}

function redisUrl(value: unknown, where: string): string {
  if (typeof value === 'string' && /^rediss?:\/\/[^\s]*$/.test(value)) return value;
  throw new Error(`${where}: expected a Redis URL such as redis://127.0.0.1:6379, got ${JSON.stringify(value)}`);
}

/** True when `listen` (`http://host:port`) names a loopback host: `localhost`, `127.x.x.x` or `[::1]`. */
function isLoopbackListen(listen: string): boolean {
  const host = /^[a-z][a-z0-9+.-]*:\/\/(\[[^\]]*\]|[^:/]*)/i.exec(listen.trim())?.[1]?.toLowerCase();
  return host === 'localhost' || host === '[::1]' || (host !== undefined && /^127(?:\.\d{1,3}){3}$/.test(host));
}

/**
 * The warning `rt broker` prints when it serves development mode (the example app, anything
 * open that development allows) on an address other machines can reach; `undefined` otherwise.
 */
export function developmentWarning(config: Pick<CliConfig, 'mode' | 'listen'>): string | undefined {
  if (config.mode !== 'development' || isLoopbackListen(config.listen)) return undefined;
  const bar = '!'.repeat(78);
  return [
    bar,
    `!! rt broker: DEVELOPMENT MODE on ${config.listen}, an address other machines can reach.`,
    '!! It serves the example app and development defaults to anyone who can connect.',
    '!! Use --mode production (or NODE_ENV=production) on a server; keep development on 127.0.0.1.',
    bar,
  ].join('\n');
}

/**
 * Reads the configuration: defaults, then `rt.config.json` in `cwd` (or `--config FILE`),
 * then `RT_LISTEN`, `RT_MODE`, `RT_PLAYGROUND`, `RT_LOG_LEVEL`, `RT_REDIS_URL`, `RT_REDIS_PREFIX`
 * and one `RT_<LIMIT>` per limit (e.g. `RT_MAX_PAYLOAD_BYTES`), `RT_ALLOW_ORIGIN`, `RT_JWT_KEY`
 * (or `RT_JWT_PUBLISHER_KEY` and `RT_JWT_SUBSCRIBER_KEY`; `…_FILE` to read a PEM file),
 * `RT_JWT_ALGORITHMS`, `RT_JWT_ISSUER`, `RT_JWT_AUDIENCE`, `RT_ALLOW_ANONYMOUS`,
 * `RT_HTTP_PUBLISH`, `RT_RETAIN` (comma-separated patterns), `RT_TLS_CERT`, `RT_TLS_KEY` (files), `RT_TLS_ALLOW_HTTP1`, then flags. Throws with a clear message on a bad value.
 */
export function loadConfig(flags: CliFlags, env: Record<string, string | undefined>, cwd: string): CliConfig {
  const config: CliConfig = { listen: 'http://*:4000', mode: 'development', logLevel: 'info', limits: {} };
  let modeGiven = false;
  const file = flags.config ? resolve(cwd, flags.config) : resolve(cwd, 'rt.config.json');
  let tls: TlsFiles = {};
  if (flags.config && !existsSync(file)) throw new Error(`config file ${file} does not exist`);
  if (existsSync(file)) {
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof json.listen === 'string') config.listen = json.listen;
    if (json.mode !== undefined) {
      config.mode = mode(json.mode, file);
      modeGiven = true;
    }
    if (typeof json.playground === 'string') config.playground = resolve(cwd, json.playground);
    if (typeof json.logLevel === 'string') config.logLevel = json.logLevel;
    if (json.redis !== undefined) config.redis = redisUrl(json.redis, file);
    if (typeof json.redisPrefix === 'string') config.redisPrefix = json.redisPrefix;
    if (json.limits !== undefined) {
      if (typeof json.limits !== 'object' || json.limits === null)
        throw new Error(`${file}: "limits" must be an object`);
      config.limits = { ...(json.limits as Partial<Limits>) };
    }
    if (json.allowOrigin !== undefined) config.allowOrigin = strings(json.allowOrigin, `${file}: "allowOrigin"`);
    if (json.retain !== undefined) config.retain = strings(json.retain, `${file}: "retain"`);
    if (json.jwt !== undefined) config.jwt = jwtFromJson(json.jwt, file, cwd);
    if (json.allowAnonymous !== undefined) {
      if (typeof json.allowAnonymous === 'object' && json.allowAnonymous !== null) {
        const problem = grantsProblem(json.allowAnonymous);
        if (problem !== null) throw new Error(`${file}: "allowAnonymous" ${problem}`);
        config.allowAnonymous = json.allowAnonymous as Grants;
      } else config.allowAnonymous = bool(json.allowAnonymous, `${file}: "allowAnonymous"`);
    }
    if (json.httpPublish !== undefined) config.httpPublish = httpPublish(json.httpPublish, `${file}: "httpPublish"`);
    if (json.tls !== undefined) tls = tlsFromJson(json.tls, file);
    if (json.metrics !== undefined)
      config.metrics = tokenOptions(json.metrics, `${file}: "metrics"`, ['token', 'listen']);
    if (json.admin !== undefined) config.admin = tokenOptions(json.admin, `${file}: "admin"`, ['token']);
    if (json.mercure !== undefined) {
      if (typeof json.mercure !== 'boolean' && (typeof json.mercure !== 'object' || json.mercure === null))
        throw new Error(`${file}: "mercure" must be true, false or an object`);
      config.mercure = json.mercure as MercureOptions | boolean;
    }
  }
  if (env.RT_LISTEN) config.listen = env.RT_LISTEN;
  if (env.RT_MODE) {
    config.mode = mode(env.RT_MODE, 'RT_MODE');
    modeGiven = true;
  }
  if (env.RT_PLAYGROUND) config.playground = resolve(cwd, env.RT_PLAYGROUND);
  if (env.RT_LOG_LEVEL) config.logLevel = env.RT_LOG_LEVEL;
  if (env.RT_REDIS_URL) config.redis = redisUrl(env.RT_REDIS_URL, 'RT_REDIS_URL');
  if (env.RT_REDIS_PREFIX) config.redisPrefix = env.RT_REDIS_PREFIX;
  for (const [name, key] of Object.entries(ENV_LIMITS)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got "${value}"`);
    config.limits[key] = n;
  }
  if (env.RT_ALLOW_ORIGIN) config.allowOrigin = list(env.RT_ALLOW_ORIGIN);
  if (env.RT_RETAIN) config.retain = list(env.RT_RETAIN);
  if (flags.retain) config.retain = list(flags.retain);
  const jwt: JwtOptions = { ...config.jwt };
  jwtFrom(env, 'env', cwd, jwt);
  jwtFrom(flags as Record<string, string | undefined>, 'flag', cwd, jwt);
  if (Object.keys(jwt).length > 0) config.jwt = jwt;
  if (env.RT_ALLOW_ANONYMOUS) config.allowAnonymous = bool(env.RT_ALLOW_ANONYMOUS, 'RT_ALLOW_ANONYMOUS');
  if (env.RT_HTTP_PUBLISH) config.httpPublish = httpPublish(env.RT_HTTP_PUBLISH, 'RT_HTTP_PUBLISH');
  if (flags.allowOrigin) config.allowOrigin = list(flags.allowOrigin);
  if (flags.allowAnonymous !== undefined) config.allowAnonymous = bool(flags.allowAnonymous, '--allow-anonymous');
  if (flags.httpPublish) config.httpPublish = httpPublish(flags.httpPublish, '--http-publish');
  config.metrics = operationsFrom(config.metrics, [
    ['on', env.RT_METRICS ? bool(env.RT_METRICS, 'RT_METRICS') : undefined],
    ['listen', env.RT_METRICS_LISTEN],
    ['token', env.RT_METRICS_TOKEN],
    ['on', flags.metrics],
    ['listen', flags.metricsListen],
    ['token', flags.metricsToken],
  ]);
  config.admin = operationsFrom(config.admin, [
    ['on', env.RT_ADMIN ? bool(env.RT_ADMIN, 'RT_ADMIN') : undefined],
    ['token', env.RT_ADMIN_TOKEN],
    ['token', flags.adminToken],
  ]);
  if (config.metrics === undefined) delete config.metrics;
  if (config.admin === undefined) delete config.admin;
  const mercure = mercureFromEnv(env, config.mercure);
  if (mercure !== undefined) config.mercure = mercure;
  if (flags.listen) config.listen = flags.listen;
  if (flags.mercure && !config.mercure) config.mercure = true;
  if (flags.mode) {
    config.mode = mode(flags.mode, '--mode');
    modeGiven = true;
  }
  // Production unless asked otherwise, except on a loopback address without NODE_ENV=production.
  if (!modeGiven)
    config.mode = env.NODE_ENV !== 'production' && isLoopbackListen(config.listen) ? 'development' : 'production';
  if (flags.playground) config.playground = resolve(cwd, flags.playground);
  if (flags.logLevel) config.logLevel = flags.logLevel;
  if (flags.redis) config.redis = redisUrl(flags.redis, '--redis');
  if (flags.redisPrefix) config.redisPrefix = flags.redisPrefix;
  if (env.RT_TLS_CERT) tls.cert = env.RT_TLS_CERT;
  if (env.RT_TLS_KEY) tls.key = env.RT_TLS_KEY;
  if (env.RT_TLS_ALLOW_HTTP1) tls.allowHTTP1 = bool(env.RT_TLS_ALLOW_HTTP1, 'RT_TLS_ALLOW_HTTP1');
  if (flags.tlsCert) tls.cert = flags.tlsCert;
  if (flags.tlsKey) tls.key = flags.tlsKey;
  if (flags.allowHttp1 !== undefined) tls.allowHTTP1 = bool(flags.allowHttp1, '--allow-http1');
  const served = tlsFrom(tls, cwd);
  if (served) config.tls = served;
  return config;
}
