/**
 * The broker process dies and comes back on the same port: with no application code, every
 * client reconnects and its subscriptions, bus joins and pullers work again.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ConnectionState, type GapEvent } from '@rt/client';
import { BrokerProcess, Collector, TRANSPORTS } from '../helpers/index.ts';

for (const transport of TRANSPORTS) {
  describe(`broker restart over ${transport}`, () => {
    it('subscriptions, a bus join and a puller resume by themselves', async () => {
      await using broker = await new BrokerProcess().start();
      const opts = { transports: [transport], reconnect: { initialDelayMs: 50, maxDelayMs: 300 } };
      const app = connect(broker.url, opts);
      const peer = connect(broker.url, opts);
      try {
        const states = new Collector<ConnectionState>();
        app.on('state', (e) => states.push(e.to));
        const restored = new Collector<{ subscriptions: number; buses: number; pullers: number; refused: number }>();
        app.on('restored', restored.push);
        const messages = new Collector<unknown>();
        const gaps = new Collector<GapEvent>();
        const busGot = new Collector<unknown>();
        const jobs = new Collector<unknown>();
        const sub = app.topic('news').subscribe(messages.push);
        sub.on('gap', gaps.push);
        const bus = app.topic('room').bus();
        bus.on('message', (e) => busGot.push(e.data));
        const puller = app.topic('work').pull(jobs.push);
        const peerBus = peer.topic('room').bus();
        await Promise.all([sub.ready, bus.ready, puller.ready, peerBus.ready]);

        await peer.topic('news/a').publish('before');
        await peerBus.send('bus before');
        await peer.topic('work').push('job before');
        await Promise.all([messages.until(1), busGot.until(1), jobs.until(1)]);

        await broker.kill();
        await states.until(2, 5000, 'the client to notice the broker is gone');
        assert.equal(states.items[1], 'reconnecting');
        await broker.start();
        await states.until(3, 10_000, 'the client to reconnect');
        assert.equal(states.items[2], 'open');
        await peer.ready();
        // The restarted in-memory broker has a new epoch: the subscription is told it may have missed messages.
        await gaps.until(1, 5000, 'the gap of the new epoch');
        assert.equal(gaps.items[0]!.reason, 'epoch');

        // The client says when everything it wanted is back in place on the broker.
        const [, again] = await restored.until(2, 5000, 'the subscription, join and puller to be restored');
        assert.deepEqual(again, { subscriptions: 1, buses: 1, pullers: 1, refused: 0 });

        await peer.topic('news/b').publish('after');
        await peerBus.send('bus after');
        await peer.topic('work').push('job after');
        await Promise.all([messages.until(2), busGot.until(2), jobs.until(2)]);
        assert.deepEqual(messages.items, ['before', 'after']);
        assert.deepEqual(busGot.items, ['bus before', 'bus after']);
        assert.deepEqual(jobs.items, ['job before', 'job after']);
        assert.equal(app.transport, transport);
      } finally {
        app.close();
        peer.close();
      }
    });
  });
}
