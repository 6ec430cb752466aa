/**
 * Topic selectors: what a subscriber asks for and what a token allows.
 *
 * - Classic Mercure (draft-07, hub v0.24) `topic=` selectors and `mercure.publish` /
 *   `mercure.subscribe` claims: a string matches when the selector is `*`, when both are
 *   identical, or when the selector is an RFC 6570 URI template the string is an expansion of.
 *   Templates are matched by `uri-template-matcher` (all four RFC 6570 levels: `{id}` matches
 *   one unreserved run, never `/`; `{+path}` and `{#frag}` also match reserved characters
 *   such as `/`; `{/a}`, `{?q}` and `{&q}` match their prefix and value). As in RFC 6570 (an
 *   undefined variable expands to nothing) and the Go reference hub, every expression may
 *   also match the empty string: `https://example.com/books/{id}` matches
 *   `https://example.com/books/`, and `/subscriptions{/topic}{/subscriber}` matches
 *   `/subscriptions`. The library does not match empty expressions, so the template is also
 *   registered with each subset of its expressions left out (up to 4 expressions; past that,
 *   all or none). A selector that is not a valid template matches only by equality.
 * - Draft-08 `match=` selectors and `match_type: "exact"` token topics: byte-for-byte
 *   equality (`*` still matches everything).
 * - Draft-08 `match_urlpattern=` selectors and `match_type: "urlpattern"` token topics: a
 *   WHATWG URL Pattern (`https://example.com/books/:id`), matched by `urlpattern-polyfill`
 *   (Node 20 has no `URLPattern`).
 */
import { UriTemplateMatcher } from 'uri-template-matcher';
import { URLPattern } from 'urlpattern-polyfill/urlpattern';

/** How a selector matches. */
export type SelectorKind = 'template' | 'exact' | 'urlpattern';

/** A compiled selector. */
export interface Selector {
  /** The selector as given. */
  readonly value: string;
  readonly kind: SelectorKind;
  /** True when `topic` (a topic, a URL, or another selector) matches. */
  matches(topic: string): boolean;
}

const everything = (value: string, kind: SelectorKind): Selector => ({ value, kind, matches: () => true });

/** A selector that matches by equality, else by `test` (which may throw: no match then). */
function guarded(value: string, kind: SelectorKind, test: (topic: string) => boolean): Selector {
  return {
    value,
    kind,
    matches: (topic) => {
      if (topic === value) return true;
      try {
        return test(topic);
      } catch {
        return false;
      }
    },
  };
}

/** Compiles one selector; a template or URL pattern that does not parse matches by equality only. */
export function compileSelector(value: string, kind: SelectorKind = 'template'): Selector {
  if (value === '*') return everything(value, kind);
  const never = (): boolean => false;
  if (kind === 'exact') return guarded(value, kind, never);
  if (kind === 'urlpattern') {
    try {
      const pattern = new URLPattern(value);
      return guarded(value, kind, (topic) => pattern.test(topic));
    } catch {
      return guarded(value, kind, never);
    }
  }
  if (!value.includes('{')) return guarded(value, kind, never);
  const matcher = new UriTemplateMatcher();
  try {
    matcher.add(value);
  } catch {
    return guarded(value, kind, never);
  }
  for (const variant of withoutExpressions(value)) matcher.add(variant);
  return guarded(value, kind, (topic) => matcher.match(topic) !== null);
}

/** `template` with each non-empty subset of its expressions removed (see the module comment). */
function withoutExpressions(template: string): string[] {
  const parts = template.split(/(\{[^{}]*\})/);
  const expressions = parts.map((p, i) => (p.startsWith('{') ? i : -1)).filter((i) => i >= 0);
  const n = expressions.length;
  const masks = n <= 4 ? Array.from({ length: 2 ** n - 1 }, (_, m) => m + 1) : [2 ** n - 1];
  const variants = new Set<string>();
  for (const mask of masks) {
    const dropped = new Set(expressions.filter((_, bit) => (mask & (1 << bit)) !== 0));
    variants.add(parts.filter((_, i) => !dropped.has(i)).join(''));
  }
  return [...variants];
}

/** True when one of `selectors` matches one of `topics`. */
export function matchesAny(selectors: readonly Selector[], topics: readonly string[]): boolean {
  for (const selector of selectors) for (const topic of topics) if (selector.matches(topic)) return true;
  return false;
}

/** True when every one of `topics` is matched by one of `selectors`. */
export function coversAll(selectors: readonly Selector[], topics: readonly string[]): boolean {
  return topics.every((topic) => selectors.some((selector) => selector.matches(topic)));
}

/**
 * Compiles selectors with a small cache: subscribers and tokens repeat the same few
 * selectors, and a template compiles to a regular expression once.
 */
export class SelectorCache {
  private readonly cache = new Map<string, Selector>();

  constructor(private readonly max = 10_000) {}

  get(value: string, kind: SelectorKind = 'template'): Selector {
    const key = `${kind}\u0000${value}`;
    let selector = this.cache.get(key);
    if (!selector) {
      selector = compileSelector(value, kind);
      if (this.cache.size >= this.max) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, selector);
    }
    return selector;
  }
}
