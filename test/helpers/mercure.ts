/**
 * Helpers for the Mercure tests: a broker with the hub on, tokens, a real `EventSource`
 * subscriber (the `eventsource` package), a raw stream reader (to see headers, comments and
 * the exact bytes), and a form publisher.
 */
import { EventSource } from 'eventsource';
import { SignJWT, type JWTPayload } from 'jose';
import type { MercureOptions } from '@rt/server';
import { Collector, deadline, startBroker, type TestBroker } from './index.ts';

/** The reference hub's development key. */
export const KEY = '!ChangeThisMercureHubJWTSecretKey!';
export const SUBSCRIBER_KEY = 'a-different-subscriber-key-for-tests';

/** A broker with the Mercure hub on; `hub` is the hub's URL. */
export interface MercureBroker extends TestBroker {
  hub: string;
}

export async function startHub(
  mercure: MercureOptions = { key: KEY, anonymous: true },
  limits = {},
): Promise<MercureBroker> {
  const b = await startBroker({ mercure, limits });
  return Object.assign(b, { hub: `${b.url}/.well-known/mercure` });
}

/** Signs a HS256 token with `claims` (`mercure: {publish, subscribe, payload}`, or draft-08 ones). */
export function token(claims: JWTPayload, key = KEY, expiresAt?: number): Promise<string> {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (expiresAt !== undefined) jwt = jwt.setExpirationTime(expiresAt);
  return jwt.sign(new TextEncoder().encode(key));
}

export const publisher = (topics: string[] = ['*'], key = KEY): Promise<string> =>
  token({ mercure: { publish: topics } }, key);
export const subscriberToken = (topics: string[] = ['*'], key = KEY, payload?: unknown): Promise<string> =>
  token({ mercure: { subscribe: topics, ...(payload === undefined ? {} : { payload }) } }, key);

/** The hub URL with `topic` parameters (or other parameters given as pairs). */
export function hubUrl(hub: string, topics: string[], extra: [string, string][] = []): string {
  const url = new URL(hub);
  for (const t of topics) url.searchParams.append('topic', t);
  for (const [k, v] of extra) url.searchParams.append(k, v);
  return url.toString();
}

/** An event as an `EventSource` dispatched it. */
export interface Received {
  type: string;
  id: string;
  data: string;
}

/** A subscriber on a real `EventSource`. */
export interface Subscriber extends Disposable {
  es: EventSource;
  events: Collector<Received>;
  /** Resolves at the first `open`. */
  opened: Promise<void>;
  /** Every `open` (reconnections included). */
  opens: Collector<number>;
  errors: Collector<number | undefined>;
}

/**
 * Opens an `EventSource` on `url`. `headers` are sent on every (re)connection; a function is
 * called at each one with the headers the EventSource sends (`Last-Event-ID` on reconnects)
 * and returns the ones to add (a fresh token, say). `types` are event types to listen to besides `message`.
 */
export function subscribe(
  url: string,
  options: {
    headers?: Record<string, string> | ((sent: Record<string, string>) => Promise<Record<string, string>>);
    types?: string[];
  } = {},
): Subscriber {
  const { headers, types = [] } = options;
  const es = new EventSource(url, {
    fetch: async (input, init) => {
      const sent = { ...(init?.headers as Record<string, string> | undefined) };
      const extra = typeof headers === 'function' ? await headers(sent) : (headers ?? {});
      return fetch(input, { ...init, headers: { ...sent, ...extra } });
    },
  });
  const events = new Collector<Received>();
  const opens = new Collector<number>();
  const errors = new Collector<number | undefined>();
  for (const type of ['message', ...types]) {
    es.addEventListener(type, (e: MessageEvent) => events.push({ type, id: e.lastEventId, data: String(e.data) }));
  }
  es.addEventListener('open', () => opens.push(Date.now()));
  es.addEventListener('error', (e) => errors.push((e as unknown as { code?: number }).code));
  const opened = deadline(
    new Promise<void>((resolve, reject) => {
      es.addEventListener('open', () => resolve(), { once: true });
      es.addEventListener(
        'error',
        (e) =>
          reject(
            new Error(
              `EventSource failed: ${(e as unknown as { code?: number }).code ?? ''} ${(e as unknown as { message?: string }).message ?? ''}`,
            ),
          ),
        { once: true },
      );
    }),
    5000,
    `EventSource to open ${url}`,
  );
  return { es, events, opened, opens, errors, [Symbol.dispose]: () => es.close() };
}

/** POSTs a form to the hub. `fields` are pairs, so `topic` may repeat. */
export async function publish(
  hub: string,
  fields: [string, string][],
  auth?: string | { headers: Record<string, string> },
): Promise<{ status: number; body: string; headers: Headers }> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (typeof auth === 'string') headers.authorization = `Bearer ${auth}`;
  else if (auth) Object.assign(headers, auth.headers);
  const res = await fetch(hub, { method: 'POST', headers, body: new URLSearchParams(fields).toString() });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

/** A raw event stream read with `fetch`: headers and the exact text, as far as it has come. */
export interface RawStream extends AsyncDisposable {
  status: number;
  headers: Headers;
  text(): string;
  /** Resolves once the text read so far satisfies `test`. */
  until(test: (text: string) => boolean, ms?: number, what?: string): Promise<string>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
}

export async function rawStream(url: string, headers: Record<string, string> = {}): Promise<RawStream> {
  const controller = new AbortController();
  const res = await fetch(url, { headers, signal: controller.signal });
  let text = '';
  const waiters: { test: (t: string) => boolean; resolve: () => void }[] = [];
  const check = (): void => {
    for (const w of [...waiters])
      if (w.test(text)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
  };
  const ended = (async () => {
    if (!res.body) return;
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body) {
        text += decoder.decode(chunk as Uint8Array, { stream: true });
        check();
      }
    } catch {
      // aborted by the test
    }
  })();
  return {
    status: res.status,
    headers: res.headers,
    text: () => text,
    until(test, ms = 5000, what = 'stream text') {
      if (test(text)) return Promise.resolve(text);
      return deadline(
        new Promise<void>((resolve) => waiters.push({ test, resolve })),
        ms,
        `${what} (have ${JSON.stringify(text.slice(-300))})`,
      ).then(() => text);
    },
    ended,
    async [Symbol.asyncDispose]() {
      controller.abort();
      await ended;
    },
  };
}
