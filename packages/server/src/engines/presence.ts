import type { PresenceMember } from '@rt/protocol';

/** A member joined or left a topic's presence, as an engine delivers it to every node that watches the topic. */
export interface PresenceEvent {
  topic: string;
  event: 'join' | 'leave';
  member: PresenceMember;
}

/**
 * Presence as an engine keeps it: who is a member of which topic, shared by every node, with
 * `join`/`leave` events for the nodes that watch a topic (delivered to the host's
 * `deliverPresence`). A node's members go when the node does: at once when it closes, within a
 * bound the engine documents when it dies.
 */
export interface PresenceStore {
  /**
   * Adds `member` to `topic` (replaces it when its `clientId` is there already) and tells the
   * watchers `join`. Rejects with `too_many_members` when the topic has `max` members already.
   */
  join(topic: string, member: PresenceMember, max: number): Promise<void>;
  /** Removes the member `clientId` of this node from `topic` and tells the watchers `leave` (nothing when it is not there). */
  leave(topic: string, clientId: string): Promise<void>;
  /** The members of `topic` now. */
  members(topic: string): Promise<PresenceMember[]>;
  /** This node wants the events of `topic` (idempotent while watched); resolves once they will be delivered. */
  watch(topic: string): Promise<void>;
  /** This node has no watcher of `topic` left. */
  unwatch(topic: string): void;
}
