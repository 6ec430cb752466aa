import type { ClientFrame, ErrorCode, ServerFrame } from '@rt/protocol';
import type { TransportName } from '../transports/transport.js';

/**
 * What tabs say on a group's control channel (`rt-share/<key>`), every tab listening:
 * - `hello`: a tab's client opens a session (its virtual connection) with the leader;
 * - `leader`: a tab became the leader (sessions with an earlier leader are over).
 */
export type ControlMessage = { k: 'hello'; tab: string; session: string } | { k: 'leader'; id: string };

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
