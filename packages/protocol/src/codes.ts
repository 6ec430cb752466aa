/**
 * Error codes of the rt protocol. Every error frame and every HTTP error answer carries one
 * of these names; each maps to the HTTP status an HTTP endpoint answers with.
 */
export const ErrorCodes = {
  /** The frame could not be parsed or has fields of the wrong type. */
  bad_frame: 400,
  /**
   * A payload JSON cannot carry faithfully (BigInt, a cycle, a function, `undefined`, `NaN`, a
   * `Map`…): refused by the client before anything is sent.
   */
  bad_payload: 400,
  /** `connect()` was given a URL it cannot use (not http(s)/ws(s), or not a URL at all). */
  invalid_url: 400,
  /** The frame's `t` names no operation the broker knows. */
  unknown_op: 400,
  /** The topic breaks the topic rules (see `validateTopic`). */
  invalid_topic: 400,
  /** The payload is larger than the broker's `maxPayloadBytes`. */
  payload_too_large: 413,
  /** The payload fails the topic's schema (typed topics, `defineTopics`): refused by the client. */
  invalid_payload: 400,
  /** The connection holds as many subscriptions (or bus joins, or pullers) as it may. */
  too_many_subscriptions: 429,
  /** A presence join found the topic with `maxPresenceMembers` members already. */
  too_many_members: 429,
  /** A push found the topic's waiting queue full. */
  queue_full: 503,
  /** No credentials, or credentials that could not be verified. */
  unauthorized: 401,
  /** The identity may not do this operation on this topic. */
  forbidden: 403,
  /** `call` named an action the broker does not have. */
  unknown_action: 404,
  /** An action handler threw. */
  action_failed: 500,
  /** Referenced something that is not there (an unknown job id, an unknown session). */
  not_found: 404,
  /** The engine (e.g. Redis) cannot serve the operation right now. */
  unavailable: 503,
  /** The connection could not keep up with its messages and was dropped (see `slowConsumer`). */
  slow_consumer: 503,
  /** The broker is shutting down. */
  shutting_down: 503,
  /** The client gave up waiting for the answer. */
  timeout: 504,
  /** The connection dropped after the request was sent and before it was answered. */
  connection_lost: 503,
  /** The client was closed by the application. */
  closed: 499,
  /** The client's queue of calls made while disconnected is full. */
  queue_overflow: 503,
  /** Anything else: a bug in the broker. */
  internal: 500,
} as const;

/** The name of an rt error code, e.g. `'invalid_topic'`. */
export type ErrorCode = keyof typeof ErrorCodes;

/** True when `value` is a known error code name. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ErrorCodes, value);
}

/** The HTTP status an HTTP endpoint answers with for `code`. */
export function httpStatus(code: ErrorCode): number {
  return ErrorCodes[code];
}

/**
 * An error carrying an rt error code. The broker answers with it as an `err` frame; the
 * client rejects promises with it.
 */
export class RtError extends Error {
  override readonly name = 'RtError';
  /** The error code, one of {@link ErrorCodes}. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
