/**
 * Baseline: plain socket.io, the way an app would write it: a room per topic (a publish is
 * one `io.to(rooms).emit`, rooms of the topic and its ancestors), acks for publish and
 * echo, and a small round-robin work queue with acks for push/pull.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { app } from '../lib/socketio-app.ts';
import { serve } from '../lib/serve.ts';

const server = createServer();
const io = new Server(server, { serveClient: false, transports: ['polling', 'websocket'], cors: { origin: true } });
app(io);

await serve(server, () => void io.close());
