import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_LIMITS, type Limits } from './options.js';

/** What `rt broker` runs with, merged from `rt.config.json`, `RT_*` variables and flags (later wins). */
export interface CliConfig {
  /** Where to listen. Default `http://*:4000`. */
  listen: string;
  mode: 'development' | 'production';
  /** Folder of the example app served in development mode. */
  playground?: string;
  logLevel: string;
  limits: Partial<Limits>;
  /** Redis URL: when set, the broker runs the Redis engine (many brokers share it). */
  redis?: string;
  /** Prefix of rt's Redis keys and channels (default `rt:`): brokers sharing a prefix form one cluster. */
  redisPrefix?: string;
}

/** Flags as parsed by the command line. */
export interface CliFlags {
  listen?: string;
  mode?: string;
  config?: string;
  playground?: string;
  logLevel?: string;
  redis?: string;
  redisPrefix?: string;
}

const ENV_LIMITS: Record<string, keyof Limits> = Object.fromEntries(
  Object.keys(DEFAULT_LIMITS).map((k) => [`RT_${k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`, k as keyof Limits]),
);

function mode(value: unknown, where: string): 'development' | 'production' {
  if (value === 'development' || value === 'production') return value;
  throw new Error(`${where}: mode must be "development" or "production", got ${JSON.stringify(value)}`);
}

function redisUrl(value: unknown, where: string): string {
  if (typeof value === 'string' && /^rediss?:\/\/[^\s]*$/.test(value)) return value;
  throw new Error(`${where}: expected a Redis URL such as redis://127.0.0.1:6379, got ${JSON.stringify(value)}`);
}

/**
 * Reads the configuration: defaults, then `rt.config.json` in `cwd` (or `--config FILE`),
 * then `RT_LISTEN`, `RT_MODE`, `RT_PLAYGROUND`, `RT_LOG_LEVEL`, `RT_REDIS_URL` and one `RT_<LIMIT>` per limit
 * (e.g. `RT_MAX_PAYLOAD_BYTES`), then flags. Throws with a clear message on a bad value.
 */
export function loadConfig(flags: CliFlags, env: Record<string, string | undefined>, cwd: string): CliConfig {
  const config: CliConfig = { listen: 'http://*:4000', mode: 'development', logLevel: 'info', limits: {} };
  const file = flags.config ? resolve(cwd, flags.config) : resolve(cwd, 'rt.config.json');
  if (flags.config && !existsSync(file)) throw new Error(`config file ${file} does not exist`);
  if (existsSync(file)) {
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof json.listen === 'string') config.listen = json.listen;
    if (json.mode !== undefined) config.mode = mode(json.mode, file);
    if (typeof json.playground === 'string') config.playground = resolve(cwd, json.playground);
    if (typeof json.logLevel === 'string') config.logLevel = json.logLevel;
    if (json.redis !== undefined) config.redis = redisUrl(json.redis, file);
    if (typeof json.redisPrefix === 'string') config.redisPrefix = json.redisPrefix;
    if (json.limits !== undefined) {
      if (typeof json.limits !== 'object' || json.limits === null) throw new Error(`${file}: "limits" must be an object`);
      config.limits = { ...(json.limits as Partial<Limits>) };
    }
  }
  if (env.RT_LISTEN) config.listen = env.RT_LISTEN;
  if (env.RT_MODE) config.mode = mode(env.RT_MODE, 'RT_MODE');
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
  if (flags.listen) config.listen = flags.listen;
  if (flags.mode) config.mode = mode(flags.mode, '--mode');
  if (flags.playground) config.playground = resolve(cwd, flags.playground);
  if (flags.logLevel) config.logLevel = flags.logLevel;
  if (flags.redis) config.redis = redisUrl(flags.redis, '--redis');
  if (flags.redisPrefix) config.redisPrefix = flags.redisPrefix;
  return config;
}
