/**
 * A TCP link for the pace benchmarks, between a client and the broker on loopback: it counts
 * the bytes that travel broker → client, and can stall (stop reading from the broker, as a
 * slow mobile link does, so the broker's socket buffers fill and its queue takes the rest).
 */
import { type Server, type Socket, connect, createServer } from 'node:net';
import { once } from 'node:events';

/** A link in front of a broker; close it when done. */
export interface Link {
  /** `http://127.0.0.1:<port>`: what the client connects to. */
  readonly url: string;
  /** Bytes forwarded from the broker to the client since the start. */
  readonly down: number;
  /** Stops forwarding broker → client (the client's connections stay open). */
  stall(): void;
  close(): Promise<void>;
}

/** Opens a link to the broker on `127.0.0.1:targetPort`. */
export async function openLink(targetPort: number): Promise<Link> {
  const sockets = new Set<Socket>();
  const upstreams = new Set<Socket>();
  let down = 0;
  let stalled = false;
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    upstreams.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
      upstreams.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      down += chunk.length;
      if (!client.write(chunk)) {
        upstream.pause();
        client.once('drain', () => stalled || upstream.resume());
      }
    });
    if (stalled) upstream.pause();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    get down() {
      return down;
    },
    stall() {
      stalled = true;
      for (const upstream of upstreams) upstream.pause();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
