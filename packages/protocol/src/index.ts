/**
 * `@rt/protocol`: the frames, topic rules and error codes that rt clients and brokers share.
 * Pure TypeScript, no I/O, no dependencies.
 * @packageDocumentation
 */
export { ErrorCodes, RtError, httpStatus, isErrorCode } from './codes.js';
export type { ErrorCode } from './codes.js';
export { DEFAULT_TOPIC_LIMITS, ancestry, covers, hasDotSegment, isValidTopic, topicProblem } from './topics.js';
export type { TopicLimits } from './topics.js';
export {
  DEFAULT_FRAME_LIMITS,
  checkPayload,
  decodeServerFrame,
  encodeFrame,
  isBinary,
  PACE_LIMITS,
  paceFromQuery,
  paceProblem,
  parseClientFrame,
} from './frames.js';
export type {
  AckFrame,
  AdvertisedLimits,
  BrokerInfo,
  BusFrame,
  CheckedPayload,
  BusSendFrame,
  ByeFrame,
  CallFrame,
  ClientFrame,
  ClientOp,
  ErrFrame,
  FrameLimits,
  FrameProblem,
  GapFrame,
  GapReason,
  HelloFrame,
  JobFrame,
  JoinFrame,
  JsonObject,
  JsonValue,
  LeaveFrame,
  MsgFrame,
  NackFrame,
  OkFrame,
  Pace,
  PaceMode,
  ParsedFrame,
  Payload,
  PresenceEventFrame,
  PresenceFrame,
  PresenceMember,
  PresenceSnapshot,
  PubFrame,
  PullFrame,
  PushFrame,
  Ref,
  ServerFrame,
  SubFrame,
  UnpullFrame,
  UnsubFrame,
} from './frames.js';
export { deltaText } from './delta.js';
export { PRESENCE_LIMITS, infoProblem } from './presence.js';
export { base64ToBytes, bytesToBase64, utf8Length } from './bytes.js';
export {
  SOCKETIO_EVENT,
  SOCKETIO_PATH,
  SSE_PATH,
  SSE_PING_EVENT,
  SSE_SESSION_EVENT,
  maxBatchBytes,
} from './wire.js';
export type { SseSessionInfo, TransportName } from './wire.js';
