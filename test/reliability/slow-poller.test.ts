/**
 * A long-polling client that opens a new connection for each request (`Connection: close`, as
 * Node's XHR does) closes that connection after every answer, alive or not. One that is slow
 * to poll again (a loaded process, seconds between two polls) keeps its session and gets
 * every message published meanwhile: the broker reads a closed connection as a departure
 * only for keep-alive connections (test/reliability/dead-peers.test.ts), and leaves the rest
 * to the heartbeat. (At 1,000 pollers on 2 cores, a third of the sessions were closed alive
 * and lost every later message.)
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { clients, startBroker } from '../helpers/index.ts';

/** One request on a connection of its own, closed after the answer (no agent: `Connection: close`). */
async function once(url: string, body?: string): Promise<{ status: number; text: string }> {
  const req = request(url, { agent: false, method: body === undefined ? 'GET' : 'POST' });
  req.end(body);
  const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  let text = '';
  for await (const chunk of res) text += String(chunk);
  return { status: res.statusCode ?? 0, text };
}

describe('slow long-polling client without keep-alive', () => {
  it('keeps its session across a pause longer than the poller-gone wait, and gets what was published meanwhile', async () => {
    await using b = await startBroker();
    await using c = clients(b.url, 'websocket');
    const base = `${b.url}/rt/socket.io/?EIO=4&transport=polling`;
    const sid = /"sid":"([^"]+)"/.exec((await once(base)).text)?.[1];
    assert.ok(sid, 'engine.io handshake');
    const url = `${base}&sid=${sid}`;
    assert.equal((await once(url, '40')).text, 'ok');
    assert.match((await once(url)).text, /^40/);
    assert.equal((await once(url, '42["f",{"t":"sub","ref":1,"topic":"news"}]')).text, 'ok');
    let polled = '';
    while (!polled.includes('"ref":1')) polled += (await once(url)).text;

    // The client pauses for longer than the broker waits for a poll after a connection closed
    // (3 s): the messages of that time wait in its session.
    const publisher = c.make();
    await publisher.topic<string>('news').publish('during the pause');
    await new Promise((resolve) => setTimeout(resolve, 4000));
    await publisher.topic<string>('news').publish('after the pause');

    let received = '';
    while (!received.includes('after the pause')) {
      const poll = await once(url);
      assert.equal(poll.status, 200, `the session is still open: ${poll.text}`);
      received += poll.text;
    }
    assert.ok(received.indexOf('during the pause') < received.indexOf('after the pause'), received);
  });
});
