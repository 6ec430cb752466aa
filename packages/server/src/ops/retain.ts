/**
 * Latest-value (retained) topics: a topic keeps its last message when a publish asks for it
 * (`retain: true`) or when the topic matches one of the broker's `retain` patterns; a new
 * subscription gets the retained values of its topic and of the topic's descendants at once,
 * marked `retained: true`. Publishing `null` with retain clears the value (as in MQTT). Private
 * messages (the Mercure hub's) are never retained.
 *
 * Which subscriptions get them (the history and recovery rules are unchanged):
 * - a subscription without a position (a new one) gets every retained value of its subtree;
 * - a subscription that recovers from a position gets its replay; retained values only for
 *   what it missed and the replay cannot carry, i.e. after a `gap` (`history` or `epoch`): the
 *   retained value of each topic published after the position (any, after an `epoch` gap)
 *   and absent from the replay. A complete replay holds every newer value already.
 */
import { RtError, covers, topicProblem } from '@rt/protocol';
import type { Engine, StoredMessage } from '../engines/engine.js';
import { Outgoing } from '../outgoing.js';
import type { Position } from './types.js';

/**
 * What is wrong with a `retain` pattern, or `null`: a topic (that topic only), a topic ending
 * in `/#` (the topic and its descendants), or `#` (every topic); `+` stands for one segment.
 */
export function retainPatternProblem(pattern: unknown): string | null {
  if (typeof pattern !== 'string') return 'a retain pattern must be a string';
  if (pattern === '#') return null;
  const base = pattern.endsWith('/#') ? pattern.slice(0, -2) : pattern;
  const probe = base
    .split('/')
    .map((s) => (s === '+' ? 'x' : s))
    .join('/');
  const problem = topicProblem(probe, { maxLength: Infinity, maxDepth: Infinity });
  return problem === null ? null : `retain pattern "${pattern}": ${problem}`;
}

/** The broker's `retain` patterns: whether a topic keeps its last message without asking. */
export class RetainPatterns {
  private readonly exact = new Set<string>();
  private readonly subtrees: string[] = [];
  private readonly wild: { segments: string[]; deep: boolean }[] = [];
  private all = false;

  /** Throws `bad_frame` on an invalid pattern (see {@link retainPatternProblem}). */
  constructor(patterns: readonly string[] = []) {
    for (const pattern of patterns) {
      const problem = retainPatternProblem(pattern);
      if (problem !== null) throw new RtError('bad_frame', problem);
      if (pattern === '#') this.all = true;
      const deep = pattern.endsWith('/#');
      const base = deep ? pattern.slice(0, -2) : pattern;
      const segments = base.split('/');
      if (segments.includes('+')) this.wild.push({ segments, deep });
      else if (deep) this.subtrees.push(base);
      else this.exact.add(base);
    }
  }

  /** True when `topic` matches a pattern. */
  matches(topic: string): boolean {
    if (this.all || this.exact.has(topic)) return true;
    for (const base of this.subtrees) if (covers(base, topic)) return true;
    if (this.wild.length === 0) return false;
    const segments = topic.split('/');
    for (const { segments: want, deep } of this.wild) {
      if (deep ? segments.length < want.length : segments.length !== want.length) continue;
      if (want.every((s, i) => s === '+' || s === segments[i])) return true;
    }
    return false;
  }
}

/** The `msg` frame of a retained value: `retained: true`, the payload's JSON text reused. */
export function retainedOutgoing(m: StoredMessage): Outgoing {
  const frame = { t: 'msg', topic: m.topic, data: m.data, off: m.off, retained: true } as const;
  if (m.dataText === undefined) return new Outgoing(frame);
  return new Outgoing(
    frame,
    `{"t":"msg","retained":true,"topic":${JSON.stringify(m.topic)},"off":${m.off},"data":${m.dataText}}`,
  );
}

/** The retained values of `topics` and their descendants, each once, in offset order; private ones left out. */
export async function retainedOf(engine: Engine, topics: readonly string[]): Promise<StoredMessage[]> {
  const found = await Promise.all(topics.map((t) => engine.retained(t)));
  if (found.length === 1) return found[0]!.filter((m) => !m.meta?.private);
  const byTopic = new Map<string, StoredMessage>();
  for (const list of found) for (const m of list) if (!m.meta?.private) byTopic.set(m.topic, m);
  return [...byTopic.values()].sort((a, b) => a.off - b.off);
}

/**
 * The retained values a recovery from `from` missed and its `replay` does not carry (see the
 * rules above; `now`: the position the subscription continues from): none when the replay
 * is complete (`gap` false).
 */
export async function missedRetained(
  engine: Engine,
  topics: readonly string[],
  from: Position,
  now: Position,
  replay: readonly StoredMessage[],
  gap: boolean,
): Promise<StoredMessage[]> {
  if (!gap) return [];
  const replayed = new Set(replay.map((m) => m.off));
  const epoch = now.ep;
  return (await retainedOf(engine, topics)).filter(
    (m) => !replayed.has(m.off) && (from.ep !== epoch || m.off > from.off),
  );
}

/**
 * The `retain` query parameter of an HTTP or raw publish URL (`?retain=1` or `true`; `0`,
 * `false` or none: not retained); throws `bad_frame` on anything else.
 */
export function queryRetain(url: URL): boolean {
  const value = url.searchParams.get('retain');
  if (value === null || value === '0' || value === 'false') return false;
  if (value === '' || value === '1' || value === 'true') return true;
  throw new RtError('bad_frame', '"retain" must be 1, true, 0 or false');
}
