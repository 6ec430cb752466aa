/**
 * The Mercure hub of `rt broker` (the built CLI, in its own process), configured from
 * `RT_MERCURE_*` variables, as the README's curl snippets use it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BrokerProcess } from '../helpers/index.ts';
import { KEY, hubUrl, publish, publisher, subscribe } from '../helpers/mercure.ts';

describe('mercure: rt broker', () => {
  it('serves the hub configured from RT_MERCURE_KEY and RT_MERCURE_ANONYMOUS', async () => {
    await using broker = await new BrokerProcess(['--mode', 'production'], { RT_MERCURE_KEY: KEY, RT_MERCURE_ANONYMOUS: 'true' }).start();
    const hub = `${broker.url}/.well-known/mercure`;
    using sub = subscribe(hubUrl(hub, ['https://example.com/books/{id}']));
    await sub.opened;
    const res = await publish(hub, [['topic', 'https://example.com/books/1'], ['data', '{"status":"OutOfStock"}']], await publisher());
    assert.equal(res.status, 200);
    const [event] = await sub.events.until(1);
    assert.deepEqual(event, { type: 'message', id: res.body, data: '{"status":"OutOfStock"}' });
  });

  it('keeps the hub off without Mercure settings', async () => {
    await using broker = await new BrokerProcess(['--mode', 'production']).start();
    assert.equal((await fetch(`${broker.url}/.well-known/mercure?topic=x`)).status, 404);
  });
});
