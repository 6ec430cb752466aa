/**
 * Replays are written like live traffic: in chunks within the session's outbound bound, the
 * next chunk once the transport took the last. A peer that takes nothing for
 * {@link REPLAY_STALL_MS} while the replay waits gets the slow-consumer policy: `drop` leaves
 * the rest of the replay out behind an `overflow` gap, `disconnect` drops the connection.
 * The broker thus never holds more than about one bound of a replay per connection, however
 * long the history and however many peers stop reading.
 */
import type { StoredMessage } from '../engines/engine.js';
import { messageOutgoing } from '../outgoing.js';
import type { Session } from '../session.js';
import { retainedOutgoing } from './retain.js';

/** How long a replay waits for a peer that takes nothing before the slow-consumer policy applies, in ms. */
const REPLAY_STALL_MS = 5000;

/**
 * Queues `messages` (a recovery of `topic` up to offset `upTo`) on `session` in chunks within
 * its outbound bound; those in `retained` go out as retained values. Resolves with the number
 * of messages left out (0 unless the policy applied).
 */
export async function streamReplay(
  session: Session,
  messages: readonly StoredMessage[],
  topic: string,
  upTo: number,
  retained?: ReadonlySet<StoredMessage>,
): Promise<number> {
  const max = session.maxOutboundBytes;
  let i = 0;
  let stalledSince: number | undefined;
  while (i < messages.length) {
    if (session.closed) return 0;
    let bytes = session.queuedBytes;
    while (i < messages.length && (bytes < max || session.queued === 0)) {
      const m = messages[i++]!;
      const out = retained?.has(m) ? retainedOutgoing(m) : messageOutgoing(m.topic, m.data, m.off, m.dataText);
      session.sendReplayed(out);
      bytes += out.size;
    }
    if (i >= messages.length) break;
    const before = session.queued;
    await session.flushed();
    if (session.closed) return 0;
    if (session.queued < before || !session.transportFull) stalledSince = undefined;
    else if (stalledSince === undefined) stalledSince = Date.now();
    else if (Date.now() - stalledSince >= REPLAY_STALL_MS) {
      const left = messages.length - i;
      session.replayOverflow(topic, upTo, left);
      return left;
    }
  }
  return 0;
}
