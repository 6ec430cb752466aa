/**
 * WHATWG URL Patterns (`match_urlpattern`) matched in linear time. `urlpattern-polyfill`
 * parses and checks the pattern and gives each component's canonical pattern string; this
 * module turns those into RE2 regular expressions following the standard's "generate a
 * regular expression" steps, so that matching never backtracks (the polyfill's own matcher
 * uses JavaScript regular expressions, which do: `/:a:b:c:d:e:fZ` takes seconds on a
 * 50-character topic). Patterns with regular expression groups (`:id(\d+)`, `(.*)`) are
 * refused: their syntax is JavaScript's, which RE2 does not fully share.
 */
import { RE2JS } from 're2js';
import { URLPattern } from 'urlpattern-polyfill/urlpattern';
import { quoteRegex } from './uri-template.js';

const COMPONENTS = ['protocol', 'username', 'password', 'hostname', 'port', 'pathname', 'search', 'hash'] as const;
type Component = (typeof COMPONENTS)[number];
const SPECIAL_SCHEMES = ['http', 'https', 'ws', 'wss', 'ftp', 'file'];

/** Why a URL pattern is refused. */
export class UrlPatternError extends Error {
  override name = 'UrlPatternError';
}

type Token =
  | { kind: 'char' | 'escaped' | 'name'; value: string }
  | { kind: 'open' | 'close' | 'asterisk' | 'modifier'; value: string };

const NAME_START = /[\p{ID_Start}$_]/u;
const NAME_PART = /[\p{ID_Continue}$_\u200C\u200D]/u;

function tokenize(pattern: string): Token[] {
  const chars = [...pattern];
  const out: Token[] = [];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '*') out.push({ kind: 'asterisk', value: c });
    else if (c === '+' || c === '?') out.push({ kind: 'modifier', value: c });
    else if (c === '\\') out.push({ kind: 'escaped', value: chars[++i] ?? '' });
    else if (c === '{') out.push({ kind: 'open', value: c });
    else if (c === '}') out.push({ kind: 'close', value: c });
    else if (c === '(') throw new UrlPatternError('regular expression groups are not supported');
    else if (c === ':' && NAME_START.test(chars[i + 1] ?? '')) {
      let name = chars[++i]!;
      while (i + 1 < chars.length && NAME_PART.test(chars[i + 1]!)) name += chars[++i];
      out.push({ kind: 'name', value: name });
    } else out.push({ kind: 'char', value: c });
  }
  return out;
}

interface Options {
  /** The segment separator (`/` in paths, `.` in host names, none elsewhere). */
  delimiter: string;
  /** The character that becomes an implicit prefix of a following group (`/` in paths). */
  prefix: string;
}

/** One component's pattern string as an RE2 regular expression (see the standard's steps). */
function componentRegex(pattern: string, options: Options): string {
  const tokens = tokenize(pattern);
  const segment = options.delimiter === '' ? '(?s:.)+' : `[^${quoteRegex(options.delimiter)}]+`;
  let i = 0;
  let pending = '';
  let out = '';
  const take = (...kinds: Token['kind'][]): Token | undefined =>
    tokens[i] !== undefined && kinds.includes(tokens[i]!.kind) ? tokens[i++] : undefined;
  const text = (): string => {
    let s = '';
    for (let t = take('char', 'escaped'); t; t = take('char', 'escaped')) s += t.value;
    return s;
  };
  const flush = (): void => {
    out += quoteRegex(pending);
    pending = '';
  };
  const part = (prefix: string, variable: string | undefined, suffix: string, modifier: string): void => {
    if (variable === undefined) {
      if (modifier === '') pending += prefix;
      else {
        flush();
        out += `(?:${quoteRegex(prefix)})${modifier}`;
      }
      return;
    }
    flush();
    const [p, s] = [quoteRegex(prefix), quoteRegex(suffix)];
    const repeat = modifier === '+' || modifier === '*';
    if (!repeat) out += `(?:${p}${variable}${s})${modifier}`;
    else out += `(?:${p}(?:${variable})(?:${s}${p}(?:${variable}))*${s})${modifier === '*' ? '?' : ''}`;
  };
  while (i < tokens.length) {
    const ch = take('char');
    const name = take('name');
    const wildcard = name ? undefined : take('asterisk');
    if (name || wildcard) {
      let prefix = ch?.value ?? '';
      if (prefix !== options.prefix) {
        pending += prefix;
        prefix = '';
      }
      part(prefix, name ? segment : '(?s:.)*', '', take('modifier', 'asterisk')?.value ?? '');
      continue;
    }
    const fixed = ch ?? take('escaped');
    if (fixed) {
      pending += fixed.value;
      continue;
    }
    if (take('open')) {
      const prefix = text();
      const inner = take('name') ? segment : take('asterisk') ? '(?s:.)*' : undefined;
      const suffix = text();
      if (!take('close')) throw new UrlPatternError('unbalanced "{"');
      part(prefix, inner, suffix, take('modifier', 'asterisk')?.value ?? '');
      continue;
    }
    throw new UrlPatternError(`unexpected "${tokens[i]!.value}"`);
  }
  flush();
  return out;
}

/** The parts of a URL that a pattern's components are matched against. */
function components(input: string): Record<Component, string> | undefined {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return undefined;
  }
  return {
    protocol: url.protocol.slice(0, -1),
    username: url.username,
    password: url.password,
    hostname: url.hostname,
    port: url.port,
    pathname: url.pathname,
    search: url.search.slice(1),
    hash: url.hash.slice(1),
  };
}

/** A compiled URL pattern. */
export interface CompiledUrlPattern {
  /** The pattern's host name when it is fixed text (for indexing), else `undefined`. */
  readonly hostname: string | undefined;
  /** True when `input` parses as a URL whose every component matches. */
  test(input: string): boolean;
}

/** Compiles a URL pattern; throws a `TypeError` (bad pattern) or {@link UrlPatternError} (refused). */
export function compileUrlPattern(text: string): CompiledUrlPattern {
  const pattern = new URLPattern(text);
  const protocol = RE2JS.compile(componentRegex(pattern.protocol, { delimiter: '', prefix: '' }));
  const hierarchical = SPECIAL_SCHEMES.some((s) => protocol.matches(s));
  const regexes = COMPONENTS.map((c) => {
    if (c === 'protocol') return protocol;
    const options =
      c === 'hostname'
        ? { delimiter: '.', prefix: '' }
        : c === 'pathname' && hierarchical
          ? { delimiter: '/', prefix: '/' }
          : { delimiter: '', prefix: '' };
    return RE2JS.compile(componentRegex(pattern[c], options));
  });
  const host = pattern.hostname;
  return {
    hostname: /^[^*:{}()\\?+]*$/.test(host) ? host : undefined,
    test(input) {
      const parts = components(input);
      return parts !== undefined && COMPONENTS.every((c, n) => regexes[n]!.matches(parts[c]));
    },
  };
}
