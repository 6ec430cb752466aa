/**
 * A Redis of the benchmark's own: `redis-server` on a free loopback port, in a fresh
 * directory, without persistence, killed by PID when the server process exits. The machine's
 * Redis (6379) and its data are never touched.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BenchRedis {
  url: string;
  /** Commands Redis has executed so far (the sum of `INFO commandstats` calls). */
  calls(): Promise<number>;
  /**
   * CPU time the redis-server process has used so far, in µs (its main thread, from
   * `/proc/<pid>/schedstat`: commands, scripts and their network I/O); -1 where there is no /proc.
   */
  cpuUs(): number;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Sends one inline command and returns the raw reply once `done` says it is complete. */
function command(port: number, line: string, done: (reply: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    socket.on('error', reject);
    socket.on('data', (d) => {
      reply += d.toString();
      if (done(reply)) {
        socket.destroy();
        resolve(reply);
      }
    });
    socket.write(`${line}\r\n`);
  });
}

/** A bulk reply (`$<len>\r\n<data>\r\n`) is complete once its announced length arrived. */
function bulkDone(reply: string): boolean {
  const header = reply.indexOf('\r\n');
  if (header < 0) return false;
  return Buffer.byteLength(reply) >= header + 2 + Number(reply.slice(1, header)) + 2;
}

/** Starts the process and resolves once it answers `PING`. */
export async function startRedis(): Promise<BenchRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'rt-bench-redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  process.on('exit', () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  for (let i = 0; ; i++) {
    const pong = await command(port, 'PING', (r) => r.includes('\r\n')).catch(() => '');
    if (pong.startsWith('+PONG')) break;
    if (i >= 100) throw new Error('redis-server did not answer within 5 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    async calls() {
      const info = await command(port, 'INFO commandstats', bulkDone);
      let total = 0;
      for (const m of info.matchAll(/calls=(\d+)/g)) total += Number(m[1]);
      return total;
    },
    cpuUs() {
      try {
        return Number(readFileSync(`/proc/${child.pid}/schedstat`, 'utf8').split(' ')[0]) / 1000;
      } catch {
        return -1;
      }
    },
  };
}
