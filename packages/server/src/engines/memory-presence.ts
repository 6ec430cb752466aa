import { type PresenceMember, RtError } from '@rt/protocol';
import type { PresenceEvent, PresenceStore } from './presence.js';

/**
 * Presence in this process's memory (the memory engine: one node). Members by topic, in the
 * order they joined; events go to the host at once, in order.
 */
export class MemoryPresence implements PresenceStore {
  private readonly topics = new Map<string, Map<string, PresenceMember>>();

  constructor(private readonly deliver: (event: PresenceEvent) => void) {}

  async join(topic: string, member: PresenceMember, max: number): Promise<void> {
    let members = this.topics.get(topic);
    if (!members) this.topics.set(topic, (members = new Map()));
    if (!members.has(member.clientId) && members.size >= max) {
      if (members.size === 0) this.topics.delete(topic);
      throw tooMany(topic, max);
    }
    members.set(member.clientId, member);
    this.deliver({ topic, event: 'join', member });
  }

  async leave(topic: string, clientId: string): Promise<void> {
    const members = this.topics.get(topic);
    const member = members?.get(clientId);
    if (!members || !member) return;
    members.delete(clientId);
    if (members.size === 0) this.topics.delete(topic);
    this.deliver({ topic, event: 'leave', member });
  }

  async members(topic: string): Promise<PresenceMember[]> {
    return [...(this.topics.get(topic)?.values() ?? [])];
  }

  async watch(): Promise<void> {}

  unwatch(): void {}
}

/** The refusal of a join past the members-per-topic limit. */
export function tooMany(topic: string, max: number): RtError {
  return new RtError('too_many_members', `"${topic}" has ${max} members already (the broker's maxPresenceMembers)`);
}
