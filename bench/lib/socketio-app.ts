/**
 * The plain socket.io app of the baselines, the way an app would write it: a room per topic (a
 * publish is one `io.to(rooms).emit`, rooms of the topic and its ancestors), acks for publish
 * and echo, and a small round-robin work queue with acks for push/pull.
 */
import type { Server, Socket } from 'socket.io';
import { ancestry } from './topics.ts';

interface Queue {
  waiting: string[];
  pullers: Puller[];
  turn: number;
}
interface Puller {
  socket: Socket;
  prefetch: number;
  inflight: number;
  queue: Queue;
}
const queues = new Map<string, Queue>();
const queue = (topic: string): Queue => {
  let q = queues.get(topic);
  if (!q) queues.set(topic, (q = { waiting: [], pullers: [], turn: 0 }));
  return q;
};
let nextJob = 1;
const held = new Map<number, Puller>();
function dispatch(q: Queue): void {
  while (q.waiting.length > 0) {
    const n = q.pullers.length;
    let chosen: Puller | undefined;
    for (let i = 0; i < n && !chosen; i++) {
      const p = q.pullers[(q.turn + i) % n]!;
      if (p.inflight < p.prefetch) {
        chosen = p;
        q.turn = (q.turn + i + 1) % n;
      }
    }
    if (!chosen) return;
    const id = nextJob++;
    chosen.inflight++;
    held.set(id, chosen);
    chosen.socket.emit('job', id, q.waiting.shift());
  }
}

/** Installs the app's handlers on `io`. */
export function app(io: Server): void {
  io.on('connection', (socket) => {
    socket.on('sub', (topic: string, ack: () => void) => {
      void socket.join(topic);
      ack();
    });
    socket.on('pub', (topic: string, data: string, ack: () => void) => {
      io.to(ancestry(topic)).emit('m', topic, data);
      ack();
    });
    socket.on('echo', (data: string, ack: (data: string) => void) => ack(data));
    socket.on('push', (topic: string, data: string, ack: () => void) => {
      const q = queue(topic);
      q.waiting.push(data);
      dispatch(q);
      ack();
    });
    socket.on('pull', (topic: string, prefetch: number, ack: () => void) => {
      const q = queue(topic);
      q.pullers.push({ socket, prefetch, inflight: 0, queue: q });
      ack();
      dispatch(q);
    });
    socket.on('ack', (id: number) => {
      const p = held.get(id);
      if (!p) return;
      held.delete(id);
      p.inflight--;
      dispatch(p.queue);
    });
  });
}
