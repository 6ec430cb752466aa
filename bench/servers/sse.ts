/**
 * Baseline: a minimal SSE server on node:http. `GET /sse/stream?client=ID` holds an event
 * stream; `POST /sse/sub|pub|echo` with a JSON body subscribes, publishes (encoded once,
 * written to the streams of the topic and its ancestors) or echoes on the caller's stream.
 */
import { createServer, type ServerResponse } from 'node:http';
import { serve } from '../lib/serve.ts';
import { addSubscriber, fanOut } from '../lib/topics.ts';

const streams = new Map<string, ServerResponse>();
const topics = new Map<string, Set<ServerResponse>>();
/** What each stream subscribed to, to clean up when it closes. */
const subscribed = new Map<ServerResponse, Set<string>>();

interface Body {
  client: string;
  topic?: string;
  data?: string;
  ref?: number;
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/sse/stream') {
    const client = url.searchParams.get('client') ?? '';
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(':ok\n\n');
    streams.set(client, res);
    subscribed.set(res, new Set());
    res.on('close', () => {
      streams.delete(client);
      for (const t of subscribed.get(res) ?? []) topics.get(t)?.delete(res);
      subscribed.delete(res);
    });
    return;
  }
  if (req.method !== 'POST') {
    res.writeHead(404).end();
    return;
  }
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => (body += chunk));
  req.on('end', () => {
    const m = JSON.parse(body) as Body;
    const stream = streams.get(m.client);
    if (url.pathname === '/sse/sub' && stream && m.topic) {
      addSubscriber(topics, m.topic, stream);
      subscribed.get(stream)?.add(m.topic);
    } else if (url.pathname === '/sse/pub' && m.topic) {
      const event = `data: ${JSON.stringify({ topic: m.topic, data: m.data })}\n\n`;
      fanOut(topics, m.topic, (peer) => peer.write(event));
    } else if (url.pathname === '/sse/echo' && stream) {
      stream.write(`data: ${JSON.stringify({ ref: m.ref, data: m.data })}\n\n`);
    } else {
      res.writeHead(400).end();
      return;
    }
    res.writeHead(204).end();
  });
});

await serve(server, () => {
  for (const s of streams.values()) s.end();
  server.close();
});
