import { type JsonObject, type Payload, RtError } from '@rt/protocol';
import type { Client } from './client.js';
import type { BusEvents, JobHandler, MessageHandler, PublishOptions, PullOptions } from './topic.js';
import type { Presence, PresenceOptions } from './presence.js';

/**
 * The Standard Schema interface (https://standardschema.dev), which zod, valibot, arktype and
 * others implement: what {@link defineTopics} needs of a schema to validate payloads.
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

/** What a Standard Schema's `validate` returns. */
export type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<{ readonly message: string; readonly path?: ReadonlyArray<unknown> }> };

/**
 * True when topic `N` matches pattern `P`: `/`-separated segments, where `{name}` is any one
 * non-empty segment (`chat/{room}` matches `chat/lobby`, not `chat` nor `chat/a/b`).
 */
export type TopicMatches<P extends string, N extends string> = P extends `{${string}}/${infer PRest}`
  ? N extends `${infer S}/${infer NRest}`
    ? S extends ''
      ? false
      : TopicMatches<PRest, NRest>
    : false
  : P extends `{${string}}`
    ? N extends ''
      ? false
      : N extends `${string}/${string}`
        ? false
        : true
    : P extends `${infer PSeg}/${infer PRest}`
      ? N extends `${PSeg}/${infer NRest}`
        ? TopicMatches<PRest, NRest>
        : false
      : N extends P
        ? true
        : false;

/** The payload type of topic `N` in topic map `M` (`never` when no pattern matches it). */
export type PayloadOf<M, N extends string> = {
  [P in keyof M & string]: TopicMatches<P, N> extends true ? M[P] : never;
}[keyof M & string];

/** `N` when it is a topic of map `M`, else `never` (so that a call with it does not compile). */
export type TopicOf<M, N extends string> = [PayloadOf<M, N>] extends [never] ? never : N;

/** Schemas by pattern, for the patterns whose payloads are validated. */
export type TopicSchemas<M> = { [P in keyof M]?: StandardSchemaV1<unknown, M[P]> };

/** Options of {@link defineTopics}. */
export interface TopicsOptions<M> {
  /** Standard Schemas by pattern: payloads of those topics are validated both ways. */
  schemas?: TopicSchemas<M>;
  /**
   * Called with an `invalid_payload` error for each received message or job that fails its
   * schema (it is not handed to the app). Default: `console.error`.
   */
  onInvalid?: (error: RtError) => void;
}

/** The subset of a {@link Bus} a typed topic's `bus()` returns. */
export interface TypedBus<T> {
  readonly topic: string;
  readonly ready: Promise<void>;
  send(data: T & Payload): Promise<void>;
  on<K extends keyof BusEvents<T>>(event: K, listener: (event: BusEvents<T>[K]) => void): () => void;
  leave(): Promise<void>;
}

/** A topic handle typed by the topic map: the Topic API, with payloads validated where a schema is given. */
export interface TypedTopic<T> {
  readonly name: string;
  subscribe(handler?: MessageHandler<T>): { readonly ready: Promise<void>; unsubscribe(): Promise<void> };
  publish(data: T & Payload, options?: PublishOptions): Promise<void>;
  push(data: T & Payload): Promise<void>;
  pull(handler: JobHandler<T>, options?: PullOptions): { readonly ready: Promise<void>; stop(): Promise<void> };
  bus(): TypedBus<T>;
  /** This topic's presence (see `Topic.presence`): members' `info` is not validated. */
  presence<I extends JsonObject = JsonObject>(options?: PresenceOptions<I>): Presence<I>;
}

/** A client's topics, typed by the map `M`. */
export interface TypedTopics<M> {
  readonly client: Client;
  /** A typed handle on `name`, which must match one of the map's patterns (checked by the compiler). */
  topic<N extends string>(name: N & TopicOf<M, N>): TypedTopic<PayloadOf<M, N>>;
}

/** A topic map: patterns and their payload types (and schemas), bound to a client with `on()`. */
export interface TopicMap<M> {
  /** The pattern with a schema that `name` matches, or `undefined`. */
  match(name: string): (keyof M & string) | undefined;
  /** This map's typed topics on `client`. */
  on(client: Client): TypedTopics<M>;
}

/**
 * Declares the app's topics once, by pattern, with their payload types; `on(client)` gives
 * handles typed without a generic at each call, and, for patterns given a Standard Schema,
 * validated at the edge: a publish, push or bus send of an invalid payload rejects with
 * `invalid_payload` before anything is sent, and a received message or job that fails is not
 * handed to the app but reported to `onInvalid` (a job is acknowledged: delivering it again
 * cannot make it valid).
 *
 * ```ts
 * const topics = defineTopics<{ 'chat/{room}': Msg; jobs: Job }>({ schemas: { jobs: JobSchema } });
 * const rt = topics.on(connect(url));
 * rt.topic('chat/lobby').subscribe((msg) => msg.text); // msg: Msg
 * rt.topic('nope'); // does not compile
 * ```
 *
 * Segments other than `{param}` are literal; a topic matching no pattern does not compile
 * (at run time the topic rules still apply: `invalid_topic`). Subscribing to a topic receives
 * its descendants too (rt's topics are hierarchical): their payloads are checked against the
 * schema of the subscribed topic's pattern.
 */
export function defineTopics<M extends Record<string, unknown>>(options: TopicsOptions<M> = {}): TopicMap<M> {
  const schemas = (options.schemas ?? {}) as Partial<Record<string, StandardSchemaV1>>;
  const onInvalid = options.onInvalid ?? ((error: RtError) => console.error(error));
  // The patterns are types; at run time only those with a schema are known (and matched).
  const compiled = Object.keys(schemas).map((pattern) => ({ pattern, test: patternRegExp(pattern) }));
  const map: TopicMap<M> = {
    match(name) {
      return compiled.find((c) => c.test.test(name))?.pattern as (keyof M & string) | undefined;
    },
    on(client) {
      return {
        client,
        topic<N extends string>(name: N & TopicOf<M, N>): TypedTopic<PayloadOf<M, N>> {
          const pattern = map.match(name);
          const schema = pattern === undefined ? undefined : schemas[pattern];
          return typedTopic<PayloadOf<M, N>>(client, name, schema, onInvalid);
        },
      };
    },
  };
  return map;
}

/** `chat/{room}` → `/^chat\/[^/]+$/`. */
function patternRegExp(pattern: string): RegExp {
  const source = pattern
    .split('/')
    .map((segment) => (/^\{[^}]*\}$/.test(segment) ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}$`);
}

function describeIssues(result: StandardResult<unknown>): string {
  if (!result.issues) return '';
  return result.issues
    .slice(0, 5)
    .map(
      (i) =>
        (i.path?.length
          ? `${i.path.map((p) => String(typeof p === 'object' && p !== null && 'key' in p ? p.key : p)).join('.')}: `
          : '') + i.message,
    )
    .join('; ');
}

/** Validates `value`; resolves with the schema's output, or rejects with `invalid_payload`. */
async function check<T>(schema: StandardSchemaV1 | undefined, value: unknown, what: string): Promise<T> {
  if (!schema) return value as T;
  const result = await schema['~standard'].validate(value);
  if (result.issues) throw new RtError('invalid_payload', `${what}: ${describeIssues(result)}`);
  return result.value as T;
}

/**
 * Hands each received payload, validated, to `deliver`, in arrival order (a schema may
 * validate asynchronously); invalid ones go to `onInvalid`.
 */
function inbound<T, A extends unknown[]>(
  schema: StandardSchemaV1 | undefined,
  what: (...args: A) => string,
  onInvalid: (error: RtError) => void,
  deliver: (data: T, ...args: A) => unknown,
): (data: unknown, ...args: A) => unknown {
  if (!schema) return deliver as (data: unknown, ...args: A) => unknown;
  let chain: Promise<unknown> = Promise.resolve();
  return (data, ...args) => {
    const turn = chain.then(() =>
      check<T>(schema, data, what(...args)).then(
        (valid) => deliver(valid, ...args),
        (error: RtError) => onInvalid(error),
      ),
    );
    chain = turn.catch(() => undefined);
    return turn;
  };
}

function typedTopic<T>(
  client: Client,
  name: string,
  schema: StandardSchemaV1 | undefined,
  onInvalid: (error: RtError) => void,
): TypedTopic<T> {
  const topic = client.topic<T>(name);
  const outbound = (data: T & Payload): Promise<T & Payload> => check(schema, data, `a payload for "${name}"`);
  return {
    name,
    subscribe: (handler) =>
      topic.subscribe(
        handler &&
          (inbound<T, [Parameters<MessageHandler<T>>[1]]>(
            schema,
            (meta) => `a message on "${meta.topic}"`,
            onInvalid,
            handler,
          ) as MessageHandler<T>),
      ),
    publish: async (data, options) => topic.publish(await outbound(data), options),
    push: async (data) => topic.push(await outbound(data)),
    pull: (handler, options) =>
      topic.pull(
        inbound<T, [Parameters<JobHandler<T>>[1]]>(schema, (job) => `job ${job.id} on "${name}"`, onInvalid, handler),
        options,
      ),
    presence: (options) => topic.presence(options),
    bus: () => {
      const bus = topic.bus();
      return {
        topic: bus.topic,
        ready: bus.ready,
        send: async (data) => bus.send(await outbound(data)),
        leave: () => bus.leave(),
        on: (event, listener) => {
          if (event !== 'message' || !schema) return bus.on(event, listener);
          const deliver = inbound<T, []>(
            schema,
            () => `a bus message on "${name}"`,
            onInvalid,
            (data) => (listener as (e: BusEvents<T>['message']) => void)({ data, topic: name }),
          );
          return bus.on('message', ({ data }) => void deliver(data));
        },
      };
    },
  };
}
