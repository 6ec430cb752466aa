/**
 * How Mercure topics (IRIs, or any string) map onto rt topics, and back. One system: a
 * Mercure update published on `https://example.com/books/1` is an rt message on the rt topic
 * `https:/example.com/books/1`, and an rt publish on `chat/room1` is a Mercure update on the
 * topic `chat/room1`.
 *
 * The mapping (`mercureToRtTopic`), applied to the Mercure topic:
 *
 * 1. `scheme://rest` becomes the segments `scheme:` and those of `rest` split on `/`
 *    (`https://example.com/books/1` → `https:` `example.com` `books` `1`). Otherwise the
 *    topic is split on `/`; there, a first segment of the form `scheme:` followed by more
 *    segments has its `:` escaped (`https:/x` → `https%3A/x`), so that rule 1 stays reversible.
 * 2. In each segment, every character rt does not allow in a segment, and `%` itself, is
 *    percent-encoded as UTF-8 (`?` → `%3F`, space → `%20`, `%` → `%25`); a segment that is
 *    exactly `.` or `..` becomes `%2E` or `%2E%2E`; an empty segment (`a//b`, a trailing `/`)
 *    becomes a lone `%`.
 * 3. The segments are joined with `/`.
 *
 * Dot segments: a Mercure topic with a `.` or `..` segment in any encoding (`a/../b`,
 * `a/%2E%2E/b`, `a\..\b`; see `hasDotSegment` in `@rt/protocol`) maps to an rt topic
 * that has one too, and rt topics never do: such a topic is refused in both directions (a
 * Mercure publish gets 400 for any of its topics, an rt publish gets `invalid_topic`), so a
 * grant can never be bypassed by a path that URL resolution folds into another one.
 *
 * `rtToMercureTopic` undoes it, so `rtToMercureTopic(mercureToRtTopic(t)) === t` for every string `t`. A topic
 * that is already a valid rt topic without `%` and without a leading `scheme:` segment maps
 * to itself (`chat/room1`, `urn:isbn:123`, `books/1`). Mercure selectors are not mapped: they
 * are matched against Mercure topics (see `selectors.ts`). The mapped topic must fit rt's
 * topic limits (`maxTopicLength`, `maxTopicDepth`); a publish whose canonical topic does not
 * gets a 400.
 */

import { hasDotSegment } from '@rt/protocol';

/** Longest Mercure topic (canonical or alternate) a publish may carry, in characters. */
const MAX_MERCURE_TOPIC_LENGTH = 2048;

/** Why a Mercure topic of a publish is refused, or `null` (its rt form is checked apart). */
export function mercureTopicProblem(topic: string): string | null {
  if (topic.length > MAX_MERCURE_TOPIC_LENGTH) return `the topic is longer than ${MAX_MERCURE_TOPIC_LENGTH} characters`;
  if (hasDotSegment(topic)) return `the topic "${topic}" has a dot segment ("." or "..", perhaps %-encoded)`;
  return null;
}

const SCHEME_PREFIX = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([\s\S]*)$/;
const SCHEME_SEGMENT = /^[A-Za-z][A-Za-z0-9+.-]*:$/;
/** A character rt allows in a topic segment (see `@rt/protocol` topics.ts), less `%`. */
const KEPT = /^[\p{L}\p{N}\p{M}\-_.~:@!$&'()+,;=]$/u;

function escapeSegment(segment: string): string {
  if (segment === '') return '%';
  if (segment === '.') return '%2E';
  if (segment === '..') return '%2E%2E';
  let out = '';
  for (const ch of segment) {
    if (KEPT.test(ch)) out += ch;
    else for (const byte of Buffer.from(ch, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Decodes `%XX` escapes (UTF-8); anything else, including a stray `%`, stays as it is. */
function unescapeSegment(segment: string): string {
  if (segment === '%') return '';
  if (!segment.includes('%')) return segment;
  return segment.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    const bytes = Buffer.from(run.replace(/%/g, ''), 'hex');
    const text = bytes.toString('utf8');
    // Invalid UTF-8 would decode to U+FFFD: keep such escapes as they are.
    return Buffer.from(text, 'utf8').equals(bytes) ? text : run;
  });
}

/** The rt topic a Mercure topic maps to (it may still break rt's length or depth limits). */
export function mercureToRtTopic(topic: string): string {
  const m = SCHEME_PREFIX.exec(topic);
  let segments: string[];
  if (m) {
    segments = [`${m[1]!}:`, ...m[2]!.split('/').map(escapeSegment)];
  } else {
    const parts = topic.split('/');
    segments = parts.map(escapeSegment);
    if (parts.length > 1 && SCHEME_SEGMENT.test(parts[0]!)) segments[0] = `${parts[0]!.slice(0, -1)}%3A`;
  }
  return segments.join('/');
}

/** The Mercure topic of an rt topic (the inverse of {@link mercureToRtTopic}). */
export function rtToMercureTopic(topic: string): string {
  const segments = topic.split('/');
  if (segments.length > 1 && SCHEME_SEGMENT.test(segments[0]!)) {
    return `${segments[0]!}//${segments.slice(1).map(unescapeSegment).join('/')}`;
  }
  return segments.map(unescapeSegment).join('/');
}
