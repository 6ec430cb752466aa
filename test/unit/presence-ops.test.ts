/**
 * The presence operation against a store whose joins the test completes by hand: a connection
 * that closes, or leaves, while its join is under way leaves no member behind; a join again
 * keeps the member's id and time; a connection's slots count against `maxSubscriptions`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PresenceMember } from '@rt/protocol';
import { MemoryPresence } from '../../packages/server/src/engines/memory-presence.ts';
import type { PresenceStore } from '../../packages/server/src/engines/presence.ts';
import { DEFAULT_LIMITS } from '../../packages/server/src/options.ts';
import { Presences } from '../../packages/server/src/ops/presence.ts';
import { Flusher, Session, type Wire } from '../../packages/server/src/session.ts';

function session(): Session {
  const wire: Wire = { transport: 'test', write: () => undefined, close: () => undefined };
  return new Session(wire, new Flusher());
}

/** A memory store whose joins wait until the test calls `finish()`. */
class SlowStore implements PresenceStore {
  readonly inner = new MemoryPresence(() => undefined);
  private waiting: (() => void)[] = [];
  private arrived: (() => void) | undefined;

  async join(topic: string, member: PresenceMember, max: number): Promise<void> {
    await new Promise<void>((resolve) => {
      this.waiting.push(resolve);
      this.arrived?.();
    });
    await this.inner.join(topic, member, max);
  }

  /** Resolves once a join waits. */
  joining(): Promise<void> {
    if (this.waiting.length > 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.arrived = resolve;
    });
  }

  /** Lets the joins waiting so far go on. */
  finish(): void {
    for (const go of this.waiting.splice(0)) go();
  }

  leave(topic: string, clientId: string): Promise<void> {
    return this.inner.leave(topic, clientId);
  }

  members(topic: string): Promise<PresenceMember[]> {
    return this.inner.members(topic);
  }

  async watch(): Promise<void> {}

  unwatch(): void {}
}

describe('presence operation', () => {
  it('a connection that closes while its join is under way leaves no member behind', async () => {
    const store = new SlowStore();
    const presences = new Presences(() => store, DEFAULT_LIMITS);
    const s = session();
    const joining = presences.run(null, s, 'room', { do: 'join' });
    await store.joining();
    presences.release(s);
    store.finish();
    await assert.rejects(joining, { code: 'connection_lost' });
    assert.deepEqual(await store.members('room'), []);
  });

  it('a leave that overtakes its join leaves no member behind', async () => {
    const store = new SlowStore();
    const presences = new Presences(() => store, DEFAULT_LIMITS);
    const s = session();
    const joining = presences.run(null, s, 'room', { do: 'join', member: 'tab' });
    await store.joining();
    await presences.run(null, s, 'room', { do: 'leave', member: 'tab' });
    store.finish();
    await assert.rejects(joining, { code: 'connection_lost' });
    assert.deepEqual(await store.members('room'), []);
  });

  it('a join again changes the info and keeps the id and the time; slots count against maxSubscriptions', async () => {
    const store = new MemoryPresence(() => undefined);
    const presences = new Presences(() => store, { ...DEFAULT_LIMITS, maxSubscriptions: 2 });
    const s = session();
    const first = await presences.run({ sub: 'amy' }, s, 'room', { do: 'join', info: { mood: 'ok' } });
    const again = await presences.run({ sub: 'amy' }, s, 'room', { do: 'join', info: { mood: 'great' } });
    assert.equal(again?.self, first?.self);
    assert.deepEqual(
      again?.members.map((m) => [m.subject, m.info, m.since]),
      [['amy', { mood: 'great' }, first!.members[0]!.since]],
    );
    await presences.run(null, s, 'hall', { do: 'watch' });
    await assert.rejects(presences.run(null, s, 'lobby', { do: 'watch' }), { code: 'too_many_subscriptions' });
  });
});
