/**
 * Baseline: plain `ws` broadcast. A map of topic to sockets; a publish is encoded once and
 * sent to the subscribers of the topic and of its ancestors (each socket once), then answered.
 */
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { serve } from '../lib/serve.ts';
import { addSubscriber, fanOut } from '../lib/topics.ts';

const server = createServer();
const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false });
const topics = new Map<string, Set<WebSocket>>();

interface Request {
  t: string;
  id: number;
  topic?: string;
  data?: string;
}

wss.on('connection', (ws) => {
  const mine = new Set<string>();
  ws.on('message', (raw) => {
    const m = JSON.parse(raw.toString()) as Request;
    if (m.t === 'sub' && m.topic) {
      addSubscriber(topics, m.topic, ws);
      mine.add(m.topic);
    } else if (m.t === 'pub' && m.topic) {
      // Encoded once: one Buffer sent as a text frame to every subscriber.
      const text = Buffer.from(JSON.stringify({ topic: m.topic, data: m.data }));
      fanOut(topics, m.topic, (peer) => peer.send(text, { binary: false }));
    } else if (m.t === 'echo') {
      ws.send(JSON.stringify({ id: m.id, data: m.data }));
      return;
    }
    ws.send(`{"id":${m.id}}`);
  });
  ws.on('close', () => {
    for (const t of mine) topics.get(t)?.delete(ws);
  });
});

await serve(server, () => wss.close());
