/**
 * A long-poll whose answer is cut while its body is read: the Node client (long-polling with
 * `fetch`) reports it as the transport closing and reconnects, and the process sees no
 * unhandled rejection. engine.io-client's own `Fetch` transport leaves that body's promise
 * unhandled (undici rejects it with `terminated`), which ends a Node process run with default
 * settings; CI caught it once in the publish-through-cuts test.
 *
 * The server is a stand-in that speaks just enough engine.io to open a session, so the cut
 * falls exactly inside a poll's body every time.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from '@rt/client';

function engineIoStandIn(): {
  url: Promise<string>;
  cuts: () => number;
  sessions: () => number;
  close: () => Promise<void>;
} {
  let polls = 0;
  let cuts = 0;
  let sessions = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const sid = url.searchParams.get('sid');
    if (sid === null) {
      polls = 0;
      sessions += 1;
      res.end('0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}');
      return;
    }
    if (req.method === 'POST') {
      req.resume();
      req.on('end', () => res.end('ok'));
      return;
    }
    polls += 1;
    if (polls === 1) {
      res.end('40{"sid":"io1"}');
      return;
    }
    // Every later poll: the head and a part of the body, then the connection is gone.
    cuts += 1;
    res.writeHead(200, { 'content-type': 'text/plain; charset=UTF-8', 'content-length': '1000' });
    res.write('42["f",{"t":"msg"', () => res.socket?.destroy());
  });
  const url = new Promise<string>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
  return {
    url,
    cuts: () => cuts,
    sessions: () => sessions,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('long-polling answer cut inside its body', () => {
  it('closes the transport and reconnects, with no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const standIn = engineIoStandIn();
    const client = connect(await standIn.url, {
      transports: ['polling'],
      reconnect: { initialDelayMs: 50, maxDelayMs: 50 },
      logErrors: false,
    });
    try {
      const deadline = Date.now() + 10_000;
      while (standIn.cuts() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      // Let any rejection of the cut requests surface (they settle on the next turns).
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(standIn.cuts() >= 2, `the client polled again after the first cut (cuts: ${standIn.cuts()})`);
      assert.ok(standIn.sessions() >= 2, `the cut closed the transport and the client opened a new session`);
      assert.deepEqual(unhandled.map(String), []);
    } finally {
      client.close();
      await standIn.close();
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
