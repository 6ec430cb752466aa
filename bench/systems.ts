/**
 * The systems a run measures: rt over each of its transports, and the baselines it is
 * compared with. Adding rt over a new transport is one more entry here (and in COMPARISONS).
 */
import { transports } from '@rt/client';

export interface System {
  /** Name in the results, e.g. `rt/websocket`. */
  name: string;
  /** Server process: bench/servers/<server>.ts. */
  server: 'rt' | 'rt-metrics' | 'socketio' | 'ws' | 'sse' | 'rt-redis' | 'socketio-redis' | 'socketio-redis-streams';
  /** Client adapter: bench/clients/<adapter>.ts. */
  adapter: 'rt' | 'socketio' | 'ws' | 'sse';
  /** The adapter's transport. */
  transport: string;
  /** Scenarios this system skips (and why, in the report). */
  skip?: Partial<Record<Scenario, string>>;
}

export type Scenario = 'fan-out' | 'hierarchy' | 'push/pull' | 'round trip' | 'idle';

const rt = (transport: string, skip?: System['skip']): System => ({
  name: `rt/${transport}`,
  server: 'rt',
  adapter: 'rt',
  transport,
  ...(skip ? { skip } : {}),
});
const NO_QUEUE = 'no work queue in this baseline';
const FAN_OUT_ONLY = 'the metrics cost is compared on fan-out';
const REDIS_ONLY = 'the Redis scenarios are fan-out (across nodes) and round trip';
const REDIS_SKIP = { hierarchy: REDIS_ONLY, 'push/pull': REDIS_ONLY, idle: REDIS_ONLY };

/** Every system, in run order. rt over SSE joins when @rt/client has an SSE transport. */
export const SYSTEMS: System[] = [
  rt('websocket'),
  { name: 'socket.io/websocket', server: 'socketio', adapter: 'socketio', transport: 'websocket' },
  { name: 'ws', server: 'ws', adapter: 'ws', transport: 'websocket', skip: { 'push/pull': NO_QUEUE } },
  {
    name: 'rt/websocket+metrics',
    server: 'rt-metrics',
    adapter: 'rt',
    transport: 'websocket',
    skip: { hierarchy: FAN_OUT_ONLY, 'push/pull': FAN_OUT_ONLY, 'round trip': FAN_OUT_ONLY, idle: FAN_OUT_ONLY },
  },
  rt('polling'),
  { name: 'socket.io/polling', server: 'socketio', adapter: 'socketio', transport: 'polling' },
  ...(transports.sse ? [rt('sse')] : []),
  { name: 'sse', server: 'sse', adapter: 'sse', transport: 'sse', skip: { 'push/pull': NO_QUEUE } },
  // Two nodes on one Redis of the bench's own: subscribers on one, the publisher on the other.
  { name: 'rt/redis', server: 'rt-redis', adapter: 'rt', transport: 'websocket', skip: REDIS_SKIP },
  { name: 'socket.io/redis', server: 'socketio-redis', adapter: 'socketio', transport: 'websocket', skip: REDIS_SKIP },
  {
    name: 'socket.io/redis-streams',
    server: 'socketio-redis-streams',
    adapter: 'socketio',
    transport: 'websocket',
    skip: REDIS_SKIP,
  },
];

/** Which rt figures are compared with which baseline. */
export interface Comparison {
  rt: string;
  baseline: string;
  /** Why this pair is compared (the heading of its table). */
  title: string;
}

export const COMPARISONS: Comparison[] = [
  {
    rt: 'rt/websocket',
    baseline: 'socket.io/websocket',
    title: 'rt over WebSocket vs plain socket.io (WebSocket, a room per topic)',
  },
  { rt: 'rt/websocket', baseline: 'ws', title: 'rt over WebSocket vs plain `ws` broadcast' },
  { rt: 'rt/polling', baseline: 'socket.io/polling', title: 'rt over long-polling vs plain socket.io (polling)' },
  { rt: 'rt/sse', baseline: 'sse', title: 'rt over SSE vs a minimal SSE server' },
  {
    rt: 'rt/redis',
    baseline: 'socket.io/redis',
    title: 'Two nodes on one Redis: rt (Redis engine) vs socket.io with @socket.io/redis-adapter',
  },
  {
    rt: 'rt/redis',
    baseline: 'socket.io/redis-streams',
    title: 'Two nodes on one Redis: rt (Redis engine) vs socket.io with @socket.io/redis-streams-adapter',
  },
  {
    rt: 'rt/websocket+metrics',
    baseline: 'rt/websocket',
    title: 'rt with Prometheus metrics on (scraped every second) vs off',
  },
];
