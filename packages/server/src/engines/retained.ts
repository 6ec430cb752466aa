import { ancestry } from '@rt/protocol';
import type { StoredMessage } from './engine.js';

/**
 * The retained values of one process (the memory engine's): the newest retained message per
 * topic, found by subtree through an index per ancestor, so that a subscription to `prices`
 * reads the retained values under `prices` without looking at any other topic. At most
 * `max` topics keep a value: past it the least recently retained one is dropped.
 */
export class RetainedValues {
  /** Least recently retained first (a topic retained again moves to the end). */
  private readonly byTopic = new Map<string, StoredMessage>();
  /** Per topic, the retained topics of its subtree (itself included). */
  private readonly subtrees = new Map<string, Set<string>>();
  /** Values dropped because of {@link max}. */
  evicted = 0;

  constructor(private readonly max: number = Number.POSITIVE_INFINITY) {}

  /** Topics holding a value now. */
  get size(): number {
    return this.byTopic.size;
  }

  /** Keeps `message` as its topic's retained value; `null` data clears the topic's instead. */
  keep(message: StoredMessage): void {
    const topic = message.topic;
    if (message.data === null) {
      this.remove(topic);
      return;
    }
    if (this.byTopic.delete(topic)) {
      this.byTopic.set(topic, message);
      return;
    }
    for (const t of ancestry(topic)) {
      let subtree = this.subtrees.get(t);
      if (!subtree) this.subtrees.set(t, (subtree = new Set()));
      subtree.add(topic);
    }
    this.byTopic.set(topic, message);
    while (this.byTopic.size > this.max) {
      this.remove(this.byTopic.keys().next().value!);
      this.evicted++;
    }
  }

  private remove(topic: string): void {
    if (!this.byTopic.delete(topic)) return;
    for (const t of ancestry(topic)) {
      const subtree = this.subtrees.get(t);
      subtree?.delete(topic);
      if (subtree?.size === 0) this.subtrees.delete(t);
    }
  }

  /** The retained values of `topic` and its descendants, in offset order. */
  of(topic: string): StoredMessage[] {
    const out: StoredMessage[] = [];
    for (const t of this.subtrees.get(topic) ?? []) out.push(this.byTopic.get(t)!);
    return out.sort((a, b) => a.off - b.off);
  }
}
