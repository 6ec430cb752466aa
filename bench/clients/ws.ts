import WebSocket from 'ws';
import type { Connect } from './types.ts';

/** Plain `ws`: JSON messages with an id answered by `{id}` (see servers/ws.ts). */
export const connect: Connect = async (url) => {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + '/ws', { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 1;
  const waiting = new Map<number, () => void>();
  // A benchmark client subscribes to one topic (maybe an ancestor of what is published).
  let onMessage: ((payload: string) => void) | undefined;
  ws.on('message', (raw) => {
    const m = JSON.parse(raw.toString()) as { id?: number; data?: string };
    if (m.id !== undefined) {
      waiting.get(m.id)?.();
      waiting.delete(m.id);
    } else if (m.data !== undefined) onMessage?.(m.data);
  });
  const ask = (m: Record<string, unknown>): Promise<void> =>
    new Promise((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      ws.send(JSON.stringify({ ...m, id }));
    });
  return {
    async subscribe(topic, handler) {
      onMessage = handler;
      await ask({ t: 'sub', topic });
    },
    publish: (topic, data) => ask({ t: 'pub', topic, data }),
    echo: (data) => ask({ t: 'echo', data }),
    close: () => ws.close(),
  };
};
