/** Baseline: socket.io on two nodes with `@socket.io/redis-adapter` (Redis pub/sub), see lib/socketio-redis.ts. */
import { createAdapter } from '@socket.io/redis-adapter';
import { client, serveTwoNodes } from '../lib/socketio-redis.ts';

await serveTwoNodes((url) => createAdapter(client(url), client(url)));
