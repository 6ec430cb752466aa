/**
 * Child processes of a benchmark run: servers under test and load generators, forked with
 * an IPC channel. Every request has a deadline, and every process is killed at the end, so
 * a run is bounded in time whatever a system does.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

const live = new Set<ChildProcess>();

/** Kills every process this run started (on exit, and on a fatal error). */
export function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
}
process.on('exit', killAll);

type Reply = Record<string, unknown> & { id: number; error?: string };

/** A forked process driven by `{ id, cmd }` requests answered `{ id, ... }`. */
export class Proc {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private exited = false;
  private stderr = '';

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    live.add(child);
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    child.on('message', (m: Reply) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.error) w.reject(new Error(`${name}: ${m.error}`));
      else w.resolve(m);
    });
    child.on('exit', (code, signal) => {
      this.exited = true;
      live.delete(child);
      for (const w of this.waiting.values()) w.reject(new Error(`${name} exited (${code ?? signal}): ${this.stderr}`));
      this.waiting.clear();
    });
  }

  /** Sends a request and waits for its answer, at most `timeoutMs`. */
  ask<R = Reply>(message: Record<string, unknown>, timeoutMs = 120_000): Promise<R & Reply> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited: ${this.stderr}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${this.name}: no answer to "${String(message.cmd)}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r as R & Reply);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ ...message, id });
    });
  }

  /** Stops the process (SIGKILL after a grace period) and waits for it to exit. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    if (this.child.connected) this.child.send({ cmd: 'stop', id: 0 });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * `BENCH_CPU_PROF=server` (or `worker`, or `all`) profiles those processes with
 * `--cpu-prof`; the .cpuprofile files land in bench/profiles/ (open them in Chrome DevTools).
 */
function profiling(kind: 'server' | 'worker'): string[] {
  const want = process.env.BENCH_CPU_PROF;
  if (want !== kind && want !== 'all') return [];
  return ['--cpu-prof', `--cpu-prof-dir=${join(BENCH_DIR, 'profiles')}`];
}

/** bench/tsconfig.json has no `paths`: @rt/* resolve to the built packages, as users run them. */
const env = { ...process.env, TSX_TSCONFIG_PATH: join(BENCH_DIR, 'tsconfig.json') };

function spawnTs(file: string, execArgv: string[] = []): ChildProcess {
  return fork(join(BENCH_DIR, file), [], {
    env,
    execArgv: ['--import', 'tsx', ...execArgv, ...profiling(file.startsWith('servers/') ? 'server' : 'worker')],
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
}

/** A server under test, listening on a loopback port. */
export interface ServerProc {
  proc: Proc;
  url: string;
  /** A second node of the same system (the Redis scenarios): where subscribers connect. */
  url2?: string;
}

export async function startServer(kind: string): Promise<ServerProc> {
  const child = spawnTs(`servers/${kind}.ts`, ['--expose-gc']);
  const proc = new Proc(`server ${kind}`, child);
  const { port, port2 } = await new Promise<{ port: number; port2?: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server ${kind} did not start within 20 s`)), 20_000);
    child.on('message', (m: { type?: string; port?: number; port2?: number }) => {
      if (m.type === 'listening' && m.port) {
        clearTimeout(timer);
        resolve({ port: m.port, ...(m.port2 ? { port2: m.port2 } : {}) });
      }
    });
    child.once('exit', (code) => reject(new Error(`server ${kind} exited with ${code}`)));
  });
  return { proc, url: `http://127.0.0.1:${port}`, ...(port2 ? { url2: `http://127.0.0.1:${port2}` } : {}) };
}

/** A load-generator process, connected to `url` through `adapter` (bench/clients/*.ts). */
export async function startWorker(adapter: string, url: string, transport: string, label = 'worker'): Promise<Proc> {
  const proc = new Proc(`${label} (${adapter}/${transport})`, spawnTs('worker.ts'));
  await proc.ask({ cmd: 'init', adapter, url, transport }, 30_000);
  return proc;
}

/** Closes load generators and waits for them to exit. */
export async function closeWorkers(workers: Proc[]): Promise<void> {
  await Promise.all(
    workers.map(async (w) => {
      await w.ask({ cmd: 'close' }, 5000).catch(() => undefined);
      await w.stop();
    }),
  );
}
