/**
 * A Redis of the test's own: `redis-server` started on a free loopback port in a fresh
 * directory, stopped and restarted by PID. Tests never touch the machine's Redis (6379): a
 * developer's data stays where it is, and tests that kill Redis cannot disturb one another.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A free TCP port on 127.0.0.1 (the OS picks it; the listener is closed before it is used). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Throws, saying what to install, when there is no `redis-server` on PATH. */
export function requireRedisServer(): void {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore', timeout: 5000 });
  } catch {
    throw new Error('these tests start their own redis-server and need it on PATH: apt-get install redis-server');
  }
}

export interface RedisServerOptions {
  /** Append-only file on, so a restart keeps the data (and the engine's epoch). Default false. */
  appendOnly?: boolean;
}

/** One private `redis-server` process. */
export class RedisServer implements AsyncDisposable {
  private child: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'rt-redis-'));

  private constructor(
    readonly port: number,
    private readonly options: RedisServerOptions,
  ) {}

  /** Starts a Redis on a free port and resolves once it answers `PING`. */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    requireRedisServer();
    const server = new RedisServer(await freePort(), options);
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The process id while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Runs `redis-cli` against this server and returns its output. */
  cli(...args: string[]): string {
    return execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(this.port), ...args], {
      encoding: 'utf8',
      timeout: 5000,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  }

  private ping(): boolean {
    try {
      return this.cli('ping') === 'PONG';
    } catch {
      return false;
    }
  }

  /** Kills the process (SIGKILL, as a crash: nothing is saved beyond what the AOF holds) and waits for it to exit. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      // Referenced again while we wait: an unref'd child's exit keeps no event loop alive, and the
      // wait would end with the test still pending (in an `after` hook, as the loop drains).
      child.ref();
      child.kill('SIGKILL');
      await exited;
    }
  }

  /** Starts the process again on the same port and directory (after {@link kill}); resolves once it answers. */
  async restart(): Promise<void> {
    if (this.child) return;
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--dir', this.dir];
    args.push('--appendonly', this.options.appendOnly ? 'yes' : 'no', '--appendfsync', 'always');
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    // The test process may exit while Redis runs (the exit hook kills it): Redis keeps no event loop alive.
    child.unref();
    this.child = child;
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    const until = Date.now() + 10_000;
    while (!this.ping()) {
      if (this.child !== child) throw new Error(`redis-server on port ${this.port} exited at start`);
      if (Date.now() > until) throw new Error(`redis-server on port ${this.port} did not answer within 10 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Kills the process and deletes its data files, so that {@link restart} comes back empty (as a Redis without AOF). */
  async killAndWipe(): Promise<void> {
    await this.kill();
    for (const file of readdirSync(this.dir)) rmSync(join(this.dir, file), { recursive: true, force: true });
  }

  /** Kills the process and removes its directory. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
