/**
 * The leader of a shared connection, alone: tabs simulated with Node's BroadcastChannel, the
 * broker with a fake transport whose frames the test answers. What a browser test cannot pin
 * down frame by frame: a bus message goes to the other tabs and not its sender, jobs take turns
 * and go back when a tab leaves, and a tab recovering a topic the connection holds gets its
 * replay before its answer, in offset order.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientFrame, ServerFrame } from '@rt/protocol';
import { Leader } from '../../packages/client/src/share/leader.ts';
import { type SessionMessage, controlChannel, sessionChannel } from '../../packages/client/src/share/messages.ts';
import type { TabWatch } from '../../packages/client/src/share/watch.ts';
import type {
  TransportContext,
  TransportEvents,
  TransportFactory,
} from '../../packages/client/src/transports/transport.ts';
import { deadline } from '../helpers/index.ts';

/** No tab is ever seen gone (the test closes sessions itself). */
const neverGone: TabWatch = { watch: () => undefined, close: () => undefined };

/** The broker's side: every frame the leader sent, and a way to answer. */
class FakeBroker implements TransportFactory {
  readonly name = 'websocket' as const;
  readonly sent: ClientFrame[] = [];
  private events: TransportEvents | undefined;
  available(): boolean {
    return true;
  }
  create(_context: TransportContext, events: TransportEvents) {
    this.events = events;
    return {
      name: this.name,
      open: () => Promise.resolve(),
      send: (frame: ClientFrame) => void this.sent.push(frame),
      close: () => undefined,
    };
  }
  frame(frame: ServerFrame): void {
    this.events!.frame(frame);
  }
  /** The last frame sent of type `t` (optionally on `topic`). */
  last(t: ClientFrame['t'], topic?: string): ClientFrame {
    const found = this.sent.filter((f) => f.t === t && (topic === undefined || ('topic' in f && f.topic === topic)));
    assert.ok(found.length > 0, `no "${t}" frame sent`);
    return found.at(-1)!;
  }
}

const KEY = 'unit';
/** The job id of an `ack` or `nack`. */
const idOf = (frame: ClientFrame): string | undefined => ('id' in frame ? frame.id : undefined);
const channels: BroadcastChannel[] = [];
let leader: Leader | undefined;
afterEach(() => {
  leader?.close();
  for (const c of channels.splice(0)) c.close();
});

/** Polls `check` until true, failing after 5 s (BroadcastChannel delivers asynchronously). */
async function until(check: () => boolean, what: string): Promise<void> {
  await deadline(
    (async () => {
      while (!check()) await new Promise((r) => setTimeout(r, 5));
    })(),
    5000,
    what,
  );
}

/** A tab's session with the leader: says hello, waits for the welcome, records what comes down. */
async function tab(session: string): Promise<{ down: ServerFrame[]; up(frame: ClientFrame): void; close(): void }> {
  const control = new BroadcastChannel(controlChannel(KEY));
  const channel = new BroadcastChannel(sessionChannel(KEY, session));
  channels.push(control, channel);
  const down: ServerFrame[] = [];
  let welcomed = false;
  channel.onmessage = (event: MessageEvent<SessionMessage>) => {
    if (event.data.k === 'welcome') welcomed = true;
    if (event.data.k === 'down') down.push(event.data.frame);
  };
  control.postMessage({ k: 'hello', tab: `tab-${session}`, session, to: 'leader-tab' });
  await until(() => welcomed, `${session} welcomed`);
  return {
    down,
    up: (frame) => channel.postMessage({ k: 'up', frame } satisfies SessionMessage),
    close: () => channel.postMessage({ k: 'close', reason: 'test' } satisfies SessionMessage),
  };
}

function start(): FakeBroker {
  const broker = new FakeBroker();
  const context: TransportContext = {
    url: 'http://x',
    prefix: '/rt',
    token: undefined,
    openTimeoutMs: 1000,
    WebSocket: undefined,
    EventSource: undefined,
    fetch: undefined,
  };
  leader = new Leader('leader-tab', KEY, [broker], () => context, neverGone);
  return broker;
}

describe('shared connection: the leader', () => {
  it('a bus message reaches the other tabs joined to the topic, not its sender', async () => {
    const broker = start();
    const a = await tab('a');
    const b = await tab('b');
    const c = await tab('c');
    a.up({ t: 'join', ref: 1, topic: 'room' });
    b.up({ t: 'join', ref: 1, topic: 'room' });
    await until(() => broker.sent.filter((f) => f.t === 'join').length === 2, 'both joins upstream');
    for (const f of broker.sent) broker.frame({ t: 'ok', ref: f.ref });
    a.up({ t: 'bus', ref: 2, topic: 'room', data: 'hi' });
    await until(() => broker.sent.some((f) => f.t === 'bus'), 'the bus message upstream');
    broker.frame({ t: 'ok', ref: broker.last('bus').ref });
    await until(() => a.down.some((f) => f.t === 'ok' && f.ref === 2), "a's answer");
    await until(() => b.down.some((f) => f.t === 'bus'), 'b to get it');
    assert.deepEqual(
      b.down.find((f) => f.t === 'bus'),
      { t: 'bus', topic: 'room', data: 'hi' },
    );
    assert.equal(a.down.filter((f) => f.t === 'bus').length, 0, 'not to the sender');
    assert.equal(c.down.length, 0, 'not to a tab that did not join');
  });

  it('a tab asking for deltas gets whole messages: the shared connection does not ask for them', async () => {
    const broker = start();
    const a = await tab('a');
    a.up({ t: 'sub', ref: 1, topic: 'quotes', pace: { mode: 'latest', delta: true } });
    await until(() => broker.sent.some((f) => f.t === 'sub'), 'the subscription upstream');
    const sub = broker.last('sub', 'quotes');
    assert.deepEqual(sub, { t: 'sub', ref: sub.ref, topic: 'quotes', pace: { mode: 'latest', delta: false } });
  });

  it('jobs take turns between tabs; a tab that leaves has its jobs nacked', async () => {
    const broker = start();
    const a = await tab('a');
    const b = await tab('b');
    a.up({ t: 'pull', ref: 1, topic: 'work', prefetch: 1 });
    await until(() => broker.sent.some((f) => f.t === 'pull'), 'the pull upstream');
    b.up({ t: 'pull', ref: 1, topic: 'work', prefetch: 1 });
    await until(() => b.down.some((f) => f.t === 'ok'), "b's pull answered by the leader");
    assert.equal(broker.sent.filter((f) => f.t === 'pull').length, 1, 'one puller on the connection');
    broker.frame({ t: 'ok', ref: broker.last('pull').ref });
    for (const id of ['j1', 'j2', 'j3']) broker.frame({ t: 'job', topic: 'work', id, data: id });
    await until(() => a.down.some((f) => f.t === 'job') && b.down.some((f) => f.t === 'job'), 'one job each');
    const jobOf = (down: ServerFrame[]): string[] => down.flatMap((f) => (f.t === 'job' ? [f.id] : []));
    assert.deepEqual([...jobOf(a.down), ...jobOf(b.down)].sort(), ['j1', 'j2'], 'j3 waits: both are busy');
    const [held] = jobOf(a.down);
    a.close();
    await until(() => broker.sent.some((f) => f.t === 'nack'), "a's job nacked");
    assert.equal(idOf(broker.last('nack')), held);
    b.up({ t: 'ack', ref: 2, id: jobOf(b.down)[0]! });
    await until(() => jobOf(b.down).includes('j3'), 'j3 to go to b once it has room');
    assert.equal(idOf(broker.last('ack')), jobOf(b.down)[0]);
  });

  it("gaps and errors are each tab's own: a recovering tab's gap goes to it alone, a refusal to the tab that asked", async () => {
    const broker = start();
    const a = await tab('a');
    const b = await tab('b');
    const c = await tab('c');
    a.up({ t: 'sub', ref: 1, topic: 'news' });
    await until(() => broker.sent.some((f) => f.t === 'sub'), "a's sub upstream");
    broker.frame({ t: 'ok', ref: broker.last('sub').ref, ep: 'e', off: 50 });
    await until(() => a.down.some((f) => f.t === 'ok'), "a's answer");
    // b comes back from a position the broker's history no longer covers: its gap, not a's.
    b.up({ t: 'sub', ref: 2, topic: 'news', ep: 'e', off: 3 });
    await until(() => broker.sent.filter((f) => f.t === 'sub').length === 2, "b's sub upstream");
    broker.frame({ t: 'gap', topic: 'news', reason: 'history', ep: 'e', off: 40 });
    broker.frame({ t: 'ok', ref: broker.last('sub').ref, ep: 'e', off: 50 });
    await until(() => b.down.some((f) => f.t === 'ok' && f.ref === 2), "b's answer");
    assert.deepEqual(
      b.down.filter((f) => f.t === 'gap').map((f) => f.t === 'gap' && f.reason),
      ['history'],
    );
    // A gap of the live stream (the connection overflowed) is every subscribed tab's, and only theirs.
    broker.frame({ t: 'gap', topic: 'news', reason: 'overflow' });
    await until(() => a.down.some((f) => f.t === 'gap') && b.down.filter((f) => f.t === 'gap').length === 2, 'both');
    assert.deepEqual(
      a.down.filter((f) => f.t === 'gap').map((f) => f.t === 'gap' && f.reason),
      ['overflow'],
    );
    // A refusal answers the tab whose frame it was, under that tab's own ref.
    c.up({ t: 'sub', ref: 2, topic: 'secret' });
    await until(() => broker.sent.some((f) => f.t === 'sub' && f.topic === 'secret'), "c's sub upstream");
    broker.frame({ t: 'err', ref: broker.last('sub', 'secret').ref, code: 'forbidden', message: 'no' });
    await until(() => c.down.some((f) => f.t === 'err'), "c's refusal");
    assert.deepEqual(
      c.down.map((f) => f.t === 'err' && [f.ref, f.code]),
      [[2, 'forbidden']],
    );
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(a.down.filter((f) => f.t === 'err').length + b.down.filter((f) => f.t === 'err').length, 0);
    assert.equal(c.down.filter((f) => f.t === 'gap').length, 0);
  });

  it('a tab recovering a topic the connection holds gets its replay, in order, before its answer', async () => {
    const broker = start();
    const a = await tab('a');
    const b = await tab('b');
    a.up({ t: 'sub', ref: 1, topic: 'news' });
    await until(() => broker.sent.some((f) => f.t === 'sub'), "a's sub upstream");
    broker.frame({ t: 'ok', ref: broker.last('sub').ref, ep: 'e', off: 9 });
    b.up({ t: 'sub', ref: 7, topic: 'news', ep: 'e', off: 3 });
    await until(() => broker.sent.filter((f) => f.t === 'sub').length === 2, "b's sub upstream");
    // The broker replays only a topic the connection does not hold: the leader lets go of it first.
    const tail = broker.sent.slice(-2).map((f) => f.t);
    assert.deepEqual(tail, ['unsub', 'sub']);
    const recovery = broker.last('sub');
    assert.equal(recovery.t === 'sub' && recovery.off, 3);
    // A live message overtakes the replay on the way in; b must still see 4..10 in order.
    broker.frame({ t: 'msg', topic: 'news', data: 10, off: 10 });
    for (const off of [4, 5, 6, 7, 8, 9]) broker.frame({ t: 'msg', topic: 'news', data: off, off });
    broker.frame({ t: 'ok', ref: recovery.ref, ep: 'e', off: 10 });
    await until(() => b.down.some((f) => f.t === 'ok' && f.ref === 7), "b's answer");
    const seen = b.down.flatMap<number | string | undefined>((f) =>
      f.t === 'msg' ? [f.off] : f.t === 'ok' ? ['ok'] : [],
    );
    assert.deepEqual(seen, [4, 5, 6, 7, 8, 9, 10, 'ok']);
    // a got everything too (its client drops the offsets it has already seen).
    await until(() => a.down.filter((f) => f.t === 'msg').length === 7, 'a to get the messages');
  });
});
