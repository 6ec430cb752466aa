import type { GapReason } from '@rt/protocol';

/** Where a message came from, beside its payload. */
export interface MessageMeta {
  /** The topic it was published on (a descendant of the subscribed topic, or the topic itself). */
  topic: string;
  /** Its position in the broker's history (used for recovery). */
  off?: number;
  /**
   * With a paced subscription: how many messages the broker skipped (replaced or dropped) since
   * the one before this (with `conflate`, since the one before this of its key).
   */
  skipped?: number;
  /** True when this is the topic's retained (latest) value, sent as the subscription started, not a live message. */
  retained?: boolean;
}

/** Messages were lost: the app should refetch the state it derives from this topic. */
export interface GapEvent {
  topic: string;
  reason: GapReason;
}

/** A pulled work item's details. */
export interface JobMeta {
  /** The job id (stable across redeliveries: use it to make work idempotent). */
  id: string;
  topic: string;
  /**
   * Deliveries of this job so far, this one included: more than 1 means an earlier attempt
   * failed or was lost. Undefined when the broker's engine does not count them (redis).
   */
  attempt?: number;
}
