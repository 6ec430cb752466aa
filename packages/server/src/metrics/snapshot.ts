import { DOORS, doorOf } from './counters.js';
import type { MonitorSource } from './source.js';

/** Connections, holdings and topics of one node at one moment (read by metrics and the admin page). */
export interface NodeSnapshot {
  /** Open connections by `door transport` (e.g. `socket.io websocket`, `sse-plain sse`, `mercure sse`). */
  connections: Map<string, number>;
  subscriptions: number;
  busJoins: number;
  pullers: number;
  /** Subscribers by topic (node-local; topics, so never a metric label). */
  topics: Map<string, number>;
}

/**
 * Counts what the node's sessions hold, by walking them: O(connections + subscriptions),
 * done only when metrics are scraped or the admin page asks. Every door appears, with 0.
 */
export function snapshot(source: MonitorSource): NodeSnapshot {
  const connections = new Map<string, number>();
  const topics = new Map<string, number>();
  let subscriptions = 0;
  let busJoins = 0;
  let pullers = 0;
  // By door, then transport: no key string built per session (a scrape walks every one).
  const byDoor = new Map<string, Map<string, number>>();
  for (const session of source.sessions()) {
    const wire = session.wire;
    const door = doorOf(wire);
    let byTransport = byDoor.get(door);
    if (byTransport === undefined) {
      byTransport = new Map();
      byDoor.set(door, byTransport);
    }
    const transport = wire.transport;
    byTransport.set(transport, (byTransport.get(transport) ?? 0) + 1);
    subscriptions += session.subscriptions.size;
    for (const topic of session.subscriptions) topics.set(topic, (topics.get(topic) ?? 0) + 1);
    const holdings = session.holdings - session.subscriptions.size;
    if (holdings > 0) {
      busJoins += session.joins.size;
      pullers += session.pulls.size;
    }
  }
  for (const [door, byTransport] of byDoor) {
    for (const [transport, n] of byTransport) connections.set(`${door} ${transport}`, n);
  }
  for (const { door, transport, count } of source.sessionless()) {
    const key = `${door} ${transport}`;
    connections.set(key, (connections.get(key) ?? 0) + count);
  }
  // Every door shows, with 0 when empty (under its usual transport), so graphs show 0, not nothing.
  for (const [door, transport] of Object.entries(DOORS)) {
    if (![...connections.keys()].some((k) => k.startsWith(`${door} `))) connections.set(`${door} ${transport}`, 0);
  }
  return { connections, subscriptions, busJoins, pullers, topics };
}
