import { type Client, type Topic, connect as rtConnect, transports, type TransportName } from '@rt/client';
import type { Connect } from './types.ts';

/** rt through its own client (`@rt/client`), pinned to one transport. */
export const connect: Connect = async (url, transport) => {
  if (!transports[transport as TransportName]) throw new Error(`@rt/client has no transport "${transport}"`);
  const client: Client = rtConnect(url, {
    transports: [transport as TransportName],
    reconnect: false,
    requestTimeoutMs: 60_000,
  });
  await client.ready();
  // An app holds its topic handles; so does the benchmark.
  const topics = new Map<string, Topic<string>>();
  const handle = (name: string): Topic<string> => {
    let t = topics.get(name);
    if (!t) topics.set(name, (t = client.topic<string>(name)));
    return t;
  };
  return {
    async subscribe(topic, onMessage) {
      await handle(topic).subscribe((data) => onMessage(data)).ready;
    },
    async publish(topic, payload) {
      await handle(topic).publish(payload);
    },
    async echo(payload) {
      await client.call('echo', payload);
    },
    async push(topic, payload) {
      await handle(topic).push(payload);
    },
    async pull(topic, prefetch, onJob) {
      await handle(topic).pull((data) => onJob(data), { prefetch }).ready;
    },
    close: () => client.close(),
  };
};
