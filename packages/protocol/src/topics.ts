/**
 * Topic rules. A topic is a `/`-separated path such as `chat/room1` or `wong/amy`.
 *
 * - segments are non-empty: no leading, trailing or doubled `/`;
 * - a segment is made of Unicode letters, digits and marks, and of `- _ . ~ : @ ! $ & ' ( ) + , ; = %`;
 * - no dot segments in any encoding: a segment must not be `.` or `..`, nor become one (or
 *   hold one between `/` or `\`) once its `%XX` escapes are decoded, however many times
 *   (`%2E%2E`, `.%2e`, `%252E%252E`, `x%2F..`): URL resolution would fold them away, so a
 *   grant on `users/42` would reach `users/42/%2E%2E/7`, which is `users/7` as a URL;
 * - `*`, `#`, `?`, whitespace and control characters are not allowed (they are reserved
 *   for patterns and URLs);
 * - at most {@link DEFAULT_TOPIC_LIMITS}.maxLength characters and `.maxDepth` segments
 *   (both configurable on the broker).
 *
 * Hierarchy: a subscription to `a` covers `a`, `a/b` and `a/b/c`, never `ab` or `a-b`.
 */

/** Limits on topics. */
export interface TopicLimits {
  /** Longest topic, in characters. */
  maxLength: number;
  /** Most segments in a topic. */
  maxDepth: number;
}

/** Default topic limits: 256 characters, 16 segments. */
export const DEFAULT_TOPIC_LIMITS: Readonly<TopicLimits> = Object.freeze({ maxLength: 256, maxDepth: 16 });

const SEGMENT = /^[\p{L}\p{N}\p{M}\-_.~:@!$&'()+,;=%]+$/u;

/**
 * Checks `topic` against the topic rules. Returns `null` when it is valid, else a sentence
 * saying what is wrong (for an `invalid_topic` error).
 */
export function topicProblem(topic: unknown, limits: TopicLimits = DEFAULT_TOPIC_LIMITS): string | null {
  if (typeof topic !== 'string') return 'topic must be a string';
  if (topic.length === 0) return 'topic must not be empty';
  if (topic.length > limits.maxLength) return `topic is longer than ${limits.maxLength} characters`;
  const segments = topic.split('/');
  if (segments.length > limits.maxDepth) return `topic has more than ${limits.maxDepth} segments`;
  for (const segment of segments) {
    if (segment === '') return `topic "${topic}" has an empty segment (leading, trailing or doubled "/")`;
    if (hasDotSegment(segment)) return `topic "${topic}" has a dot segment ("." or "..", perhaps %-encoded)`;
    if (!SEGMENT.test(segment)) return `topic segment "${segment}" has a character that is not allowed`;
  }
  return null;
}

const ESCAPE = /%([0-9A-Fa-f]{2})/g;

/**
 * True when `text`, or what it becomes after decoding its `%XX` escapes once or more, has a
 * `.` or `..` segment between `/` or `\` separators (or at either end): `..`, `%2E%2E`,
 * `a/%2e/b`, `%252E%252E`, `x%2F..%2Fy`. Used on rt topic segments and on Mercure topics.
 */
export function hasDotSegment(text: string): boolean {
  let current = text;
  for (;;) {
    for (const piece of current.split(/[/\\]/)) if (piece === '.' || piece === '..') return true;
    if (!current.includes('%')) return false;
    const decoded = current.replace(ESCAPE, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
    if (decoded === current) return false;
    current = decoded;
  }
}

/** True when `topic` is a valid topic under `limits`. */
export function isValidTopic(topic: unknown, limits?: TopicLimits): topic is string {
  return topicProblem(topic, limits) === null;
}

/**
 * True when a subscription to `subscription` receives messages published on `topic`:
 * the same topic, or one of its descendants. `covers('a', 'a/b')` is true,
 * `covers('a', 'ab')` and `covers('a/b', 'a')` are false.
 */
export function covers(subscription: string, topic: string): boolean {
  if (topic.length === subscription.length) return topic === subscription;
  return (
    topic.length > subscription.length &&
    topic.charCodeAt(subscription.length) === 47 /* / */ &&
    topic.startsWith(subscription)
  );
}

/**
 * The topic and its ancestors, from the root down: `ancestry('a/b/c')` is
 * `['a', 'a/b', 'a/b/c']`.
 */
export function ancestry(topic: string): string[] {
  const out: string[] = [];
  let i = topic.indexOf('/');
  while (i !== -1) {
    out.push(topic.slice(0, i));
    i = topic.indexOf('/', i + 1);
  }
  out.push(topic);
  return out;
}
