/**
 * Deltas (`pace.delta`): a subscriber that asks for them gets a message as a Fossil delta of
 * its payload's `deltaText` against the previous message of its topic, when that previous
 * message is the last one this connection was sent on the topic; otherwise (the first
 * message, after a gap, an overflow, a recovery, a conflated skip) the whole message.
 *
 * The node links each live message to the one before it on its topic ({@link DeltaBook.link},
 * only for topics a delta subscription covers), so the delta is made once per publish and
 * shared by every subscriber that holds the previous one; each session decides at write time
 * ({@link SessionDeltas.rewrite}), after its paces and its overflow policy had their say, so
 * it never sends a delta against a message it did not write.
 */
import { type JsonValue, type MsgFrame, ancestry, covers, deltaText } from '@rt/protocol';
import { createStringDelta } from 'fossil-delta';
import { type DeltaLink, Outgoing } from './outgoing.js';
import type { Session } from './session.js';

/** One session's delta subscriptions, and the message it last wrote on each topic they cover. */
class SessionDeltas {
  /** Subscribed topics whose subscription asked for deltas. */
  readonly topics = new Set<string>();
  /** Per topic, the last message written: the payload the client holds, the base of the next delta. */
  private readonly sent = new Map<string, Outgoing>();

  /**
   * Replaces, in place, the messages of `batch` that can go as deltas by their delta, and
   * notes what each topic's last written message now is.
   */
  rewrite(batch: Outgoing[]): void {
    for (let i = 0; i < batch.length; i++) {
      const out = batch[i]!;
      const frame = out.frame;
      if (frame.t !== 'msg' || !coveredIn(this.topics, frame.topic)) continue;
      if (out.binary) {
        // Bytes go whole and are no base: the client forgets the topic's too.
        this.sent.delete(frame.topic);
        continue;
      }
      const held = this.sent.get(frame.topic);
      this.sent.set(frame.topic, out);
      const link = out.link;
      if (held === undefined || link === undefined || offOf(held) !== link.prev) continue;
      const delta = deltaOf(out, frame, link, held);
      if (delta !== null) batch[i] = frame.skipped === undefined ? delta : delta.withSkipped(frame.skipped);
    }
  }

  /** The subscription to `topic` stopped taking deltas: its topics start again with a whole message. */
  forget(topic: string): void {
    for (const t of this.sent.keys()) if (covers(topic, t)) this.sent.delete(t);
  }
}

/** True when `topic` or one of its ancestors is in `topics`. */
function coveredIn(topics: { has(topic: string): boolean }, topic: string): boolean {
  for (const t of ancestry(topic)) if (topics.has(t)) return true;
  return false;
}

function offOf(out: Outgoing): number | undefined {
  return (out.frame as MsgFrame).off;
}

/** A message's `deltaText`, made once per message. */
function textOf(out: Outgoing): string {
  const link = (out.link ??= { prev: -1 });
  return (link.text ??= deltaText(out.data as JsonValue));
}

/** `out` as a delta against `held` (the message at `link.prev`), made once for every session; `null` when it would not be smaller. */
function deltaOf(out: Outgoing, frame: MsgFrame, link: DeltaLink, held: Outgoing): Outgoing | null {
  const base = textOf(held);
  // Made against another payload at the same offset (another epoch): this session gets it whole.
  if (link.delta !== undefined) return link.base === base ? link.delta : null;
  const text = textOf(out);
  link.base = base;
  const data = createStringDelta(base, text);
  link.delta =
    data.length < text.length
      ? new Outgoing({ t: 'msg', topic: frame.topic, off: frame.off!, base: link.prev, data })
      : null;
  return link.delta;
}

/**
 * This node's delta subscriptions: which topics they cover, the offset of the last message
 * delivered on each covered topic (so that the next one knows its predecessor), and each
 * session's {@link SessionDeltas}.
 */
export class DeltaBook {
  /** Delta subscriptions on this node, by subscribed topic. */
  private readonly subscribed = new Map<string, number>();
  /** The offset of the last message delivered on each topic a delta subscription covers. */
  private readonly last = new Map<string, number>();
  private readonly sessions = new WeakMap<Session, SessionDeltas>();

  /** Sets whether `session`'s subscription to `topic` takes deltas (asked again the same, it keeps its state). */
  want(session: Session, topic: string, on: boolean): void {
    let deltas = this.sessions.get(session);
    if (on) {
      if (deltas === undefined) {
        deltas = new SessionDeltas();
        this.sessions.set(session, deltas);
        session.deltas = deltas;
      }
      if (deltas.topics.has(topic)) return;
      deltas.topics.add(topic);
      this.subscribed.set(topic, (this.subscribed.get(topic) ?? 0) + 1);
      return;
    }
    if (deltas === undefined || !deltas.topics.delete(topic)) return;
    deltas.forget(topic);
    this.unsubscribed(topic);
    if (deltas.topics.size > 0) return;
    this.sessions.delete(session);
    session.deltas = undefined;
  }

  /** `session` lets go of every subscription. */
  drop(session: Session): void {
    const deltas = this.sessions.get(session);
    if (deltas === undefined) return;
    for (const topic of deltas.topics) this.unsubscribed(topic);
    this.sessions.delete(session);
    session.deltas = undefined;
  }

  /**
   * A live message delivered to this node (`dataText`: its payload's JSON text, when known):
   * linked to the one before it on its topic when a delta subscription covers the topic. Its
   * `deltaText` is made now, from the payload as it was published.
   */
  link(out: Outgoing, topic: string, off: number, dataText?: string): void {
    if (this.subscribed.size === 0 || !coveredIn(this.subscribed, topic)) return;
    const data = out.data;
    out.link =
      data === undefined || out.binary
        ? { prev: this.last.get(topic) ?? -1 }
        : { prev: this.last.get(topic) ?? -1, text: deltaText(data as JsonValue, dataText) };
    this.last.set(topic, off);
  }

  private unsubscribed(topic: string): void {
    const n = (this.subscribed.get(topic) ?? 1) - 1;
    if (n > 0) {
      this.subscribed.set(topic, n);
      return;
    }
    this.subscribed.delete(topic);
    // Topics no delta subscription covers any more need no predecessor.
    for (const t of this.last.keys()) if (covers(topic, t) && !coveredIn(this.subscribed, t)) this.last.delete(t);
  }
}
