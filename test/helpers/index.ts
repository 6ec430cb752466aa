/**
 * Test helpers: disposable brokers (in-process on port 0, or a separate `rt broker`
 * process), clients on every transport, and promises that wait for what a test expects
 * (with a deadline that fails the test, never a retry that hides a race).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { createBroker, type Broker, type BrokerOptions } from '@rt/server';
import { connect, type Client, type ConnectOptions, type TransportName } from '@rt/client';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RT_BIN = join(ROOT, 'packages', 'server', 'bin', 'rt.mjs');

/** Every transport the pattern suites run over. */
export const TRANSPORTS: TransportName[] = ['websocket', 'sse', 'polling'];

/** A broker in this process, on a free loopback port. */
export interface TestBroker extends AsyncDisposable {
  broker: Broker;
  url: string;
  port: number;
}

export async function startBroker(options: BrokerOptions = {}): Promise<TestBroker> {
  const broker = createBroker({ mode: 'production', logger: { level: 'silent' }, ...options });
  const { url, port } = await broker.listen('http://127.0.0.1:0');
  return { broker, url: url.replace('localhost', '127.0.0.1'), port, [Symbol.asyncDispose]: () => broker.close() };
}

/** Clients made by {@link clients} close when the test's `using` scope ends. */
export interface TestClients extends AsyncDisposable {
  make(options?: ConnectOptions): Client;
}

export function clients(url: string, transport: TransportName, base: ConnectOptions = {}): TestClients {
  const made: Client[] = [];
  return {
    make(options = {}) {
      const c = connect(url, {
        transports: [transport],
        reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
        ...base,
        ...options,
      });
      made.push(c);
      return c;
    },
    async [Symbol.asyncDispose]() {
      for (const c of made) c.close();
    },
  };
}

/** Rejects after `ms` with `what` in the message; resolves with `promise` otherwise. */
export function deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

/**
 * Collects values pushed to it; `until(n)` resolves once it holds `n` values (failing the
 * test after `ms`).
 */
export class Collector<T> {
  readonly items: T[] = [];
  private waiters: { n: number; resolve: () => void }[] = [];

  readonly push = (item: T): void => {
    this.items.push(item);
    this.waiters = this.waiters.filter((w) => {
      if (this.items.length >= w.n) w.resolve();
      return this.items.length < w.n;
    });
  };

  until(n: number, ms = 5000, what = `${n} items`): Promise<T[]> {
    if (this.items.length >= n) return Promise.resolve(this.items);
    return deadline(
      new Promise<void>((resolve) => this.waiters.push({ n, resolve })),
      ms,
      `${what} (have ${this.items.length}: ${JSON.stringify(this.items).slice(0, 300)})`,
    ).then(() => this.items);
  }
}

/** Waits for `ms`: only to give something that must NOT happen the chance to show up. */
export const quiet = (ms = 150): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A broker in its own process (`rt broker`), which a test can kill and start again on the same port. */
export class BrokerProcess implements AsyncDisposable {
  child: ChildProcess | undefined;
  port = 0;
  output = '';

  /** `bin` is the `rt` script to run: the workspace's by default, or an installed package's. */
  constructor(
    private readonly args: string[] = [],
    private readonly env: Record<string, string> = {},
    private readonly bin: string = RT_BIN,
  ) {}

  /** `https` once the broker said it serves TLS (`--tls-cert`). */
  scheme = 'http';

  get url(): string {
    return `${this.scheme}://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    // A restart must not find the last run's "listening on" line.
    this.output = '';
    const child = spawn(
      process.execPath,
      [this.bin, 'broker', '-l', `http://127.0.0.1:${this.port}`, '--log-level', 'warn', ...this.args],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...this.env },
      },
    );
    this.child = child;
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    const started = new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        this.output += d.toString();
        const m = /listening on (https?):\/\/[^:]+:(\d+)/.exec(this.output);
        if (m) {
          this.scheme = m[1]!;
          this.port = Number(m[2]);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`rt broker exited with ${code}: ${this.output}`)));
    });
    await deadline(started, 15_000, `rt broker to start (output: ${this.output})`);
    return this;
  }

  /** Kills the process (SIGKILL: no goodbye to clients) and waits for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = once(child, 'exit');
    child.kill(signal);
    const [code] = (await exited) as [number | null];
    return code;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill();
  }
}
