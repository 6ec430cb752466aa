// The rt playground: one page per pattern, a transport switch, the connection state and a
// live log. Uses the client's own browser bundle, served by `rt broker` in development mode.
import { connect, shareRole } from '/rt/rt-client.browser.mjs';
import { createLog } from './log.js';
import { chatView } from './views/chat.js';
import { pubsubView } from './views/pubsub.js';
import { jobsView } from './views/jobs.js';

const LABELS = { websocket: 'WebSocket', sse: 'SSE', polling: 'Long-polling' };
const $ = (selector) => document.querySelector(selector);
const log = createLog($('#log'));
const stateView = $('#state');
const shareView = $('#share');
const select = $('#transport');
const views = [chatView(), pubsubView(), jobsView()];

/** Everything started for the current transport, stopped when it changes. */
let running = { clients: [], stops: [] };

/**
 * Which tab leads: the tabs of this browser (and the workers of each) share one connection to
 * the broker, held by one of them; when it closes, another takes over.
 */
const ROLES = {
  leader: 'this tab leads: it holds the connection',
  follower: 'through the leading tab',
  own: 'own connection',
};

function showState(state, detail = '') {
  stateView.dataset.state = state;
  stateView.textContent = detail ? `${state} · ${detail}` : state;
  const role = shareRole(window.playground?.client) ?? 'own';
  shareView.dataset.role = role;
  shareView.textContent = ROLES[role];
  // Lets the views show what waits for the connection (e.g. subscriptions to restore).
  document.body.dataset.connection = state;
}

/** Starts the views over `transport`: every client made here uses only that transport. */
function start(transport) {
  const clients = [];
  const open = () => {
    const client = connect(location.origin, {
      transports: [transport],
      reconnect: { initialDelayMs: 250, maxDelayMs: 2000 },
    });
    clients.push(client);
    return client;
  };
  let main;
  try {
    main = open();
  } catch (error) {
    showState('unavailable', LABELS[transport]);
    log('error', `${LABELS[transport]}: ${error.message}`);
    running = { clients, stops: [] };
    return;
  }
  // For experiments in the browser console: `playground.client.topic('x').publish(1)`.
  window.playground = { client: main };
  showState('connecting', LABELS[transport]);
  let dropped = false;
  const offState = main.on('state', ({ from, to, reason }) => {
    showState(to, to === 'open' ? LABELS[main.transport] : '');
    log('state', `${from} → ${to}${reason ? ` (${reason})` : ''}`);
    if (to === 'reconnecting') dropped = true;
    if (to === 'open' && dropped) {
      log('state', 'reconnected: the client re-establishes subscriptions, bus joins and pullers by itself');
    }
  });
  // While reconnecting, a failed attempt is expected: the client tries again with backoff.
  const offError = main.on('error', ({ error }) => log(main.state === 'open' ? 'error' : 'retry', error.message));
  const ctx = { main, open, log };
  running = { clients, stops: [offState, offError, ...views.map((view) => view.start(ctx))] };
}

function stop() {
  for (const stopView of running.stops) stopView();
  for (const client of running.clients) client.close();
  running = { clients: [], stops: [] };
}

function switchTo(transport) {
  stop();
  log('state', `transport: ${LABELS[transport]}`);
  const url = new URL(location.href);
  url.searchParams.set('transport', transport);
  history.replaceState(null, '', url);
  start(transport);
}

// Tabs.
for (const tab of document.querySelectorAll('.tabs button')) {
  tab.addEventListener('click', () => {
    for (const other of document.querySelectorAll('.tabs button'))
      other.setAttribute('aria-selected', String(other === tab));
    for (const view of document.querySelectorAll('.view')) view.hidden = view.dataset.view !== tab.dataset.view;
  });
}

$('#log-clear').addEventListener('click', () => $('#log').replaceChildren());
select.addEventListener('change', () => switchTo(select.value));

const initial = new URLSearchParams(location.search).get('transport');
select.value = initial in LABELS ? initial : 'websocket';
log('state', `transport: ${LABELS[select.value]}`);
start(select.value);
