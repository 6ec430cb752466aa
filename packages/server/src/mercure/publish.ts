/**
 * Publishing (draft-07 «Publication»): the `POST /.well-known/mercure` form, checked as the
 * reference hub checks it, turned into an rt message with its Mercure attributes.
 */
import { RtError, type TopicLimits, topicProblem, utf8Length } from '@rt/protocol';
import type { MessageMeta } from '../ops/types.js';
import { mercureToRtTopic, mercureTopicProblem } from './topics.js';
import { uuidV7Urn } from './update.js';

/** A checked update, ready for the engine. */
export interface UpdateForm {
  /** Canonical topic first, then the alternates. */
  topics: string[];
  data: string;
  /** The rt topic the update is stored and routed under: the canonical topic's. */
  rtTopic: string;
  meta: MessageMeta;
}

/** Reserved for the hub's own subscription events. */
const RESERVED = '/.well-known/mercure';
/** SSE field injection: an `id` or `type` must not break out of its line. */
const LINE_BREAK = /[\r\n\0]/;

/**
 * Parses and checks a form body. Throws `bad_frame` (400) for a missing topic, too many
 * topics, a bad `id`, `type` or `retry`, or a canonical topic that cannot be an rt topic;
 * `forbidden` (403) for a reserved topic; `payload_too_large` (413) for oversized data.
 */
export function parseUpdateForm(
  body: string,
  limits: { maxTopics: number; maxPayloadBytes: number; topic: TopicLimits },
): UpdateForm {
  const form = new URLSearchParams(body);
  const topics = form.getAll('topic');
  if (topics.length === 0) throw new RtError('bad_frame', 'Missing "topic" parameter.');
  if (topics.length > limits.maxTopics)
    throw new RtError('bad_frame', `an update may have ${limits.maxTopics} topics at most`);
  if (topics.some((t) => t.includes(RESERVED)))
    throw new RtError('forbidden', `topics containing "${RESERVED}" are reserved for the hub`);
  for (const topic of topics) {
    const problem = mercureTopicProblem(topic);
    if (problem !== null) throw new RtError('bad_frame', problem);
  }
  const id = form.get('id');
  if (id !== null) {
    if (id.startsWith('#')) throw new RtError('bad_frame', 'the id must not start with "#"');
    if (id === 'earliest') throw new RtError('bad_frame', 'the id "earliest" is reserved');
    if (id === '' || LINE_BREAK.test(id)) throw new RtError('bad_frame', 'the id must be non-empty and on one line');
  }
  const type = form.get('type');
  if (type !== null && LINE_BREAK.test(type)) throw new RtError('bad_frame', 'the type must be on one line');
  const retryText = form.get('retry');
  let retry: number | undefined;
  if (retryText !== null) {
    if (!/^\d{1,15}$/.test(retryText)) throw new RtError('bad_frame', 'retry must be an unsigned integer');
    retry = Number(retryText);
  }
  const data = form.get('data') ?? '';
  const size = utf8Length(data);
  if (size > limits.maxPayloadBytes)
    throw new RtError('payload_too_large', `data is ${size} bytes, more than ${limits.maxPayloadBytes}`);
  const rtTopic = mercureToRtTopic(topics[0]!);
  const problem = topicProblem(rtTopic, limits.topic);
  if (problem !== null)
    throw new RtError(
      'bad_frame',
      `the topic "${topics[0]!}" maps to the rt topic "${rtTopic}", which is not valid: ${problem}`,
    );
  const meta: MessageMeta = { id: id ?? uuidV7Urn(), topics };
  if (type) meta.type = type;
  if (retry) meta.retry = retry;
  if (form.has('private')) meta.private = true;
  return { topics, data, rtTopic, meta };
}
