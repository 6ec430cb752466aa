/**
 * A small React page on rt (bundled by esbuild for the Chromium test): the connection state,
 * the latest chat messages, and a form that publishes. It connects to the page's own origin.
 */
import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { RtProvider, useClient, useConnectionState, useMessages } from '@rt/react';

function Chat() {
  const client = useClient();
  const state = useConnectionState();
  const messages = useMessages<string>('chat', { limit: 3 });
  const [draft, setDraft] = useState('');
  return (
    <main>
      <p id="state">{state}</p>
      <ul id="messages">
        {messages.map((m) => (
          <li key={`${m.topic}-${m.off ?? m.data}`}>{m.data}</li>
        ))}
      </ul>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          void client.topic<string>('chat').publish(draft);
          setDraft('');
        }}
      >
        <input id="draft" value={draft} onChange={(event) => setDraft(event.target.value)} />
        <button id="send" type="submit">
          Send
        </button>
      </form>
    </main>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <RtProvider url={location.origin} options={{ reconnect: { initialDelayMs: 50, maxDelayMs: 300 } }}>
      <Chat />
    </RtProvider>
  </StrictMode>,
);
