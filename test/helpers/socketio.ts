/**
 * A socket.io connection to the broker's socket.io door that speaks rt frames by hand (on the
 * `f` event), to send what the SDK never would and to see each frame as the broker sent it.
 */
import { io, type Socket } from 'socket.io-client';
import { Collector } from './index.ts';

/** Connects to `url`'s socket.io door over `transport`; `frames` collects every frame received. */
export async function rawSocket(
  url: string,
  transport: 'websocket' | 'polling',
): Promise<{ socket: Socket; frames: Collector<Record<string, unknown>> }> {
  const socket = io(url, { path: '/rt/socket.io', transports: [transport], forceNew: true, reconnection: false });
  const frames = new Collector<Record<string, unknown>>();
  socket.on('f', (...fs: Record<string, unknown>[]) => fs.forEach(frames.push));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  return { socket, frames };
}
