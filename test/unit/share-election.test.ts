/**
 * The election of a shared connection's leader without Web Locks, alone: tabs simulated with
 * Node's BroadcastChannel. Tabs that start together agree on one leader; of two leaders the one
 * with the later term stays and the other follows it; a leader that resigns is replaced.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Election } from '../../packages/client/src/share/election.ts';
import { type ControlMessage, controlChannel } from '../../packages/client/src/share/messages.ts';
import { deadline } from '../helpers/index.ts';

const KEY = 'election';
const open: { election?: Election; channel: BroadcastChannel }[] = [];
afterEach(() => {
  for (const o of open.splice(0)) {
    o.election?.close();
    o.channel.close();
  }
});

/** A tab taking part in the election, and what it was told. */
function tab(id: string): { election: Election; leads: () => boolean; follows: () => string | undefined } {
  const channel = new BroadcastChannel(controlChannel(KEY));
  let leading = false;
  const election = new Election(id, KEY, channel, undefined, {
    lead: () => {
      leading = true;
    },
    stepDown: () => {
      leading = false;
    },
    leader: () => undefined,
  });
  channel.onmessage = (event) => election.hear((event as MessageEvent<ControlMessage>).data);
  open.push({ election, channel });
  return { election, leads: () => leading, follows: () => election.leader };
}

/** A raw voice on the control channel, and what it heard. */
function voice(): { say(m: ControlMessage): void; heard: ControlMessage[] } {
  const channel = new BroadcastChannel(controlChannel(KEY));
  const heard: ControlMessage[] = [];
  channel.onmessage = (event) => heard.push((event as MessageEvent<ControlMessage>).data);
  open.push({ channel });
  return { say: (m) => channel.postMessage(m), heard };
}

async function until(check: () => boolean, what: string): Promise<void> {
  await deadline(
    (async () => {
      while (!check()) await new Promise((r) => setTimeout(r, 10));
    })(),
    5000,
    what,
  );
}

describe('shared connection: the election without Web Locks', () => {
  it('tabs that start together agree on one leader, the lowest id that stood', async () => {
    const tabs = ['c', 'a', 'd', 'b'].map(tab);
    await until(() => tabs.every((t) => t.follows() === 'a'), 'every tab to follow a');
    assert.deepEqual(
      tabs.map((t) => t.leads()),
      [false, true, false, false],
    );
  });

  it('of two leaders, the one with the later term stays; the other steps down and follows it', async () => {
    const a = tab('a');
    await until(() => a.leads(), 'a to lead');
    const other = voice();
    // A worse leader (the same first term, a higher id) does not unseat it: a answers with its own beat.
    other.say({ k: 'beat', id: 'y-stale', term: 1 });
    await until(() => other.heard.some((m) => m.k === 'beat' && m.id === 'a'), "a's answer");
    assert.equal(a.leads(), true);
    // A leader elected later (while a was frozen or cut off) does.
    other.say({ k: 'beat', id: 'z-later', term: Date.now() + 60_000 });
    await until(() => !a.leads(), 'a to step down');
    assert.equal(a.follows(), 'z-later');
  });

  it('a leader that resigns is replaced at once by a follower', async () => {
    const a = tab('a');
    await until(() => a.leads(), 'a to lead');
    const b = tab('b');
    await until(() => b.follows() === 'a', 'b to follow a');
    a.election.resign();
    await until(() => b.leads(), 'b to lead');
    assert.equal(a.leads(), false);
    await until(() => a.follows() === 'b', 'a to follow b');
  });
});
