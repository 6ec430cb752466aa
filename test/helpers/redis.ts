/**
 * Helpers for tests of the Redis engine. Every test process gets a Redis of its own (a
 * `redis-server` on a free port, see `redis-server.ts`), never the machine's 6379: a unique key
 * prefix per test, a Redis crash and restart by PID, and a round-robin proxy that sends
 * consecutive requests and connections to different brokers.
 */
import { randomBytes } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { redis } from '@rt/server';
import { BrokerProcess, type TestBroker, deadline, startBroker } from './index.ts';
import { RedisServer, requireRedisServer } from './redis-server.ts';

/** This test process's own Redis, started when the module loads and killed when the process exits. */
export const REDIS_SERVER = await RedisServer.start();
process.once('exit', () => {
  if (REDIS_SERVER.pid !== undefined) process.kill(REDIS_SERVER.pid, 'SIGKILL');
});

/** The URL of this process's own Redis. */
export const REDIS_URL = REDIS_SERVER.url;

/** Throws (the test FAILS) when `redis-server` is not installed, saying how to install it. */
export function requireRedis(): void {
  requireRedisServer();
}

/** A key prefix no other test (or run) uses. */
export function uniquePrefix(): string {
  return `rt-test:${randomBytes(5).toString('hex')}:`;
}

/** Kills this process's Redis without saving (it comes back empty, as a crashed cache would). */
export async function stopRedis(): Promise<void> {
  await REDIS_SERVER.kill();
}

/** Starts this process's Redis again (when it is not running) and waits until it answers. */
export async function startRedis(): Promise<void> {
  await REDIS_SERVER.restart();
}

/** Waits until `GET /rt/health` on `url` answers `status` (the broker's own report, polled with a deadline). */
export async function health(
  url: string,
  status: number,
  ms = 15_000,
): Promise<{ status: string; engineStatus?: string }> {
  const until = Date.now() + ms;
  for (;;) {
    const res = await fetch(`${url}/rt/health`).catch(() => undefined);
    if (res?.status === status) return (await res.json()) as { status: string; engineStatus?: string };
    await res?.body?.cancel();
    if (Date.now() > until) throw new Error(`${url}/rt/health did not answer ${status} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Deletes every key under `prefix`. */
export function cleanRedis(prefix: string): void {
  try {
    const keys = REDIS_SERVER.cli('--scan', '--pattern', `${prefix}*`).split('\n').filter(Boolean);
    for (let i = 0; i < keys.length; i += 500) REDIS_SERVER.cli('del', ...keys.slice(i, i + 500));
  } catch {
    // best effort: the server may be down in a failover test
  }
}

/** Brokers in this process (nodes) sharing one Redis under a unique prefix; disposing closes them and removes the keys. */
export interface RedisNodes extends AsyncDisposable {
  list: TestBroker[];
  prefix: string;
}

/** Starts `n` in-process brokers on the Redis engine under one fresh prefix, with `limits`. */
export async function redisNodes(n: number, limits: Record<string, number> = {}): Promise<RedisNodes> {
  requireRedis();
  const prefix = uniquePrefix();
  const list = await Promise.all(
    Array.from({ length: n }, () => startBroker({ engine: redis({ url: REDIS_URL, prefix }), limits })),
  );
  return {
    list,
    prefix,
    async [Symbol.asyncDispose]() {
      await Promise.all(list.map((b) => b.broker.close()));
      cleanRedis(prefix);
    },
  };
}

/**
 * A load balancer without sticky sessions: every HTTP request and every WebSocket upgrade
 * goes to the next target in turn (skipping targets that refuse the connection), so
 * consecutive requests of one client land on different brokers.
 */
export class RoundRobinProxy implements AsyncDisposable {
  private readonly server: Server;
  private next = 0;
  /** Where the next new session (a request or connection without `sid`) goes, when a test places a client. */
  private placed: number | undefined;
  /** While true, new requests and connections are refused (as if every node were unreachable). */
  blocked = false;
  private readonly sockets = new Set<Socket>();
  port = 0;
  /** Requests sent to each target, by target URL. */
  readonly hits = new Map<string, number>();

  constructor(private readonly targets: () => { port: number; url: string }[]) {
    this.server = createServer((req, res) => {
      if (this.blocked) {
        req.socket.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.forward(req, Buffer.concat(chunks), res, 0));
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      if (this.blocked) socket.destroy();
      else this.tunnel(req, socket, head, 0);
    });
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** Sends the next new session (the next client that connects) to target `index`. */
  place(index: number): void {
    this.placed = index;
  }

  private pick(url = ''): { port: number; url: string } {
    const list = this.targets();
    let index = this.next++;
    if (this.placed !== undefined && !/[?&]sid=/.test(url)) {
      index = this.placed;
      this.placed = undefined;
    }
    const target = list[index % list.length]!;
    this.hits.set(target.url, (this.hits.get(target.url) ?? 0) + 1);
    return target;
  }

  private forward(req: IncomingMessage, body: Buffer, res: import('node:http').ServerResponse, tries: number): void {
    const target = this.pick(tries === 0 ? req.url : '');
    const out = request(
      { host: '127.0.0.1', port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        // The node died mid-answer (a stream, a long-poll): the client's connection ends too, as behind a real load balancer.
        answer.on('close', () => {
          if (!answer.complete) res.destroy();
        });
      },
    );
    out.on('error', () => {
      if (!res.headersSent && tries < this.targets().length) this.forward(req, body, res, tries + 1);
      else res.destroy();
    });
    res.on('close', () => out.destroy());
    out.end(body);
  }

  private tunnel(req: IncomingMessage, socket: Socket, head: Buffer, tries: number): void {
    const target = this.pick(tries === 0 ? req.url : '');
    const upstream = netConnect(target.port, '127.0.0.1');
    let connected = false;
    upstream.on('connect', () => {
      connected = true;
      this.sockets.add(upstream);
      upstream.on('close', () => this.sockets.delete(upstream));
      let raw = `${req.method} ${req.url} HTTP/1.1\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) raw += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      upstream.write(raw + '\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => {
      if (!connected && tries < this.targets().length) this.tunnel(req, socket, head, tries + 1);
      else socket.destroy();
    });
    upstream.on('close', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
    socket.on('error', () => upstream.destroy());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await deadline(new Promise<void>((r) => this.server.close(() => r())), 5000, 'the proxy to close');
  }
}

/** `n` broker processes sharing one Redis under `prefix`; disposing kills them and deletes the keys. */
export interface Cluster extends AsyncDisposable {
  nodes: BrokerProcess[];
  prefix: string;
}

export async function startCluster(n: number, env: Record<string, string> = {}): Promise<Cluster> {
  requireRedis();
  const prefix = uniquePrefix();
  const nodes = await Promise.all(
    Array.from({ length: n }, () =>
      new BrokerProcess(['--mode', 'production', '--redis', REDIS_URL, '--redis-prefix', prefix], env).start(),
    ),
  );
  return {
    nodes,
    prefix,
    async [Symbol.asyncDispose]() {
      await Promise.all(nodes.map((node) => node.kill()));
      cleanRedis(prefix);
    },
  };
}
