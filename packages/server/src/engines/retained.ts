import { ancestry } from '@rt/protocol';
import type { StoredMessage } from './engine.js';

/**
 * The retained values of one process (the memory engine's): the newest retained message per
 * topic, found by subtree through an index per ancestor, so that a subscription to `prices`
 * reads the retained values under `prices` without looking at any other topic.
 */
export class RetainedValues {
  private readonly byTopic = new Map<string, StoredMessage>();
  /** Per topic, the retained topics of its subtree (itself included). */
  private readonly subtrees = new Map<string, Set<string>>();

  /** Keeps `message` as its topic's retained value; `null` data clears the topic's instead. */
  keep(message: StoredMessage): void {
    const topic = message.topic;
    if (message.data === null) {
      if (!this.byTopic.delete(topic)) return;
      for (const t of ancestry(topic)) {
        const subtree = this.subtrees.get(t);
        subtree?.delete(topic);
        if (subtree?.size === 0) this.subtrees.delete(t);
      }
      return;
    }
    if (!this.byTopic.has(topic))
      for (const t of ancestry(topic)) {
        let subtree = this.subtrees.get(t);
        if (!subtree) this.subtrees.set(t, (subtree = new Set()));
        subtree.add(topic);
      }
    this.byTopic.set(topic, message);
  }

  /** The retained values of `topic` and its descendants, in offset order. */
  of(topic: string): StoredMessage[] {
    const out: StoredMessage[] = [];
    for (const t of this.subtrees.get(topic) ?? []) out.push(this.byTopic.get(t)!);
    return out.sort((a, b) => a.off - b.off);
  }
}
