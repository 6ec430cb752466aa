/** Topic helpers the baseline servers share: they fan out to a topic's ancestors as rt does. */

/** `a/b/c` → `a`, `a/b`, `a/b/c`. */
export function ancestry(topic: string): string[] {
  const parts = topic.split('/');
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}

/** Calls `send` once for every subscriber of `topic` or of one of its ancestors. */
export function fanOut<T>(subscribers: Map<string, Set<T>>, topic: string, send: (peer: T) => void): void {
  const topics = ancestry(topic);
  if (topics.length === 1) {
    for (const peer of subscribers.get(topic) ?? []) send(peer);
    return;
  }
  const sent = new Set<T>();
  for (const t of topics) {
    for (const peer of subscribers.get(t) ?? []) {
      if (sent.has(peer)) continue;
      sent.add(peer);
      send(peer);
    }
  }
}

/** Adds `peer` to the subscribers of `topic`. */
export function addSubscriber<T>(subscribers: Map<string, Set<T>>, topic: string, peer: T): void {
  let set = subscribers.get(topic);
  if (!set) subscribers.set(topic, (set = new Set()));
  set.add(peer);
}
