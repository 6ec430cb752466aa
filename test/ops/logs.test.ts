/**
 * Structured logs: one pino line at `info` per connection opened and closed, with the
 * connection id, door, transport, remote address and (on close) the reason.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TransportName } from '@rt/client';
import type { Logger } from '@rt/server';
import { TRANSPORTS, clients, deadline, startBroker } from '../helpers/index.ts';
import { stateReached } from '../helpers/reliability.ts';

interface Line {
  level: number;
  msg: string;
  conn?: string;
  door?: string;
  transport?: string;
  remote?: string;
  reason?: string;
}

/** A logger (pino's shape) whose lines are collected as pino would write them: fields plus `level` and `msg`. */
function capture(): {
  logger: Logger;
  lines: Line[];
  until(check: (l: Line[]) => boolean, what: string): Promise<void>;
} {
  const lines: Line[] = [];
  const waiters = new Set<() => void>();
  const at =
    (level: number) =>
    (obj: unknown, msg?: string): void => {
      const fields = typeof obj === 'object' && obj !== null ? obj : {};
      lines.push({ ...fields, level, msg: typeof obj === 'string' ? obj : (msg ?? '') });
      for (const w of waiters) w();
    };
  return {
    logger: { debug: at(20), info: at(30), warn: at(40), error: at(50) },
    lines,
    until(check, what) {
      return deadline(
        new Promise<void>((resolve) => {
          const w = (): void => {
            if (!check(lines)) return;
            waiters.delete(w);
            resolve();
          };
          waiters.add(w);
          w();
        }),
        10_000,
        `${what} (lines: ${JSON.stringify(lines).slice(0, 600)})`,
      );
    },
  };
}

const DOOR: Record<string, string> = { websocket: 'socket.io', polling: 'socket.io', sse: 'sse' };

describe('connection logs', () => {
  for (const transport of TRANSPORTS) {
    it(`one line per open and per close over ${transport}, with id, door, transport, remote and reason`, async () => {
      const log = capture();
      await using b = await startBroker({ logger: log.logger });
      await using c = clients(b.url, transport as TransportName);
      const client = c.make();
      await stateReached(client, 'open');
      await log.until((l) => l.some((x) => x.msg === 'connection opened'), 'the open line');
      const opened = log.lines.filter((x) => x.msg === 'connection opened');
      assert.equal(opened.length, 1);
      const open = opened[0]!;
      assert.equal(open.level, 30, 'info');
      assert.match(open.conn ?? '', /^s\d+$/);
      assert.equal(open.door, DOOR[transport as string]);
      assert.equal(open.transport, transport);
      assert.match(open.remote ?? '', /127\.0\.0\.1/);
      client.close();
      await log.until((l) => l.some((x) => x.msg === 'connection closed'), 'the close line');
      const closed = log.lines.filter((x) => x.msg === 'connection closed');
      assert.equal(closed.length, 1);
      assert.equal(closed[0]!.conn, open.conn);
      assert.equal(closed[0]!.door, open.door);
      assert.equal(typeof closed[0]!.reason, 'string');
    });
  }

  it('the broker says why it closed a connection (shutdown)', async () => {
    const log = capture();
    const b = await startBroker({ logger: log.logger });
    await using c = clients(b.url, 'websocket');
    await stateReached(c.make(), 'open');
    await b.broker.close();
    const closed = log.lines.filter((x) => x.msg === 'connection closed');
    assert.deepEqual(
      closed.map((x) => [x.door, x.reason]),
      [['socket.io', 'shutdown']],
    );
  });
});
