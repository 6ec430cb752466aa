import { createHash, randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { RtError } from '@rt/protocol';
import type { Logger } from '../../options.js';

/** A Lua script with its SHA1, run with EVALSHA (EVAL once after Redis forgot it). */
export class Script {
  readonly sha: string;
  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }
}

/** A random id (epochs, node ids). */
export function randomId(): string {
  return randomBytes(6).toString('hex');
}

/** Turns a Redis failure into the `unavailable` error operations answer with. */
export function unavailable(error: unknown): RtError {
  if (error instanceof RtError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new RtError('unavailable', `Redis is unavailable: ${reason}`, { cause: error });
}

/** Reconnect delay after `attempt` failed attempts: 50 ms doubling up to 2 s, with jitter. */
export function reconnectDelay(attempt: number): number {
  const cap = Math.min(2000, 50 * 2 ** Math.min(attempt, 6));
  return Math.round(cap / 2 + Math.random() * (cap / 2));
}

/**
 * The engine's two connections to Redis: `cmd` for commands and scripts, `sub` for pub/sub.
 * Neither queues commands while disconnected (an operation then fails at once with
 * `unavailable` instead of hanging); both reconnect by themselves with backoff. `sub` does not
 * subscribe again by itself: the engine does, then catches up on what it missed.
 */
export class Connections {
  readonly cmd: Redis;
  readonly sub: Redis;
  /** Why Redis is unreachable, while it is. */
  down: string | undefined = 'connecting';
  private wasDown = false;
  private closing = false;

  constructor(
    url: string,
    private readonly logger: Logger,
    private readonly onReady: () => void,
    private readonly commandTime: ((seconds: number) => void) | undefined = undefined,
  ) {
    const options: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: (attempt) => reconnectDelay(attempt),
    };
    this.cmd = new Redis(url, { ...options, connectionName: 'rt' });
    // The engine subscribes again itself after a reconnect (and catches up on what it missed meanwhile).
    this.sub = new Redis(url, { ...options, connectionName: 'rt-sub', autoResubscribe: false });
    for (const [name, conn] of [
      ['commands', this.cmd],
      ['pub/sub', this.sub],
    ] as const) {
      conn.on('error', (error: Error) => {
        if (!this.wasDown)
          this.logger.warn(
            { err: error.message, connection: name },
            'Redis connection failed; reconnecting with backoff',
          );
        this.wasDown = true;
        this.down = error.message;
      });
      conn.on('close', () => {
        if (this.down === undefined && !this.closing) {
          this.logger.warn({ connection: name }, 'Redis connection closed; reconnecting with backoff');
          this.down = 'connection closed';
          this.wasDown = true;
        }
      });
      conn.on('ready', () => this.ready());
    }
  }

  /** Connects both; resolves when both are up or after `timeoutMs` (the broker starts degraded then). */
  async connect(timeoutMs: number): Promise<void> {
    const both = Promise.all([this.cmd.connect(), this.sub.connect()]).then(
      () => true,
      () => false,
    );
    const timer = new Promise<false>((r) => setTimeout(() => r(false), timeoutMs).unref());
    if (!(await Promise.race([both, timer]))) {
      this.logger.error({ reason: this.down }, 'Redis is unreachable: the broker runs degraded and keeps trying');
    }
  }

  /** True while both connections are ready. */
  get up(): boolean {
    return this.cmd.status === 'ready' && this.sub.status === 'ready';
  }

  private ready(): void {
    if (!this.up) return;
    if (this.wasDown) this.logger.warn('Redis is reachable again; resuming');
    this.down = undefined;
    this.wasDown = false;
    this.onReady();
  }

  /** Runs a script, loading it first when Redis does not have it (after a restart). Replies as Buffers when `buffers`. */
  async run(script: Script, keys: string[], args: (string | Buffer | number)[], buffers = false): Promise<unknown> {
    const call = (cmd: string, first: string): Promise<unknown> =>
      buffers
        ? this.cmd.callBuffer(cmd, first, keys.length, ...keys, ...args)
        : this.cmd.call(cmd, first, keys.length, ...keys, ...args);
    const started = this.commandTime ? performance.now() : 0;
    try {
      return await call('EVALSHA', script.sha);
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
        try {
          return await call('EVAL', script.lua);
        } catch (again) {
          throw unavailable(again);
        }
      }
      throw unavailable(error);
    } finally {
      this.commandTime?.((performance.now() - started) / 1000);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    this.cmd.disconnect();
    this.sub.disconnect();
  }
}
