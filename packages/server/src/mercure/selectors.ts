/**
 * Topic selectors: what a subscriber asks for and what a token allows.
 *
 * - Classic Mercure (draft-07, hub v0.24) `topic=` selectors and `mercure.publish` /
 *   `mercure.subscribe` claims: a string matches when the selector is `*`, when both are
 *   identical, or when the selector is an RFC 6570 URI template the string is an expansion of
 *   (all four levels; see `uri-template.ts`). As in RFC 6570 (an undefined variable expands to
 *   nothing) and the Go reference hub, every expression may also match the empty string:
 *   `https://example.com/books/{id}` matches `https://example.com/books/`. A selector that is
 *   not a valid template matches only by equality.
 * - Draft-08 `match=` selectors and `match_type: "exact"` token topics: byte-for-byte
 *   equality (`*` still matches everything).
 * - Draft-08 `match_urlpattern=` selectors and `match_type: "urlpattern"` token topics: a
 *   WHATWG URL Pattern (`https://example.com/books/:id`), see `url-pattern.ts`. A topic with a
 *   dot segment never matches one (URL parsing would fold `a/../b` into `b`).
 *
 * Hostile selectors cannot make matching expensive: templates and URL patterns run on RE2
 * (`re2js`), whose matching time is linear in the topic's length, and the limits below bound
 * the size of each selector and how many a subscriber may send. A {@link SelectorIndex} finds
 * the few subscribers an update may concern without testing every selector.
 */
import { RtError, hasDotSegment } from '@rt/protocol';
import { RE2JS } from 're2js';
import { templateRegex } from './uri-template.js';
import { UrlPatternError, compileUrlPattern } from './url-pattern.js';

/** Longest selector, in characters (longer: 400 for a subscriber, equality only in a token). */
const MAX_SELECTOR_LENGTH = 2048;
/** Most selectors of one subscribe request that are templates or URL patterns (the rest are cheap). */
export const MAX_PATTERN_SELECTORS = 100;

/** How a selector matches. */
export type SelectorKind = 'template' | 'exact' | 'urlpattern';

/** A compiled selector. */
export interface Selector {
  /** The selector as given. */
  readonly value: string;
  readonly kind: SelectorKind;
  /** True when it matches more than the one string equal to it (a template with expressions, a URL pattern, `*`). */
  readonly pattern: boolean;
  /**
   * What every string it matches starts with (besides `value` itself), for indexing: the
   * literal text before a template's first expression; `undefined` for URL patterns.
   */
  readonly prefix: string | undefined;
  /** A URL pattern's fixed host name, for indexing. */
  readonly hostname: string | undefined;
  /** Why the selector matches by equality only, when it looks like a pattern but is refused. */
  readonly problem: string | undefined;
  /** True when `topic` (a topic, a URL, or another selector) matches. */
  matches(topic: string): boolean;
}

function selector(
  value: string,
  kind: SelectorKind,
  test: ((topic: string) => boolean) | undefined,
  extra: { prefix?: string; hostname?: string; problem?: string } = {},
): Selector {
  return {
    value,
    kind,
    pattern: test !== undefined,
    prefix: extra.prefix,
    hostname: extra.hostname,
    problem: extra.problem,
    matches: (topic) => topic === value || test?.(topic) === true,
  };
}

/** Compiles one selector; a template or URL pattern that does not parse matches by equality only. */
export function compileSelector(value: string, kind: SelectorKind = 'template'): Selector {
  if (value === '*') return selector(value, kind, () => true, { prefix: '' });
  if (kind === 'exact') return selector(value, kind, undefined);
  if (value.length > MAX_SELECTOR_LENGTH)
    return selector(value, kind, undefined, { problem: `is longer than ${MAX_SELECTOR_LENGTH} characters` });
  if (kind === 'urlpattern') {
    try {
      const pattern = compileUrlPattern(value);
      const test = (topic: string): boolean => !hasDotSegment(topic) && pattern.test(topic);
      return selector(value, kind, test, pattern.hostname !== undefined ? { hostname: pattern.hostname } : {});
    } catch (e) {
      const problem = e instanceof UrlPatternError ? e.message : 'is not a valid URL pattern';
      return selector(value, kind, undefined, { problem });
    }
  }
  if (!value.includes('{')) return selector(value, kind, undefined);
  const regex = templateRegex(value);
  if (regex === undefined) return selector(value, kind, undefined);
  const re = RE2JS.compile(regex);
  return selector(value, kind, (topic) => re.matches(topic), { prefix: value.slice(0, value.indexOf('{')) });
}

/** True when one of `selectors` matches one of `topics`. */
export function matchesAny(selectors: readonly Selector[], topics: readonly string[]): boolean {
  for (const s of selectors) for (const topic of topics) if (s.matches(topic)) return true;
  return false;
}

/** True when every one of `topics` is matched by one of `selectors`. */
export function coversAll(selectors: readonly Selector[], topics: readonly string[]): boolean {
  return topics.every((topic) => selectors.some((s) => s.matches(topic)));
}

/**
 * Compiles selectors with a small cache: subscribers and tokens repeat the same few
 * selectors, and compiling a template or URL pattern costs more than matching it.
 */
export class SelectorCache {
  private readonly cache = new Map<string, Selector>();

  constructor(private readonly max = 10_000) {}

  get(value: string, kind: SelectorKind = 'template'): Selector {
    const key = `${kind}\u0000${value}`;
    let s = this.cache.get(key);
    if (!s) {
      s = compileSelector(value, kind);
      if (this.cache.size >= this.max) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, s);
    }
    return s;
  }

  /**
   * The selectors of a subscribe request's query: `topic` (draft-07), `match` and
   * `match_urlpattern` (draft-08). Throws `bad_frame` (400) when there is none, more than
   * `maxTopics`, more than {@link MAX_PATTERN_SELECTORS} patterns, an unknown `match*`
   * parameter, or a selector refused as too long or (URL patterns) with regular expression groups.
   */
  fromQuery(query: URLSearchParams, maxTopics: number): Selector[] {
    const out: Selector[] = [];
    let patterns = 0;
    for (const [name, value] of query) {
      const kind: SelectorKind | undefined =
        name === 'topic'
          ? 'template'
          : name === 'match'
            ? 'exact'
            : name === 'match_urlpattern'
              ? 'urlpattern'
              : undefined;
      if (kind === undefined) {
        if (name.startsWith('match')) throw new RtError('bad_frame', `unknown selector parameter "${name}"`);
        continue;
      }
      const s = this.get(value, kind);
      if (s.problem !== undefined) throw new RtError('bad_frame', `${name} selector ${s.problem}`);
      if (s.pattern && ++patterns > MAX_PATTERN_SELECTORS)
        throw new RtError(
          'bad_frame',
          `at most ${MAX_PATTERN_SELECTORS} template or URL pattern selectors per request`,
        );
      out.push(s);
    }
    if (out.length === 0) throw new RtError('bad_frame', 'Missing "topic" parameter.');
    if (out.length > maxTopics) throw new RtError('bad_frame', `at most ${maxTopics} topic selectors per request`);
    return out;
  }
}

/** Longest literal prefix used as an index key; longer prefixes are cut to it. */
const KEY_LENGTH = 256;

/**
 * A set of subscribers indexed by their selectors, so that an update's topics lead to the
 * subscribers whose selectors may match, not to every subscriber: exact selectors and
 * templates by their literal text (up to {@link KEY_LENGTH} characters of it), URL patterns
 * by their host name. Subscribers with a selector that has no such key (`*`, `{+all}`,
 * `https://*.example.com/*`) are always candidates.
 */
export class SelectorIndex<T extends { readonly selectors: readonly Selector[] }> extends Set<T> {
  private readonly byKey = new Map<string, Set<T>>();
  /** How many prefix keys there are of each length: a lookup tries only these lengths. */
  private readonly lengths = new Map<number, number>();

  private static keys(selectors: readonly Selector[]): Set<string> {
    const keys = new Set<string>();
    for (const s of selectors) {
      if (!s.pattern) keys.add(`=${s.value}`);
      else if (s.kind === 'urlpattern') keys.add(s.hostname !== undefined ? `h${s.hostname}` : 'p');
      else keys.add(`p${(s.prefix ?? '').slice(0, KEY_LENGTH)}`);
    }
    return keys;
  }

  /** Adds `owner`, indexed under its selectors. */
  override add(owner: T): this {
    if (this.has(owner)) return this;
    super.add(owner);
    for (const key of SelectorIndex.keys(owner.selectors)) {
      let set = this.byKey.get(key);
      if (!set) {
        this.byKey.set(key, (set = new Set()));
        if (key.startsWith('p')) this.lengths.set(key.length - 1, (this.lengths.get(key.length - 1) ?? 0) + 1);
      }
      set.add(owner);
    }
    return this;
  }

  /** Removes `owner`. */
  override delete(owner: T): boolean {
    if (!super.delete(owner)) return false;
    for (const key of SelectorIndex.keys(owner.selectors)) {
      const set = this.byKey.get(key);
      set?.delete(owner);
      if (set?.size !== 0) continue;
      this.byKey.delete(key);
      if (!key.startsWith('p')) continue;
      const left = (this.lengths.get(key.length - 1) ?? 1) - 1;
      if (left === 0) this.lengths.delete(key.length - 1);
      else this.lengths.set(key.length - 1, left);
    }
    return true;
  }

  /** The members whose selectors may match one of `topics` (each once); they still test the update. */
  candidates(topics: readonly string[]): Set<T> {
    const out = new Set<T>();
    const collect = (key: string): void => {
      const set = this.byKey.get(key);
      if (set) for (const owner of set) out.add(owner);
    };
    for (const topic of topics) {
      collect(`=${topic}`);
      for (const n of this.lengths.keys()) if (n <= topic.length) collect(`p${topic.slice(0, n)}`);
      const host = hostnameOf(topic);
      if (host !== undefined) collect(`h${host}`);
    }
    return out;
  }
}

function hostnameOf(topic: string): string | undefined {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(topic)) return undefined;
  try {
    return new URL(topic).hostname;
  } catch {
    return undefined;
  }
}
