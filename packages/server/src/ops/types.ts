/**
 * The vocabulary doors share with the operations core: who calls ({@link Caller}) and the
 * message shapes the engine stores, re-exported here so that no door imports `engines/`.
 */
import type { Identity, Session } from '../session.js';

export type {
  ForwardedRequest,
  ForwardedResponse,
  Forwarding,
  MessageMeta,
  Recovery,
  StoredMessage,
} from '../engines/engine.js';

/**
 * Who asks for an operation. Every door builds one per connection (or per HTTP request) and
 * hands it to the operations; authorization, idempotency scope and private filtering follow
 * from it.
 */
export interface Caller {
  /** As authentication established it (`null`: anonymous). */
  readonly identity: Identity;
  /** The caller's session: required by operations that hold state (subscriptions, joins, pullers) or deliver. */
  readonly session?: Session;
  /**
   * A caller rt's authorization does not apply to, each with an idempotency scope of its own:
   * the application (`broker.publish`), the Mercure hub (after its own token check), and HTTP
   * publishing with `httpPublish: 'open'`.
   */
  readonly trusted?: 'app' | 'mercure' | 'http';
}

/** A position in the engine's history: an epoch and an offset within it. */
export interface Position {
  ep: string;
  off: number;
}
