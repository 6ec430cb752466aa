import { io, type Socket } from 'socket.io-client';
import type { Connect } from './types.ts';

/** Plain socket.io: a room per topic, acks for publish and echo (see servers/socketio.ts). */
export const connect: Connect = async (url, transport) => {
  const socket: Socket = io(url, { transports: [transport], upgrade: false, reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  // A benchmark client subscribes to one topic (maybe an ancestor of what is published).
  let onMessage: ((payload: string) => void) | undefined;
  socket.on('m', (_topic: string, payload: string) => onMessage?.(payload));
  const ask = (...args: unknown[]): Promise<void> =>
    new Promise((resolve) => socket.emit(...(args as [string]), () => resolve()));
  let onJob: ((payload: string) => void) | undefined;
  socket.on('job', (id: number, payload: string) => {
    onJob?.(payload);
    socket.emit('ack', id);
  });
  return {
    async subscribe(topic, handler) {
      onMessage = handler;
      await ask('sub', topic);
    },
    publish: (topic, payload) => ask('pub', topic, payload),
    echo: (payload) => ask('echo', payload),
    push: (topic, payload) => ask('push', topic, payload),
    async pull(topic, prefetch, handler) {
      onJob = handler;
      await ask('pull', topic, prefetch);
    },
    close: () => socket.close(),
  };
};
