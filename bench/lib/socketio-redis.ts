/**
 * Two socket.io servers (each its own HTTP server and port) scaled out the way Socket.IO
 * documents it, through an adapter on one Redis of the benchmark's own: subscribers connect
 * to the second, the publisher to the first, so every delivery crosses nodes through Redis.
 */
import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import { Server, type ServerOptions } from 'socket.io';
import { startRedis } from './redis.ts';
import { serve } from './serve.ts';
import { app } from './socketio-app.ts';

/** `adapter` makes a node's adapter from the Redis URL. */
export async function serveTwoNodes(adapter: (url: string) => ServerOptions['adapter']): Promise<void> {
  const store = await startRedis();
  const node = () => {
    const server = createServer();
    const io = new Server(server, {
      serveClient: false,
      transports: ['polling', 'websocket'],
      adapter: adapter(store.url),
    });
    app(io);
    return { server, io };
  };
  const a = node();
  const b = node();
  await serve(
    a.server,
    () => {
      void a.io.close();
      void b.io.close();
    },
    { second: b.server, redisCalls: store.calls, redisCpuUs: store.cpuUs },
  );
}

/** A new ioredis connection (an adapter's clients). */
export const client = (url: string): Redis => new Redis(url);
