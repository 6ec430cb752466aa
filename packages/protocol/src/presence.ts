/**
 * Presence on the wire: the checks of a `presence` frame's fields (the frame types are in
 * `frames.ts`). Pure: no import beyond byte counting, so `frames.ts` can call it.
 */
import { utf8Length } from './bytes.js';

/**
 * Fixed limits of presence frames: a member's `info` is a JSON object of at most 2,048 bytes
 * (UTF-8 JSON text); a `member` slot name is 1 to 64 characters.
 */
export const PRESENCE_LIMITS = { infoBytes: 2048, memberLength: 64 } as const;

const ACTIONS: readonly string[] = ['join', 'watch', 'leave', 'get'];

/**
 * What is wrong with the presence fields of a frame (`do`, `member`, `info`), or `null`.
 * `info` must be a plain JSON object of at most {@link PRESENCE_LIMITS}`.infoBytes`, and only
 * with `do: 'join'`.
 */
export function presenceProblem(value: Record<string, unknown>): string | null {
  const action = value.do;
  if (typeof action !== 'string' || !ACTIONS.includes(action))
    return '"presence" needs "do": "join", "watch", "leave" or "get"';
  const member = value.member;
  if (
    member !== undefined &&
    (typeof member !== 'string' || member.length === 0 || member.length > PRESENCE_LIMITS.memberLength)
  )
    return `"member" must be a string of 1 to ${PRESENCE_LIMITS.memberLength} characters`;
  const info = value.info;
  if (info === undefined) return null;
  if (action !== 'join') return '"info" goes with "do": "join" only';
  return infoProblem(info);
}

/** What is wrong with a presence `info` value (a JSON object within the size limit), or `null`. */
export function infoProblem(info: unknown): string | null {
  if (typeof info !== 'object' || info === null || Array.isArray(info) || ArrayBuffer.isView(info))
    return '"info" must be a JSON object';
  let text: string | undefined;
  try {
    text = JSON.stringify(info);
  } catch {
    return '"info" is not a JSON value';
  }
  if (text === undefined) return '"info" is not a JSON value';
  const size = utf8Length(text);
  if (size > PRESENCE_LIMITS.infoBytes)
    return `"info" is ${size} bytes of JSON, more than ${PRESENCE_LIMITS.infoBytes}`;
  return null;
}
