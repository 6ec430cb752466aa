/**
 * Presence: `topic.presence()` members and `join`/`leave` events across three broker
 * processes sharing a Redis of the test's own, over every SDK transport; a broker killed
 * with SIGKILL has its members leave within the documented bound (4 × `sweepMs`, 4 s); a
 * refused presence (authorization op `presence`), the members-per-topic limit on one node and
 * across nodes, re-establishing after a reconnect, and `GET /rt/presence` for backends.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Client, Member, Presence, RtError } from '@rt/client';
import { TRANSPORTS, clients, deadline, startBroker } from '../helpers/index.ts';
import { health, redisNodes, startCluster, startRedis, stopRedis } from '../helpers/redis.ts';
import { condition } from '../helpers/reliability.ts';
import { SECRET, token } from '../helpers/security.ts';

type Info = { name: string };

/** The names in a presence's members, sorted. */
function names(p: Presence<Info>): string[] {
  return p.members.map((m) => m.info?.name ?? '?').sort();
}

/** Resolves once `p`'s members are exactly `expected` (checked on every event), failing after `ms`. */
function members(p: Presence<Info>, expected: string[], ms = 5000): Promise<void> {
  const want = [...expected].sort();
  const done = () => JSON.stringify(names(p)) === JSON.stringify(want);
  if (done()) return Promise.resolve();
  let offs: (() => void)[] = [];
  return deadline(
    new Promise<void>((resolve) => {
      const check = () => {
        if (done()) resolve();
      };
      offs = [p.on('join', check), p.on('leave', check)];
    }),
    ms,
    `members ${JSON.stringify(want)} (have ${JSON.stringify(names(p))})`,
  ).finally(() => {
    for (const off of offs) off();
  });
}

/** The members `GET /rt/presence?topic=` answers on `url`. */
async function httpMembers(url: string, topic: string, headers: Record<string, string> = {}): Promise<Member[]> {
  const res = await fetch(`${url}/rt/presence?topic=${encodeURIComponent(topic)}`, { headers });
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { topic: string; members: Member[] };
  assert.equal(body.topic, topic);
  return body.members;
}

function join(client: Client, topic: string, name: string): Presence<Info> {
  return client.topic(topic).presence<Info>({ info: { name } });
}

describe('presence', () => {
  it('members and join/leave events across 3 broker processes on Redis, on every transport', async () => {
    await using cluster = await startCluster(3);
    const urls = cluster.nodes.map((n) => n.url);
    for (const transport of TRANSPORTS) {
      const topic = `room/${transport}`;
      // Each client on its own node: amy on 0, bob on 1, a watcher on 2.
      await using c0 = clients(urls[0]!, transport);
      await using c1 = clients(urls[1]!, transport);
      await using c2 = clients(urls[2]!, transport);
      const amyClient = c0.make();
      const a = join(amyClient, topic, 'amy');
      const b = join(c1.make(), topic, 'bob');
      const w = c2.make().topic(topic).presence<Info>({ join: false });
      await Promise.all([a.ready, b.ready, w.ready]);
      for (const p of [a, b, w]) await members(p, ['amy', 'bob']);
      // Everyone sees the same members, with the ids the broker gave and the time they joined.
      assert.deepEqual(a.members.map((m) => m.clientId).sort(), w.members.map((m) => m.clientId).sort());
      assert.ok(a.self !== undefined && a.members.some((m) => m.clientId === a.self));
      assert.equal(w.self, undefined, 'a watcher is no member');
      const http = await httpMembers(urls[2]!, topic);
      assert.deepEqual(http.map((m) => m.info?.name).sort(), ['amy', 'bob']);
      assert.ok(http.every((m) => typeof m.since === 'number' && m.since > 0));

      const left = new Promise<string>((resolve) => w.once('leave', (e) => resolve(e.member.info!.name)));
      await b.leave();
      assert.equal(await deadline(left, 5000, 'the leave of bob'), 'bob');
      await members(a, ['amy']);
      const catClient = c1.make();
      await join(catClient, topic, 'cat').ready;
      await members(w, ['amy', 'cat']);
      // A client that closes leaves too (its connection is gone).
      amyClient.close();
      catClient.close();
      await members(w, []);
      assert.deepEqual(await httpMembers(urls[0]!, topic), []);
    }
  });

  it('a broker killed with SIGKILL: its members leave within the bound (4 s), on the other brokers', async () => {
    await using cluster = await startCluster(3);
    const [n0, n1, n2] = cluster.nodes;
    await using c0 = clients(n0!.url, 'websocket');
    await using c1 = clients(n1!.url, 'websocket', { reconnect: false });
    await using c2 = clients(n2!.url, 'sse');
    const amy = join(c0.make(), 'dead', 'amy');
    const bob = join(c1.make(), 'dead', 'bob');
    const cat = join(c2.make(), 'dead', 'cat');
    await Promise.all([amy.ready, bob.ready, cat.ready]);
    await members(amy, ['amy', 'bob', 'cat']);
    await members(cat, ['amy', 'bob', 'cat']);
    const gone = new Promise<void>((resolve) =>
      cat.on('leave', (e) => {
        if (e.member.info?.name === 'bob') resolve();
      }),
    );
    const killedAt = Date.now();
    await n1!.kill('SIGKILL');
    // The bound: heartbeat 3 × sweepMs, plus one sweep (sweepMs 1 s) by a survivor: 4 s; the deadline allows 2 s of slack for a loaded machine.
    await deadline(gone, 6000, "the leave of the dead broker's member");
    console.log(`presence: the member of the killed broker left ${Date.now() - killedAt} ms after SIGKILL`);
    await members(amy, ['amy', 'cat']);
    // Members come oldest first; amy and cat joined at about the same time.
    assert.deepEqual((await httpMembers(n2!.url, 'dead')).map((m) => m.info?.name).sort(), ['amy', 'cat']);
  });

  it('after Redis was down (and came back empty), watchers catch up: a member that left meanwhile leaves, the others are back', async () => {
    await using cluster = await redisNodes(2);
    const [x, y] = cluster.list;
    await using cx = clients(x!.url, 'websocket');
    await using cy = clients(y!.url, 'websocket');
    const amy = join(cx.make(), 'outage', 'amy');
    const bobClient = cy.make();
    const bob = join(bobClient, 'outage', 'bob');
    const watcher = cx.make().topic('outage').presence<Info>({ join: false });
    await Promise.all([amy.ready, bob.ready, watcher.ready]);
    await members(watcher, ['amy', 'bob']);
    const left: string[] = [];
    watcher.on('leave', (e) => left.push(e.member.info?.name ?? '?'));
    await stopRedis();
    // Bob goes while Redis is down: his broker cannot tell anyone.
    bobClient.close();
    await condition(() => y!.broker.stats().sessions === 0, 5000, "bob's connection to close");
    await startRedis();
    await members(watcher, ['amy'], 10_000);
    // Amy never left: her broker adds her again before it reads the members back.
    assert.deepEqual(left, ['bob']);
    // Bob's broker may still be reconnecting (with backoff; it answers 503 `unavailable` meanwhile).
    await health(y!.url, 200);
    assert.deepEqual(
      (await httpMembers(y!.url, 'outage')).map((m) => m.info),
      [{ name: 'amy' }],
    );
  });

  it('a refused presence (authorization op "presence") is an error on the handle and 403 over HTTP', async () => {
    await using b = await startBroker({
      authorize: (_identity, op, topic) => !(op === 'presence' && topic.startsWith('secret')),
    });
    await using c = clients(b.url, 'websocket');
    const client = c.make();
    const refused = client.topic('secret/room').presence();
    const error = new Promise<Error>((resolve) => refused.once('error', (e) => resolve(e.error)));
    await assert.rejects(
      refused.ready,
      (e: RtError) => e.code === 'forbidden' && /presence on "secret\/room"/.test(e.message),
    );
    assert.equal(((await error) as RtError).code, 'forbidden');
    assert.equal(refused.isActive, false);
    // The connection lives on, and other topics work.
    const open = client.topic('room').presence();
    await open.ready;
    assert.equal(open.members.length, 1);
    const res = await fetch(`${b.url}/rt/presence?topic=secret/room`);
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'forbidden');
  });

  it('at most maxPresenceMembers per topic, on one node and across nodes; watchers do not count', async () => {
    await using cluster = await redisNodes(2, { maxPresenceMembers: 2 });
    const [x, y] = cluster.list;
    await using cx = clients(x!.url, 'websocket');
    await using cy = clients(y!.url, 'polling');
    await join(cx.make(), 'full', 'amy').ready;
    await join(cy.make(), 'full', 'bob').ready;
    for (const client of [cx.make(), cy.make()]) {
      const third = join(client, 'full', 'cat');
      await assert.rejects(
        third.ready,
        (e: RtError) => e.code === 'too_many_members' && /"full" has 2 members already/.test(e.message),
      );
      const watcher = client.topic('full').presence<Info>({ join: false });
      await watcher.ready;
      assert.deepEqual(names(watcher), ['amy', 'bob']);
    }
    // On the memory engine too.
    await using m = await startBroker({ limits: { maxPresenceMembers: 1 } });
    await using cm = clients(m.url, 'sse');
    await join(cm.make(), 'one', 'amy').ready;
    await assert.rejects(join(cm.make(), 'one', 'bob').ready, (e: RtError) => e.code === 'too_many_members');
  });

  it('a member is re-established after a reconnect: the others see the old id leave and the new one join', async () => {
    await using b = await startBroker();
    await using c = clients(b.url, 'websocket');
    const amy = join(c.make(), 'again', 'amy');
    const bobClient = c.make();
    const bob = join(bobClient, 'again', 'bob');
    await Promise.all([amy.ready, bob.ready]);
    await members(amy, ['amy', 'bob']);
    const before = bob.self;
    const events: string[] = [];
    amy.on('join', (e) => events.push(`join ${e.member.info?.name} ${e.member.clientId === before ? 'old' : 'new'}`));
    amy.on('leave', (e) => events.push(`leave ${e.member.info?.name} ${e.member.clientId === before ? 'old' : 'new'}`));
    const restored = new Promise<void>((resolve) => bobClient.once('restored', () => resolve()));
    bobClient.reconnect();
    await deadline(restored, 5000, 'bob to reconnect');
    await condition(() => events.length >= 2, 5000, 'the leave and join of bob');
    assert.deepEqual([...events].sort(), ['join bob new', 'leave bob old']);
    assert.notEqual(bob.self, before);
    assert.deepEqual(names(bob), ['amy', 'bob']);
    assert.deepEqual(names(amy), ['amy', 'bob']);
  });

  it('GET /rt/presence authenticates like HTTP publishing: a token, authorized as "presence"; off with httpPublish: false', async () => {
    await using b = await startBroker({ jwt: { key: SECRET } });
    await using c = clients(b.url, 'websocket', { auth: await token({ sub: 'amy', rt: { subscribe: ['room'] } }) });
    const amy = c
      .make()
      .topic('room/1')
      .presence<Info>({ info: { name: 'amy' } });
    await amy.ready;
    assert.equal(amy.members[0]!.subject, 'amy');
    assert.equal((await fetch(`${b.url}/rt/presence?topic=room/1`)).status, 401);
    const reader = await token({ sub: 'backend', rt: { subscribe: ['room'] } });
    const list = await httpMembers(b.url, 'room/1', { authorization: `Bearer ${reader}` });
    assert.deepEqual(
      list.map((m) => [m.subject, m.info]),
      [['amy', { name: 'amy' }]],
    );
    const publisherOnly = await token({ sub: 'backend', rt: { publish: ['*'] } });
    assert.equal(
      (await fetch(`${b.url}/rt/presence?topic=room/1`, { headers: { authorization: `Bearer ${publisherOnly}` } }))
        .status,
      403,
    );
    const bad = await fetch(`${b.url}/rt/presence?topic=a//b`, { headers: { authorization: `Bearer ${reader}` } });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'invalid_topic');
    await using off = await startBroker({ httpPublish: false });
    assert.equal((await fetch(`${off.url}/rt/presence?topic=room`)).status, 403);
  });

  it('bad presence frames get a clear error and the connection lives on', async () => {
    await using b = await startBroker();
    await using c = clients(b.url, 'websocket');
    const client = c.make();
    await assert.rejects(
      client.topic('room').presence({ info: { blob: 'x'.repeat(3000) } }).ready,
      (e: RtError) => e.code === 'bad_frame' && /"info" is \d+ bytes of JSON, more than 2048/.test(e.message),
    );
    await client.topic('room').presence({ info: { name: 'ok' } }).ready;
  });
});
