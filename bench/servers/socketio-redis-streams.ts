/** Baseline: socket.io on two nodes with `@socket.io/redis-streams-adapter` (one Redis stream), see lib/socketio-redis.ts. */
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { client, serveTwoNodes } from '../lib/socketio-redis.ts';

await serveTwoNodes((url) => createAdapter(client(url)));
