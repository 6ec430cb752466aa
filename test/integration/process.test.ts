/**
 * Every pattern with the broker in its own process (the built `rt broker` CLI) and the
 * clients here, over every transport.
 */
import { after, before, describe, it } from 'node:test';
import { BrokerProcess, TRANSPORTS, clients } from '../helpers/index.ts';
import { checkBus, checkPubSub, checkPushPull, checkServerPublish } from '../helpers/pattern-checks.ts';

describe('broker in a separate process', () => {
  const broker = new BrokerProcess(['--mode', 'production']);
  before(() => broker.start());
  after(() => broker.kill('SIGTERM'));

  for (const transport of TRANSPORTS) {
    describe(`over ${transport}`, () => {
      it('pub/sub', async () => {
        await using c = clients(broker.url, transport);
        await checkPubSub(() => c.make());
      });
      it('bus', async () => {
        await using c = clients(broker.url, transport);
        await checkBus(() => c.make());
      });
      it('push/pull', async () => {
        await using c = clients(broker.url, transport);
        await checkPushPull(() => c.make());
      });
      it('server publish over HTTP', async () => {
        await using c = clients(broker.url, transport);
        await checkServerPublish(() => c.make(), broker.url);
      });
    });
  }
});
