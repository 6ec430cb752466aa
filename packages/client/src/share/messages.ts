import type { ClientFrame, ErrorCode, ServerFrame } from '@rt/protocol';
import type { TransportName } from '../transports/transport.js';

/**
 * What tabs say on a group's control channel (`rt-share/<key>`), every tab listening:
 * - `hello`: a tab's client opens a session (its virtual connection) with the leader `to`;
 * - `beat`: the leader `id` is alive, leading since `term` (on its timer, when it starts
 *   leading, and in answer to a `ping`). Of two leaders, the higher term wins (ties: lower id);
 * - `ping`: a follower has not heard its leader for a while (the leader answers from its
 *   message handler, which background timer throttling does not slow down);
 * - `claim`: a follower found no live leader and stands (the lowest id standing wins);
 * - `resign`: the leader `id` steps down (its page is going away, or its app closed it);
 * - `roll` / `here` / `gone`: without Web Locks, the leader's roll call of the tabs, each
 *   answering `here`, and a tab saying it goes away (`pagehide`).
 */
export type ControlMessage =
  | { k: 'hello'; tab: string; session: string; to: string }
  | { k: 'beat'; id: string; term: number }
  | { k: 'ping'; tab: string }
  | { k: 'claim'; id: string }
  | { k: 'resign'; id: string }
  | { k: 'roll'; id: string }
  | { k: 'here'; tab: string }
  | { k: 'gone'; tab: string };

/**
 * What goes over one session's channel (`rt-share/<key>/<session>`), between one tab's client
 * and the leader: the leader's `welcome` or `refuse`, then frames both ways, until either
 * side's `close`.
 */
export type SessionMessage =
  | { k: 'welcome'; leader: string; transport: TransportName }
  | { k: 'refuse'; code: ErrorCode; message: string }
  | { k: 'up'; frame: ClientFrame }
  | { k: 'down'; frame: ServerFrame }
  | { k: 'close'; reason: string };

/** The control channel's name of the group `key`. */
export const controlChannel = (key: string): string => `rt-share/${key}`;
/** The channel of one session of the group `key`. */
export const sessionChannel = (key: string, session: string): string => `rt-share/${key}/${session}`;
/** The Web Lock held by the group's leader for as long as it leads. */
export const leaderLock = (key: string): string => `rt-share/${key}/leader`;
/** The Web Lock every tab (or worker) holds for its life: granted to another once it is gone. */
export const tabLock = (tab: string): string => `rt-share/tab/${tab}`;

/** The leader's heartbeat period, in ms (also how often a follower checks it heard one). */
export const BEAT_MS = 1000;
/** A leader that has not answered a ping for this long is taken for gone (frozen, hung or crashed). */
export const DEAD_MS = 3000;
/** How long a follower that stands waits for a lower claim before it leads, in ms. */
export const CLAIM_MS = 250;
