/**
 * The client's presence against a fake transport: the frames it sends (join with its member
 * slot and info, watch, leave), events that arrive before the answer merged with the members
 * it carries, and the difference emitted after a reconnect.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type Client, type Presence, connect } from '@rt/client';
import type { PresenceMember } from '@rt/protocol';
import { FakeBroker } from '../helpers/fake-transport.ts';

function client(fake: FakeBroker): Client {
  return connect('http://fake.invalid', {
    transports: [fake.factory],
    reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
    lifecycle: false,
    presence: { info: { name: 'default' } },
  });
}

const member = (clientId: string, since: number, name: string): PresenceMember => ({
  clientId,
  since,
  info: { name },
});

/** Every join and leave of `p`, as `join x` / `leave x` by clientId. */
function events(p: Presence): string[] {
  const seen: string[] = [];
  p.on('join', ({ member }) => seen.push(`join ${member.clientId}`));
  p.on('leave', ({ member }) => seen.push(`leave ${member.clientId}`));
  return seen;
}

describe('client presence (fake transport)', () => {
  it('sends join with its member slot and info, watch without joining, leave for the same slot', async () => {
    const fake = new FakeBroker();
    const c = client(fake);
    const joined = c.topic('room').presence();
    const watched = c.topic('hall').presence({ join: false });
    const conn = await fake.accept(0);
    const join = await conn.ok('presence', { data: { members: [], self: 'me' } });
    const watch = await conn.ok('presence', { data: { members: [] } });
    assert.ok(join.t === 'presence' && watch.t === 'presence');
    assert.deepEqual([join.do, join.topic, join.info], ['join', 'room', { name: 'default' }]);
    assert.deepEqual([watch.do, watch.topic, watch.info], ['watch', 'hall', undefined]);
    assert.equal(typeof join.member, 'string');
    assert.equal(join.member, watch.member, 'one client, one member slot');
    await Promise.all([joined.ready, watched.ready]);
    assert.equal(joined.self, 'me');
    const leaving = joined.leave();
    const leave = await conn.ok('presence');
    await leaving;
    assert.ok(leave.t === 'presence');
    assert.deepEqual([leave.do, leave.topic, leave.member], ['leave', 'room', join.member]);
    c.close();
  });

  it('events before the answer go on top of the members it carries', async () => {
    const fake = new FakeBroker();
    const c = client(fake);
    const p = c.topic('room').presence({ info: { name: 'me' } });
    const seen = events(p);
    const conn = await fake.accept(0);
    const frame = await conn.next((f) => f.t === 'presence');
    // x left and y joined after the broker registered this watcher, before it read the members (x still there).
    conn.deliver({ t: 'presence', topic: 'room', event: 'leave', member: member('x', 1, 'x') });
    conn.deliver({ t: 'presence', topic: 'room', event: 'join', member: member('y', 3, 'y') });
    conn.deliver({
      t: 'ok',
      ref: frame.ref,
      data: { members: [member('x', 1, 'x'), member('me', 2, 'me')], self: 'me' },
    });
    await p.ready;
    assert.deepEqual(
      p.members.map((m) => m.clientId),
      ['me', 'y'],
    );
    assert.deepEqual(seen, ['join y', 'join me']);
    c.close();
  });

  it('after a reconnect, the members are read again and the difference comes as events', async () => {
    const fake = new FakeBroker();
    const c = client(fake);
    const p = c.topic('room').presence();
    const seen = events(p);
    const first = await fake.accept(0);
    await first.ok('presence', {
      data: { members: [member('old-me', 1, 'me'), member('x', 2, 'x'), member('y', 3, 'y')], self: 'old-me' },
    });
    await p.ready;
    seen.length = 0;
    first.drop();
    const second = await fake.accept(1);
    const again = await second.ok('presence', {
      data: { members: [member('y', 3, 'y'), member('z', 4, 'z'), member('new-me', 5, 'me')], self: 'new-me' },
    });
    assert.ok(again.t === 'presence' && again.do === 'join');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, ['leave old-me', 'leave x', 'join z', 'join new-me']);
    assert.equal(p.self, 'new-me');
    assert.deepEqual(
      p.members.map((m) => m.clientId),
      ['y', 'z', 'new-me'],
    );
    c.close();
  });
});
