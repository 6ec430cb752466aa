/**
 * Subscribe-with-recovery is atomic per session (issue 14, item 2): on the Redis engine a
 * subscription of `rel/p0` that recovers while another client keeps `rel` subscribed (so the
 * node already hears `rel/p0` through the ancestor's channel) gets every message once, in
 * order. Before, live messages reached the client ahead of the replay, and the client then
 * dropped the replayed ones as already seen: holes with no gap.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { GapEvent } from '@rt/client';
import { Collector, TRANSPORTS, clients, quiet } from '../helpers/index.ts';
import { redisNodes } from '../helpers/redis.ts';
import { condition, stateReached } from '../helpers/reliability.ts';
import { startProxy } from '../helpers/tcp-proxy.ts';

for (const transport of TRANSPORTS) {
  describe(`recovery beside an ancestor's subscription over ${transport} (Redis)`, () => {
    it('a subscriber of rel/p0 cut again and again while rel stays subscribed gets every message once, in order', async () => {
      await using nodes = await redisNodes(1);
      const b = nodes.list[0]!;
      await using proxy = await startProxy(b.port);
      await using direct = clients(b.url, transport);
      await using behind = clients(proxy.url, transport);
      // Keeps the node subscribed to `rel` (and so hearing rel/p0) throughout.
      await direct.make().topic('rel').subscribe().ready;
      const sub = behind.make();
      const got = new Collector<number>();
      const gaps = new Collector<GapEvent>();
      const s = sub.topic<number>('rel/p0').subscribe((n) => got.push(n));
      s.on('gap', gaps.push);
      await s.ready;
      let sent = 0;
      let publishing = true;
      const publisher = (async () => {
        while (publishing) {
          await b.broker.publish('rel/p0', sent++);
          if (sent % 4 === 0) await new Promise((r) => setImmediate(r));
        }
      })();
      let cuts = 0;
      for (let i = 0; i < 8; i++) {
        await stateReached(sub, 'open');
        await condition(() => got.items.length > 0 && sent > 0, 10_000, 'messages flowing');
        const before = sent;
        await condition(() => sent >= before + 40, 10_000, 'more publishes');
        // Checked right before the cut (same turn): long-polling opens and closes connections
        // between polls, so one seen open earlier may be gone by now.
        await condition(() => proxy.open > 0, 10_000, 'a connection through the proxy');
        cuts += proxy.cut() > 0 ? 1 : 0;
      }
      await stateReached(sub, 'open');
      publishing = false;
      await publisher;
      await got.until(sent, 20_000, `all ${sent} messages after ${cuts} cuts`);
      await quiet();
      assert.ok(cuts >= 6, `the proxy cut live connections (${cuts})`);
      assert.deepEqual(gaps.items, [], 'nothing was beyond recovery');
      const holes: number[] = [];
      for (let i = 0; i < sent; i++) if (got.items[i] !== i) holes.push(i);
      assert.equal(got.items.length, sent, 'each message once');
      assert.deepEqual(holes.slice(0, 10), [], 'every message, in order');
    });
  });
}
