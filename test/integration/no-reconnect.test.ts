/**
 * `reconnect: false` and a first connection that never opens, on every transport: the client
 * reaches a terminal state at once (README "The client": `unauthorized` when the broker
 * refused the credentials — it retries nothing and waits for `reconnect()`; `closed` when
 * nothing answers), the `error` event carries the cause, and every promise settles with that
 * reason: those made before (`ready()`, a subscription's and a bus join's `ready`, a publish,
 * a call) and those made after, in the terminal state.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { RtError as ServerError } from '@rt/server';
import { type Client, type ConnectionState, type TransportName, RtError, connect } from '@rt/client';
import { Collector, TRANSPORTS, deadline, quiet, startBroker } from '../helpers/index.ts';

/** How soon a refused or failed first connection must end (the default openTimeoutMs is 5 s). */
const PROMPT_MS = 3000;

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

/** Something that is not a broker and answers every request (a handshake too) with 403. */
async function forbidding(): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(403, { 'content-type': 'text/plain' });
    res.end('go away');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return { url: `http://127.0.0.1:${address.port}`, server };
}

/** What `p` is, and the reason it rejects with (handled at once: it may settle before the test looks). */
function rejection(p: Promise<unknown>, what: string): [string, Promise<RtError>] {
  const reason = p.then(
    () => {
      throw new Error(`${what} resolved, expected a rejection`);
    },
    (e: unknown) => {
      if (e instanceof RtError) return e;
      throw e;
    },
  );
  const bounded = deadline(reason, PROMPT_MS, `${what} to reject`);
  bounded.catch(() => undefined);
  return [what, bounded];
}

interface Expected {
  state: ConnectionState;
  code: string;
  /** What the `error` event's message names: the cause. */
  cause: RegExp;
}

/**
 * Connects with `reconnect: false` on `transport`, with a subscription, a bus join, a publish
 * and a call waiting; checks the terminal state, the `error` event, and that every promise
 * (and every one made afterwards) rejects with the reason. Returns the client, still in that state.
 */
async function endsWith(t: TestContext, url: string, transport: TransportName, expected: Expected): Promise<Client> {
  const started = performance.now();
  const client = connect(url, { transports: [transport], reconnect: false, lifecycle: false });
  const states = new Collector<string>();
  const errors = new Collector<Error>();
  let endedAt = Number.NaN;
  client.on('state', (e) => {
    states.push(e.to);
    if (e.to === expected.state) endedAt = performance.now();
  });
  client.on('error', (e) => errors.push(e.error));
  const before = [
    rejection(client.ready(), 'ready()'),
    rejection(client.topic('a').subscribe().ready, 'a subscription'),
    rejection(client.topic('b').bus().ready, 'a bus join'),
    rejection(client.topic('a').publish('x'), 'a publish'),
    rejection(client.call('anything'), 'a call'),
  ];
  await states.until(1, PROMPT_MS, `a state after connecting (${transport})`);
  t.diagnostic(`${transport}: ${expected.state} after ${(endedAt - started).toFixed(0)} ms`);
  assert.deepEqual(states.items, [expected.state]);
  assert.equal(client.state, expected.state);
  assert.equal(errors.items.length, 1, errors.items.map((e) => e.message).join(' | '));
  const error = errors.items[0]!;
  assert.ok(error instanceof RtError);
  assert.equal(error.code, expected.code, error.message);
  assert.match(error.message, new RegExp(`^${transport} to ${url}/rt did not open: `));
  assert.match(error.message, expected.cause);
  const after = [
    rejection(client.ready(), 'ready() after'),
    rejection(client.topic('c').subscribe().ready, 'a subscription after'),
    rejection(client.topic('a').subscribe().ready, 'a subscription to a waiting topic after'),
    rejection(client.topic('d').bus().ready, 'a bus join after'),
    rejection(client.topic('e').pull(() => undefined).ready, 'a puller after'),
    rejection(client.topic('f').presence().ready, 'a presence after'),
    rejection(client.topic('a').publish('y'), 'a publish after'),
    rejection(client.call('anything'), 'a call after'),
  ];
  for (const [what, p] of [...before, ...after]) {
    const reason = await p;
    assert.equal(reason.code, expected.code, `${what}: ${reason.message}`);
    // The same reason: the refusal itself, or "could not connect (1 attempt): <the refusal>".
    assert.ok(reason.message.endsWith(error.message), `${what}: ${reason.message}`);
  }
  return client;
}

for (const transport of TRANSPORTS) {
  describe(`reconnect: false, the first connection fails over ${transport}`, () => {
    it('a broker whose authenticate refuses: unauthorized at once, nothing retried; reconnect() brings back what was wanted', async (t) => {
      let asked = 0;
      let admit = false;
      await using b = await startBroker({
        authenticate: () => {
          asked++;
          if (!admit) throw new Error('not you');
          return { user: 'ann', rt: { subscribe: ['*'], publish: ['*'] } };
        },
      });
      const client = await endsWith(t, b.url, transport, {
        state: 'unauthorized',
        code: 'unauthorized',
        cause: /authentication failed/,
      });
      const got = new Collector<string>();
      const late = client.topic<string>('late').subscribe(got.push);
      assert.equal((await rejection(late.ready, 'a subscription with a handler')[1]).code, 'unauthorized');
      const askedThen = asked;
      await quiet(300);
      assert.equal(asked, askedThen, 'no more handshakes');
      assert.equal(client.state, 'unauthorized');
      // Refused, the subscriptions stay wanted (README): made before or while unauthorized.
      admit = true;
      client.reconnect();
      await deadline(client.ready(), 10_000, 'open after reconnect()');
      await client.topic<string>('late').publish('back');
      assert.deepEqual(await got.until(1), ['back']);
      client.close();
      assert.equal(client.state, 'closed');
    });

    it('a broker that refuses with forbidden (403): unauthorized at once, with the broker’s reason', async (t) => {
      await using b = await startBroker({
        authenticate: () => {
          throw new ServerError('forbidden', 'this account is suspended');
        },
      });
      const client = await endsWith(t, b.url, transport, {
        state: 'unauthorized',
        code: 'forbidden',
        cause: /this account is suspended/,
      });
      client.close();
    });

    it('nothing listening: closed at once, naming ECONNREFUSED', async (t) => {
      const port = await closedPort();
      await endsWith(t, `http://127.0.0.1:${port}`, transport, {
        state: 'closed',
        code: 'unavailable',
        cause: /ECONNREFUSED/,
      });
    });

    it('something else answering 403 to the handshake: a terminal state at once, naming the status', async (t) => {
      const other = await forbidding();
      try {
        // SSE reads a 401/403 stream answer as a refusal of the credentials (README: "401/403 at
        // the handshake"); socket.io's transports hear the broker's refusals in socket.io's own
        // handshake, and take a bare HTTP 403 from something else for a failure to connect.
        const client = await endsWith(
          t,
          other.url,
          transport,
          transport === 'sse'
            ? { state: 'unauthorized', code: 'forbidden', cause: /HTTP 403/ }
            : { state: 'closed', code: 'unavailable', cause: /403/ },
        );
        client.close();
      } finally {
        other.server.closeAllConnections();
        await new Promise<void>((resolve) => other.server.close(() => resolve()));
      }
    });
  });
}
