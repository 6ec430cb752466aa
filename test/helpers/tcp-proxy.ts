/**
 * A TCP proxy for tests, between clients and a broker on loopback: it forwards bytes both
 * ways and can cut every connection (as a network failure would: no close handshake, no
 * goodbye), stall them (bytes stop flowing, connections stay open) or throttle them (bytes
 * from the broker flow at a set rate, as over a slow mobile link), so tests can show
 * what clients and broker do when the network misbehaves. Every transport runs over TCP,
 * so one proxy serves them all.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

/** A proxy in front of a broker; close it with `await using`. */
export interface TcpProxy extends AsyncDisposable {
  /** The proxy's port on 127.0.0.1. */
  readonly port: number;
  /** `http://127.0.0.1:<port>`: what clients connect to. */
  readonly url: string;
  /** Connections (client side) open now. */
  readonly open: number;
  /** Connections accepted since the start. */
  readonly accepted: number;
  /** Destroys every open connection at once, both sides. New connections are still accepted. */
  cut(): number;
  /**
   * Stops forwarding (connections stay open) until {@link resume}: both ways, or only `down`
   * (broker to client: requests arrive, answers do not) or `up`. New connections stall too.
   */
  stall(direction?: Direction): void;
  /** Forwards again, including what piled up while stalled. */
  resume(): void;
  /**
   * Forwards bytes from the broker to clients at about `bytesPerSecond` per connection (new
   * connections too), backpressure included: the proxy reads no faster from the broker;
   * `undefined` lifts the limit.
   */
  throttle(bytesPerSecond: number | undefined): void;
  /** While true, new connections are reset at once (the broker looks down); open ones are left alone. */
  refuse(on: boolean): void;
  /** Stops the proxy and destroys every connection. */
  close(): Promise<void>;
}

/** Which way bytes stop: `down` is broker to client. */
export type Direction = 'both' | 'down' | 'up';

interface Pair {
  client: Socket;
  server: Socket;
}

/** Starts a proxy on a free loopback port forwarding to `127.0.0.1:targetPort`. */
export async function startProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let stalled: Direction | null = null;
  const stops = (from: 'client' | 'server'): boolean =>
    stalled === 'both' || (stalled === 'down' && from === 'server') || (stalled === 'up' && from === 'client');
  let refusing = false;
  let accepted = 0;
  let rate: number | undefined;

  const pipe = (from: Socket, to: Socket, side: 'client' | 'server'): void => {
    /** While set, `from` is paused for the throttle until then (ms, performance.now()). */
    let throttledUntil = 0;
    let waits = 0;
    /** Resumes `from` once nothing holds it: a full `to`, the throttle, a stall. */
    const release = (): void => {
      if (--waits === 0 && !stops(side)) from.resume();
    };
    from.on('data', (chunk: Buffer) => {
      // Backpressure travels through the proxy: a peer that does not read slows the other side.
      if (!to.write(chunk)) {
        from.pause();
        waits++;
        to.once('drain', release);
      }
      if (side === 'server' && rate !== undefined) {
        // The link carries `rate` bytes a second: nothing more is read until this chunk has passed.
        const now = performance.now();
        throttledUntil = Math.max(throttledUntil, now) + (chunk.length / rate) * 1000;
        from.pause();
        waits++;
        setTimeout(release, throttledUntil - now);
      }
    });
    from.on('end', () => to.end());
  };

  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    if (refusing) {
      client.resetAndDestroy();
      return;
    }
    accepted++;
    const upstream = connect(targetPort, '127.0.0.1');
    const pair: Pair = { client, server: upstream };
    pairs.add(pair);
    const drop = (): void => {
      if (!pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    pipe(client, upstream, 'client');
    pipe(upstream, client, 'server');
    if (stops('server')) upstream.pause();
    if (!stops('client')) client.resume();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  const proxy: TcpProxy = {
    port,
    url: `http://127.0.0.1:${port}`,
    get open() {
      return pairs.size;
    },
    get accepted() {
      return accepted;
    },
    cut() {
      const n = pairs.size;
      for (const pair of [...pairs]) {
        pairs.delete(pair);
        // resetAndDestroy sends RST: the peer sees an abrupt failure, not a clean end.
        pair.client.resetAndDestroy();
        pair.server.resetAndDestroy();
      }
      return n;
    },
    stall(direction = 'both') {
      stalled = direction;
      for (const { client, server: upstream } of pairs) {
        if (stops('client')) client.pause();
        if (stops('server')) upstream.pause();
      }
    },
    resume() {
      stalled = null;
      for (const { client, server: upstream } of pairs) {
        client.resume();
        upstream.resume();
      }
    },
    throttle(bytesPerSecond) {
      rate = bytesPerSecond;
    },
    refuse(on) {
      refusing = on;
    },
    async close() {
      proxy.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    [Symbol.asyncDispose]() {
      return proxy.close();
    },
  };
  return proxy;
}
