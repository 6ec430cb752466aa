/**
 * The admin page: one HTML document with its CSS and JS inline (no framework, no build
 * step, nothing to serve beside it). It polls `admin/state` (relative to itself) every
 * second and shows connections, topics, queues, counters and the rates between two polls, and
 * the presence of the topic typed in its form.
 * Every number sits in an element with a `data-k` attribute naming it, for tests.
 */
export const ADMIN_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rt admin</title>
<style>
  :root { font: 14px/1.4 system-ui, sans-serif; color: #1d2330; background: #f6f7f9; }
  body { margin: 0; }
  header { display: flex; gap: 1rem; align-items: baseline; padding: .8rem 1.2rem; background: #1d2330; color: #fff; }
  header h1 { margin: 0; font-size: 1.1rem; }
  header .state { margin-left: auto; padding: .1rem .6rem; border-radius: 1rem; background: #2e7d32; }
  header .state[data-ready="false"] { background: #c62828; }
  main { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 1rem; padding: 1rem 1.2rem; }
  section { background: #fff; border-radius: 6px; padding: .6rem 1rem 1rem; box-shadow: 0 1px 2px #0002; }
  h2 { font-size: .95rem; margin: .4rem 0 .6rem; color: #44506a; }
  table { width: 100%; border-collapse: collapse; }
  th, td { text-align: left; padding: .2rem .4rem; border-bottom: 1px solid #eceef2; }
  td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
  .empty { color: #8a93a6; font-style: italic; }
  .error { color: #c62828; }
  #presence td { overflow-wrap: anywhere; }
</style>
</head>
<body>
<header>
  <h1>rt admin</h1>
  <span>engine <b data-k="engine">…</b></span>
  <span>mode <b data-k="mode">…</b></span>
  <span>up <b data-k="uptime">…</b></span>
  <span class="state" data-k="ready" data-ready="true">…</span>
</header>
<p class="error" id="error" hidden></p>
<main>
  <section>
    <h2>Connections (<span data-k="connections-total">0</span>)</h2>
    <table><thead><tr><th>door</th><th>transport</th><th class="n">open</th></tr></thead><tbody id="connections"></tbody></table>
    <table>
      <tr><td>subscriptions</td><td class="n" data-k="subscriptions">0</td></tr>
      <tr><td>bus joins</td><td class="n" data-k="busJoins">0</td></tr>
      <tr><td>pullers</td><td class="n" data-k="pullers">0</td></tr>
    </table>
  </section>
  <section>
    <h2>Messages</h2>
    <table><thead><tr><th>counter</th><th class="n">total</th><th class="n">per second</th></tr></thead><tbody id="counters"></tbody></table>
  </section>
  <section>
    <h2>Topics (<span data-k="topicCount">0</span>, most subscribed first)</h2>
    <table><thead><tr><th>topic</th><th class="n">subscribers</th></tr></thead><tbody id="topics"></tbody></table>
  </section>
  <section>
    <h2>Work queues</h2>
    <table><thead><tr><th>topic</th><th class="n">waiting</th><th class="n">in flight</th><th class="n">pullers</th></tr></thead><tbody id="queues"></tbody></table>
  </section>
  <section>
    <h2>Presence (<span data-k="presence-count">0</span> members)</h2>
    <form id="presence-form"><input id="presence-topic" placeholder="topic, e.g. room/1" aria-label="topic"> <button>show</button></form>
    <table><thead><tr><th>client</th><th>subject</th><th>info</th><th class="n">since</th></tr></thead><tbody id="presence"></tbody></table>
  </section>
</main>
<script>
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  const stateUrl = new URL('admin/state', location.href.replace(/\\/admin\\/?(#.*)?$/, '/'));
  let previous;
  let presenceTopic = '';

  function row(cells, keyed) {
    const tr = document.createElement('tr');
    cells.forEach((value, i) => {
      const td = document.createElement('td');
      td.textContent = String(value);
      if (typeof value === 'number' || /^(-?\\d+(\\.\\d+)?|…)$/.test(value)) td.className = 'n';
      if (keyed && keyed[i]) td.dataset.k = keyed[i];
      tr.append(td);
    });
    return tr;
  }

  function fill(id, rows, empty, width) {
    const body = document.getElementById(id);
    body.replaceChildren(...rows);
    if (rows.length === 0) {
      const td = document.createElement('td');
      td.colSpan = width;
      td.className = 'empty';
      td.textContent = empty;
      body.replaceChildren(document.createElement('tr'));
      body.firstChild.append(td);
    }
  }

  function set(key, value) {
    for (const el of document.querySelectorAll('[data-k="' + key + '"]')) el.textContent = String(value);
  }

  function show(state) {
    set('engine', state.engine);
    set('mode', state.mode);
    set('uptime', state.uptimeSec + ' s');
    const ready = document.querySelector('[data-k="ready"]');
    ready.dataset.ready = String(state.ready);
    ready.textContent = state.ready ? 'ready' : 'not ready: ' + state.reason;
    const open = state.connections.filter((c) => c.count > 0);
    set('connections-total', open.reduce((s, c) => s + c.count, 0));
    fill('connections', open.map((c) => row([c.door, c.transport, c.count], [null, null, 'conn-' + c.door + '-' + c.transport])), 'no connections', 3);
    set('subscriptions', state.subscriptions);
    set('busJoins', state.busJoins);
    set('pullers', state.pullers);
    set('topicCount', state.topicCount);
    fill('topics', state.topics.map((t) => row([t.topic, t.subscribers], [null, 'topic-' + t.topic])), 'no subscriptions', 2);
    fill(
      'queues',
      state.queues === null ? [] : state.queues.map((q) => row([q.topic, q.waiting, q.inflight, q.pullers], [null, 'queue-' + q.topic, null, null])),
      state.queues === null ? 'this engine does not report its queues' : 'no work queues',
      4,
    );
    const seconds = previous ? (state.at - previous.at) / 1000 : 0;
    fill('counters', Object.entries(state.counters).map(([name, value]) => {
      const rate = seconds > 0 ? ((value - previous.counters[name]) / seconds).toFixed(1) : '…';
      return row([name, value, rate], [null, 'count-' + name, 'rate-' + name]);
    }), '', 3);
    previous = state;
  }

  async function read(url) {
    const res = await fetch(url, { headers: token ? { authorization: 'Bearer ' + token } : {}, cache: 'no-store' });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error ? body.error.message : res.statusText);
    return body;
  }

  async function showPresence() {
    if (presenceTopic === '') return fill('presence', [], 'choose a topic', 4);
    const url = new URL('presence', stateUrl);
    url.searchParams.set('topic', presenceTopic);
    const body = await read(url);
    if (body.topic !== presenceTopic) return;
    set('presence-count', body.members.length);
    fill('presence', body.members.map((m) => row(
      [m.clientId, m.subject ?? '', m.info === undefined ? '' : JSON.stringify(m.info), new Date(m.since).toLocaleTimeString()],
      ['member-' + m.clientId, null, null, null],
    )), 'nobody on ' + presenceTopic, 4);
  }

  document.getElementById('presence-form').addEventListener('submit', (event) => {
    event.preventDefault();
    presenceTopic = document.getElementById('presence-topic').value.trim();
    showPresence().catch((e) => fill('presence', [], e.message, 4));
  });

  async function poll() {
    const error = document.getElementById('error');
    try {
      show(await read(stateUrl));
      await showPresence().catch((e) => fill('presence', [], e.message, 4));
      error.hidden = true;
      document.body.dataset.polled = String(Number(document.body.dataset.polled || 0) + 1);
    } catch (e) {
      error.textContent = 'cannot read the broker state: ' + e.message;
      error.hidden = false;
    }
    setTimeout(poll, 1000);
  }
  poll();
</script>
</body>
</html>
`;
