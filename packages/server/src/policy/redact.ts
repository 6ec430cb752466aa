/**
 * Secrets never reach a log line, at any level: every logger rt writes to is wrapped by
 * {@link redacting}, which rewrites each line's fields and message before the logger sees
 * them.
 *
 * - Fields named like a credential (`authorization`, `cookie`, `set-cookie`, `token`,
 *   `access_token`, `password`, `secret`, at any depth) become `[redacted]`.
 * - In every string (messages, URLs, error messages and stacks): the values of the query
 *   parameters `authorization`, `token`, `access_token`, `jwt` and `key`; anything shaped like
 *   a JWT (`eyJ….….…`); `Bearer …`; and the secret part of SSE session URLs (`/sse/<token>`).
 */
import type { Logger } from '../options.js';

/** What replaces a secret. */
const REDACTED = '[redacted]';

const SECRET_FIELDS = new Set([
  'authorization',
  'cookie',
  'set-cookie',
  'token',
  'access_token',
  'accesstoken',
  'refresh_token',
  'password',
  'secret',
]);
const QUERY_SECRET = /([?&;](?:authorization|token|access_token|jwt|key)=)[^&#\s"'<>]*/gi;
const JWT = /\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;
const BEARER = /\b(Bearer\s+)[^\s"',;]+/gi;
const SSE_SESSION = /(\/sse\/)[A-Za-z0-9_-]{8,}/g;
/** How deep and how wide a log object is rewritten (deeper parts are dropped, not risked). */
const MAX_DEPTH = 6;
const MAX_ITEMS = 100;

/** `text` with the secrets it may hold replaced (see the module comment). */
function scrubText(text: string): string {
  if (text.length === 0) return text;
  return text
    .replace(QUERY_SECRET, `$1${REDACTED}`)
    .replace(JWT, REDACTED)
    .replace(BEARER, `$1${REDACTED}`)
    .replace(SSE_SESSION, `$1${REDACTED}`);
}

/** A copy of `value` fit for a log line: credential fields redacted, strings scrubbed, errors made plain. */
function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (value instanceof Error) {
    const out: Record<string, unknown> = { type: value.name, message: scrubText(value.message) };
    if (value.stack !== undefined) out.stack = scrubText(value.stack);
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out.code = scrub(code, depth + 1);
    if (value.cause !== undefined) out.cause = scrub(value.cause, depth + 1);
    return out;
  }
  if (Array.isArray(value)) return value.slice(0, MAX_ITEMS).map((v) => scrub(v, depth + 1));
  if (value instanceof URL) return scrubText(value.href);
  if (value instanceof URLSearchParams) return scrubText(`?${value.toString()}`);
  if (ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const [key, v] of Object.entries(value)) {
    if (n++ >= MAX_ITEMS) break;
    out[key] = SECRET_FIELDS.has(key.toLowerCase()) ? REDACTED : scrub(v, depth + 1);
  }
  return out;
}

type Level = 'debug' | 'info' | 'warn' | 'error';

/** A logger that may say which levels it writes (pino does). */
type LevelAware = Logger & { isLevelEnabled?: (level: string) => boolean };

/**
 * Wraps `logger` so that no line it writes holds a secret (see the module comment). Lines of
 * levels the logger does not write are dropped before any rewriting.
 */
export function redacting(logger: Logger): Logger {
  const inner = logger as LevelAware;
  const write =
    (level: Level) =>
    (obj: unknown, msg?: string): void => {
      if (typeof inner.isLevelEnabled === 'function' && !inner.isLevelEnabled(level)) return;
      if (msg === undefined) inner[level](scrub(obj));
      else inner[level](scrub(obj), scrubText(msg));
    };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}
