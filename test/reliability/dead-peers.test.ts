/**
 * Dead long-polling peers are found fast: a polling puller that dies between two polls (its
 * process killed right after a poll answered) leaves no pending poll to break; the broker sees
 * the TCP connection of its last poll close and closes the session within 3 s, so the
 * job it held goes to another puller at once instead of after the heartbeat (issue 14, item 5).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { Collector, clients, deadline, startBroker } from '../helpers/index.ts';

/** One HTTP request over `agent`; resolves with the answer's body. */
function http(agent: Agent, url: string, method: 'GET' | 'POST', body?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, method, headers: body === undefined ? {} : { 'content-type': 'text/plain' } });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve(text));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('dead long-polling peers', () => {
  it('a polling puller gone between two polls: its job goes to another puller within seconds, not after the heartbeat', async () => {
    // The default heartbeat (15 s): only the closed connection can explain a fast redelivery.
    await using b = await startBroker();
    await using c = clients(b.url, 'websocket');
    await c.make().topic<string>('w').push('the-job');

    // A socket.io long-polling session by hand, over one keep-alive connection.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const base = `${b.url}/rt/socket.io/?EIO=4&transport=polling`;
    const open = await http(agent, base, 'GET');
    const sid = /"sid":"([^"]+)"/.exec(open)?.[1];
    assert.ok(sid, `engine.io handshake: ${open}`);
    const url = `${base}&sid=${sid}`;
    assert.equal(await http(agent, url, 'POST', '40'), 'ok');
    assert.match(await http(agent, url, 'GET'), /^40/);
    assert.equal(await http(agent, url, 'POST', '42["f",{"t":"pull","ref":1,"topic":"w","prefetch":1}]'), 'ok');
    let polled = '';
    await deadline(
      (async () => {
        while (!polled.includes('the-job')) polled += await http(agent, url, 'GET');
      })(),
      10_000,
      'the job to reach the polling puller',
    );

    // The peer dies right after the poll that carried the job: no poll is pending.
    const died = Date.now();
    agent.destroy();

    const got = new Collector<[string, number | undefined, number]>();
    await c
      .make()
      .topic<string>('w')
      .pull((job, meta) => got.push([job, meta.attempt, Date.now()])).ready;
    const [[job, attempt, at]] = (await got.until(1, 8000, 'the job to go to the other puller')) as [
      [string, number | undefined, number],
    ];
    assert.equal(job, 'the-job');
    assert.equal(attempt, 2);
    assert.ok(at - died < 5000, `redelivered ${at - died} ms after the peer died`);
  });
});
