import type { Session } from './session.js';
import type { Outgoing } from './outgoing.js';

/**
 * A trie node. To keep memory per topic small when there are many (a topic per user is
 * common), a node with one subscriber holds it directly, a set appears with the second, and
 * the children map only once there is a child.
 */
interface TrieNode {
  children: Map<string, TrieNode> | undefined;
  sessions: Session | Set<Session> | undefined;
}

const node = (): TrieNode => ({ children: undefined, sessions: undefined });

/**
 * This node's index of who listens to what. Subscriptions sit in a trie over topic segments,
 * so a publish to `a/b/c` visits three nodes, not every subscription; bus joins sit in a map
 * of exact topics.
 */
export class TopicIndex {
  private readonly root = node();
  private readonly buses = new Map<string, Set<Session>>();
  private stamp = 0;

  /** Adds a subscription; true when it is this node's first subscriber of `topic`. */
  subscribe(session: Session, topic: string): boolean {
    let n = this.root;
    for (const segment of topic.split('/')) {
      n.children ??= new Map();
      let child = n.children.get(segment);
      if (!child) n.children.set(segment, (child = node()));
      n = child;
    }
    const had = n.sessions;
    if (had === undefined || had === session) {
      n.sessions = session;
      return true;
    }
    if (had instanceof Set) had.add(session);
    else n.sessions = new Set([had, session]);
    return false;
  }

  /** Removes a subscription; true when `topic` has no subscriber left on this node. */
  unsubscribe(session: Session, topic: string): boolean {
    const path: TrieNode[] = [this.root];
    const segments = topic.split('/');
    for (const segment of segments) {
      const child = path[path.length - 1]!.children?.get(segment);
      if (!child) return false;
      path.push(child);
    }
    const leaf = path[path.length - 1]!;
    const had = leaf.sessions;
    if (had === session) leaf.sessions = undefined;
    else if (had instanceof Set && had.delete(session)) {
      if (had.size === 1) leaf.sessions = had.values().next().value;
    } else return false;
    const empty = leaf.sessions === undefined;
    // Prune empty branches so the trie does not grow with topics nobody listens to any more.
    for (let i = path.length - 1; i > 0; i--) {
      const n = path[i]!;
      if (n.sessions !== undefined || (n.children !== undefined && n.children.size > 0)) break;
      const parent = path[i - 1]!;
      parent.children!.delete(segments[i - 1]!);
      if (parent.children!.size === 0) parent.children = undefined;
    }
    return empty;
  }

  /**
   * Sends `out` (a message on `topic`) to every session subscribed to `topic` or an
   * ancestor, once per session however many of its subscriptions cover it. Returns how many
   * sessions it reached.
   */
  publish(topic: string, out: Outgoing): number {
    const stamp = ++this.stamp;
    let reached = 0;
    let n: TrieNode | undefined = this.root;
    let start = 0;
    while (n) {
      const end = topic.indexOf('/', start);
      const segment = end === -1 ? topic.slice(start) : topic.slice(start, end);
      n = n.children?.get(segment);
      if (!n) break;
      const subscribers = n.sessions;
      if (subscribers instanceof Set) {
        for (const session of subscribers) {
          if (session.stamp === stamp) continue;
          session.stamp = stamp;
          session.send(out);
          reached++;
        }
      } else if (subscribers !== undefined && subscribers.stamp !== stamp) {
        subscribers.stamp = stamp;
        subscribers.send(out);
        reached++;
      }
      if (end === -1) break;
      start = end + 1;
    }
    return reached;
  }

  /** Joins a bus; true when it is this node's first peer on `topic`. */
  join(session: Session, topic: string): boolean {
    let peers = this.buses.get(topic);
    if (!peers) this.buses.set(topic, (peers = new Set()));
    peers.add(session);
    return peers.size === 1;
  }

  /** Leaves a bus; true when `topic` has no peer left on this node. */
  leave(session: Session, topic: string): boolean {
    const peers = this.buses.get(topic);
    if (!peers?.delete(session)) return false;
    if (peers.size > 0) return false;
    this.buses.delete(topic);
    return true;
  }

  /** Sends a bus message to every peer of exactly `topic` but the sender (`from`, a session id). */
  bus(topic: string, out: Outgoing, from: string): number {
    const peers = this.buses.get(topic);
    if (!peers) return 0;
    let reached = 0;
    for (const session of peers) {
      if (session.id === from) continue;
      session.send(out);
      reached++;
    }
    return reached;
  }
}
