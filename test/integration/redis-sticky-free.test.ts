/**
 * No sticky sessions: three broker processes behind a round-robin proxy that sends every
 * HTTP request (each long-poll, each POST) and every connection to the next node. Requests
 * for a session another node owns are forwarded to it through Redis. Needs Redis on
 * a redis-server of its own (test/helpers/redis-server.ts) and the built CLI.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Collector, TRANSPORTS, clients, quiet } from '../helpers/index.ts';
import { RoundRobinProxy, startCluster } from '../helpers/redis.ts';

for (const transport of TRANSPORTS) {
  describe(`behind a round-robin load balancer over ${transport}`, () => {
    it('every pattern works although consecutive requests land on different nodes', async () => {
      await using cluster = await startCluster(3);
      await using proxy = await new RoundRobinProxy(() => cluster.nodes).start();
      await using c = clients(proxy.url, transport);
      const [a, b, w] = [c.make(), c.make(), c.make()];
      const got = new Collector<number>();
      await a.topic<number>('feed').subscribe(got.push).ready;
      const heard = new Collector<string>();
      const busA = a.topic<string>('room').bus();
      busA.on('message', (e) => heard.push(e.data));
      const busB = b.topic<string>('room').bus();
      await Promise.all([busA.ready, busB.ready]);
      const jobs = new Collector<number>();
      await w.topic<number>('work').pull(jobs.push).ready;

      for (let i = 0; i < 20; i++) await b.topic<number>('feed').publish(i);
      await busB.send('hello');
      for (let i = 0; i < 5; i++) await b.topic<number>('work').push(i);
      await Promise.all([got.until(20, 10_000), heard.until(1), jobs.until(5, 10_000)]);
      await quiet(300);
      assert.deepEqual(
        got.items,
        Array.from({ length: 20 }, (_, i) => i),
      );
      assert.deepEqual(heard.items, ['hello']);
      assert.deepEqual(jobs.items.slice().sort(), [0, 1, 2, 3, 4]);
      assert.ok([a, b, w].every((x) => x.state === 'open' && x.transport === transport));
      // The proxy really spread the traffic: every node answered requests.
      assert.equal(proxy.hits.size, 3, `requests per node: ${JSON.stringify([...proxy.hits])}`);
    });
  });
}
