import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteHandler } from '../http.js';
import type { Operations } from '../ops/operations.js';
import type { Forwarding, StoredMessage } from '../ops/types.js';
import type { Server as HttpServer } from 'node:http';
import type { ResolvedOptions } from '../broker-options.js';
import type { ForeignCheck } from '../forward.js';
import type { Limits, Logger } from '../options.js';
import type { Handshake } from '../policy/handshake.js';
import type { Policy } from '../policy/policy.js';
import type { SessionlessConnections } from '../metrics/source.js';
import type { Flusher, Identity, Session, Wire } from '../session.js';

/**
 * A transport: a way for connections to reach the broker (a door). `setup` runs once when the
 * broker is created (routes, state), `attach` once per HTTP server the broker is attached to,
 * `close` when the broker closes.
 */
export interface Transport {
  setup(host: TransportHost): void;
  attach(server: HttpServer): void;
  close(): Promise<void>;
  /**
   * For transports whose connection spans several HTTP requests (long-polling, SSE POSTs):
   * which connection a request belongs to, so that with a distributed engine a request that
   * lands on a node other than the connection's owner is forwarded to the owner (no sticky
   * sessions). The transport claims its connection ids with `host.forwarding`.
   */
  readonly foreign?: ForeignCheck;
  /** Connections this door holds outside sessions (the Mercure hub's subscribers), for metrics and the admin page. */
  sessionless?(): SessionlessConnections[];
}

/** Whether the broker can serve now, for health checks. */
interface HostHealth {
  ok: boolean;
  detail?: string;
  engine: string;
  sessions: number;
}

/**
 * What a transport (a door) gets from the broker, as an engine gets its `EngineHost`: the
 * operations to call, sessions to open and close, admission, routes. Never the engine.
 */
export interface TransportHost {
  readonly options: ResolvedOptions;
  readonly limits: Limits;
  readonly logger: Logger;
  /** The operations core: every operation a door carries out goes through it. */
  readonly ops: Operations;
  /** Origin rules (CORS answers) and authentication settings. */
  readonly policy: Policy;
  /** Writes queued frames once per event-loop turn (connections with queues of their own use it too). */
  readonly flusher: Flusher;
  /** Node-to-node forwarding, when the engine spans nodes (no sticky sessions). */
  readonly forwarding: Forwarding | undefined;
  /** True while the broker closes or after: refuse new connections. */
  readonly isClosing: boolean;
  /** Resolves once the engine started. */
  whenReady(): Promise<void>;
  /**
   * Admits a connection or HTTP request: the ONE place every door sends its handshake
   * through. Resolves with the identity (`null`: anonymous); rejects with an `RtError`.
   */
  admit(handshake: Handshake): Promise<Identity>;
  /** Sets CORS headers by the `allowOrigin` rules; answers a preflight itself (then true). */
  cors(req: IncomingMessage, res: ServerResponse, methods?: string): boolean;
  addRoute(method: string, path: string, handler: RouteHandler): void;
  /** Answers requests nobody took on servers rt owns (the playground). */
  setFallback(handler: (req: IncomingMessage, res: ServerResponse) => void): void;
  openSession(wire: Wire): Session;
  /** Closes `session`; `reason` (the transport's, e.g. socket.io's `transport close`) goes to the log line. */
  closeSession(session: Session, reason?: string): void;
  /** Hands one SDK frame (JSON text or a decoded object) of `session` to the frame door. */
  handleFrame(session: Session, input: unknown): void;
  /** Sees every message the engine delivers to this node, private ones included (the Mercure hub). */
  tap(listener: (message: StoredMessage) => void): () => void;
  health(): HostHealth;
}
