/**
 * Reconnection (draft-07 «Reconnection, State Reconciliation and Event Sourcing»): from a
 * `Last-Event-ID`, the updates to replay out of rt's history, and the `Last-Event-ID` the
 * response carries.
 *
 * The hub reads the engine's root history (`engine.recover('')`: every topic's messages in
 * publish order, bounded by `historySize` and `historyTtlMs`) and maps ids to positions this
 * way, with no index to keep in sync between nodes:
 *
 * - `earliest`: everything the history still holds; the header says `earliest`.
 * - a position id `#<epoch>-<offset>` (the id of a message published through rt): what came
 *   after that offset; the header echoes the id, or says `earliest` when the history no
 *   longer reaches back that far or the epoch changed (everything of the new epoch is sent).
 * - any other id (a Mercure update's id, stored with the message): the history is searched
 *   for it (its first occurrence); what came after it is sent and the header echoes it.
 *   Unknown: nothing is replayed and the header says `earliest`, so the subscriber knows to
 *   fetch the resource again (as the reference hub does).
 */
import type { Position, Recovery, StoredMessage } from '../ops/types.js';
import { Update, parsePositionId } from './update.js';

/** Where the hub reads history from: the operations core, as a trusted bridge. */
export interface RootHistory {
  /** The current epoch. */
  epoch(): string;
  /** Every topic's messages after `from`, in publish order. */
  recover(from: Position): Promise<Recovery>;
}

/** What a reconnecting subscriber gets. */
export interface LookBack {
  updates: Update[];
  /** The response's `Last-Event-ID`. */
  header: string;
  /** The position the replay reaches; live updates at or before it are not sent again. */
  upTo: number;
}

/** Finds what to replay after `lastEventId`. */
export async function lookBack(engine: RootHistory, lastEventId: string, rtPrivate: boolean): Promise<LookBack> {
  const ep = engine.epoch();
  const position = lastEventId === 'earliest' ? undefined : parsePositionId(lastEventId);
  const after = position && position.ep === ep ? position.off : 0;
  const recovery = await engine.recover({ ep, off: after });
  const toUpdates = (messages: StoredMessage[]): Update[] => messages.map((m) => new Update(m, ep, rtPrivate));
  if (lastEventId === 'earliest')
    return { updates: toUpdates(recovery.messages), header: 'earliest', upTo: recovery.off };
  if (position) {
    const lost = position.ep !== ep || recovery.gap !== undefined;
    return { updates: toUpdates(recovery.messages), header: lost ? 'earliest' : lastEventId, upTo: recovery.off };
  }
  const at = recovery.messages.findIndex((m) => m.meta?.id === lastEventId);
  if (at === -1) return { updates: [], header: 'earliest', upTo: recovery.off };
  return { updates: toUpdates(recovery.messages.slice(at + 1)), header: lastEventId, upTo: recovery.off };
}

/** The id of the last update in history (`earliest` when there is none): the subscriptions API's `lastEventID`. */
export async function lastEventId(engine: RootHistory): Promise<string> {
  const ep = engine.epoch();
  const recovery = await engine.recover({ ep, off: 0 });
  const last = recovery.messages[recovery.messages.length - 1];
  return last ? new Update(last, ep).id : 'earliest';
}
