import { type ClientOp, covers, isValidTopic } from '@rt/protocol';

/**
 * What an identity may touch: topics it may read (`subscribe`) and write (`publish`). An
 * entry is a topic, which covers its descendants (`users/42` covers `users/42/inbox`, never
 * `users` nor `users/7`), or `*` for every topic. This is the `rt` claim of a JWT.
 */
export interface Grants {
  /** Topics this identity may read: subscribe to, join the bus of, pull from, join and watch the presence of. */
  subscribe?: readonly string[];
  /** Topics this identity may write: publish to, send on the bus of, push to. */
  publish?: readonly string[];
}

/** The operations that need a grant, and which list grants each. */
const SIDE: Partial<Record<ClientOp, keyof Grants>> = {
  sub: 'subscribe',
  join: 'subscribe',
  pull: 'subscribe',
  presence: 'subscribe',
  pub: 'publish',
  bus: 'publish',
  push: 'publish',
};

/**
 * Which list of {@link Grants} decides `op`: `subscribe` for `sub`, `join`, `pull` and
 * `presence` (they receive), `publish` for `pub`, `bus` and `push` (they send); `undefined` for operations that
 * only let go of something (`unsub`, `leave`, `unpull`, `ack`, `nack`) or name no topic
 * (`call`), which need no grant.
 */
export function grantSide(op: ClientOp): keyof Grants | undefined {
  return SIDE[op];
}

/** True when `entries` (a grant list) covers `topic`: one entry is `*`, the topic itself, or an ancestor. */
function grantCovers(entries: readonly string[] | undefined, topic: string): boolean {
  if (!entries) return false;
  for (const entry of entries) if (entry === '*' || covers(entry, topic)) return true;
  return false;
}

/** True when `grants` allow `op` on `topic` (operations that need no grant are always allowed). */
export function grantsAllow(grants: Grants | undefined, op: ClientOp, topic: string): boolean {
  const side = grantSide(op);
  if (side === undefined) return true;
  return grantCovers(grants?.[side], topic);
}

/**
 * Checks a grants object from an untrusted source (a token's claim); returns a sentence saying
 * what is wrong, or `null`.
 */
export function grantsProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'must be an object { subscribe?: [...], publish?: [...] }';
  for (const side of ['subscribe', 'publish'] as const) {
    const list = (value as Record<string, unknown>)[side];
    if (list === undefined) continue;
    if (!Array.isArray(list)) return `"${side}" must be an array of topics`;
    for (const entry of list) {
      if (entry !== '*' && !isValidTopic(entry))
        return `"${side}" has ${JSON.stringify(entry)}, which is neither a topic nor "*"`;
    }
  }
  return null;
}
