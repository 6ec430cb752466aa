import { randomUUID } from 'node:crypto';
import { EventSource } from 'eventsource';
import type { Connect } from './types.ts';

/**
 * A plain SSE client of the minimal SSE server (servers/sse.ts): one event stream per
 * client, and HTTP POSTs to subscribe, publish and echo (the echo comes back on the stream).
 */
export const connect: Connect = async (url) => {
  const id = randomUUID();
  const source = new EventSource(`${url}/sse/stream?client=${id}`);
  await new Promise<void>((resolve, reject) => {
    source.onopen = () => resolve();
    source.onerror = (e) => reject(new Error(`SSE stream failed: ${e.message ?? 'error'}`));
  });
  let nextRef = 1;
  const waiting = new Map<number, () => void>();
  let onMessage: ((payload: string) => void) | undefined;
  source.onmessage = (event: MessageEvent<string>) => {
    const m = JSON.parse(event.data) as { ref?: number; data?: string };
    if (m.ref !== undefined) {
      waiting.get(m.ref)?.();
      waiting.delete(m.ref);
    } else if (m.data !== undefined) onMessage?.(m.data);
  };
  const post = async (path: string, body: Record<string, unknown>): Promise<void> => {
    const res = await fetch(`${url}/sse/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client: id, ...body }),
    });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`POST ${path}: ${res.status}`);
  };
  return {
    async subscribe(topic, handler) {
      onMessage = handler;
      await post('sub', { topic });
    },
    publish: (topic, data) => post('pub', { topic, data }),
    async echo(data) {
      const ref = nextRef++;
      const answered = new Promise<void>((resolve) => waiting.set(ref, resolve));
      await post('echo', { ref, data });
      await answered;
    },
    close: () => source.close(),
  };
};
