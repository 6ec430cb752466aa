// Push/pull: a producer pushes jobs, several workers (a client each; the clients of every tab
// share the leading tab's connection, which hands each job to one of them) take turns, and
// each job is acknowledged when its handler finishes, or sent back when it fails. Workers
// report progress on `jobs/status/<window>` (pub/sub), so a job taken by a worker of another
// window shows up in the window that pushed it.
const $ = (selector) => document.querySelector(selector);
const TOPIC = 'jobs/render';
const WORKERS = ['A', 'B', 'C'];
/** Each job takes this long, so that workers visibly take turns. */
const JOB_MS = 700;
/** This window's tag: job ids and status topics are per window. */
const WINDOW = Math.random().toString(36).slice(2, 6);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function jobsView() {
  const list = $('#jobs');
  const jobs = new Map();
  let next = 1;

  const jobRow = (n) => {
    let row = jobs.get(n);
    if (!row) {
      row = document.createElement('li');
      row.className = 'job';
      jobs.set(n, row);
      list.prepend(row);
      while (list.childElementCount > 60) {
        jobs.delete(Number(list.lastElementChild.dataset.n));
        list.lastElementChild.remove();
      }
    }
    row.dataset.n = String(n);
    return row;
  };
  const mark = (n, status, text) => {
    const row = jobRow(n);
    row.dataset.status = status;
    row.textContent = `#${n} ${text}`;
  };

  const cards = WORKERS.map((name) => {
    const card = document.createElement('div');
    card.className = 'worker';
    card.dataset.worker = name;
    card.innerHTML = `<header><span>Worker ${name}</span><span class="dot" title="connection"></span></header>
      <div class="done">0</div><div class="now">idle</div>
      <div class="row"><button class="small secondary toggle">Pause</button>
      <label><input type="checkbox" class="fail"> fail next</label></div>`;
    $('#workers').append(card);
    return { name, card, done: 0, paused: false };
  });

  return {
    start(ctx) {
      const producer = ctx.main;
      const stops = [];
      const TEXT = { taken: 'taken by', nacked: 'failed, back to the queue; was on', acked: '✓ acked by' };
      producer.topic(`jobs/status/${WINDOW}`).subscribe(({ n, status, worker, window }) => {
        const who = window === WINDOW ? `worker ${worker}` : `worker ${worker} of another window`;
        mark(n, status, `${TEXT[status] ?? status} ${who}`);
      });
      for (const w of cards) {
        const client = ctx.open();
        const dot = w.card.querySelector('.dot');
        dot.dataset.state = client.state;
        client.on('state', ({ to }) => (dot.dataset.state = to));
        const now = w.card.querySelector('.now');
        const fail = w.card.querySelector('.fail');
        const toggle = w.card.querySelector('.toggle');
        let puller;
        // Tells the window that pushed the job how it is going.
        const report = (data, status) => {
          client
            .topic(`jobs/status/${data.window}`)
            .publish({ n: data.n, status, worker: w.name, window: WINDOW })
            .catch(() => undefined);
        };
        const handler = async (data, job) => {
          w.card.dataset.busy = 'true';
          now.textContent = `working on #${data.n}`;
          report(data, 'taken');
          ctx.log('job', `${w.name} took #${data.n} (${job.id})`);
          await sleep(JOB_MS);
          w.card.dataset.busy = 'false';
          if (fail.checked) {
            fail.checked = false;
            now.textContent = `failed #${data.n}`;
            report(data, 'nacked');
            ctx.log('ack', `${w.name} nack #${data.n}: the job goes back to the queue`);
            throw new Error('failed on purpose');
          }
          w.done += 1;
          w.card.querySelector('.done').textContent = String(w.done);
          now.textContent = `acked #${data.n}`;
          report(data, 'acked');
          ctx.log('ack', `${w.name} ack #${data.n}`);
        };
        const render = () => {
          toggle.textContent = w.paused ? 'Resume' : 'Pause';
        };
        // The card says "waiting for jobs" / "paused" once the broker has confirmed it.
        const pull = () => {
          puller = client.topic(TOPIC).pull(handler);
          puller.ready.then(
            () => puller.isActive && (now.textContent = 'waiting for jobs'),
            (error) => ctx.log('error', `worker ${w.name}: ${error.message}`),
          );
        };
        const onToggle = async () => {
          w.paused = !w.paused;
          render();
          if (w.paused) {
            now.textContent = 'pausing…';
            toggle.disabled = true;
            await puller?.stop();
            toggle.disabled = false;
            now.textContent = 'paused';
          } else pull();
        };
        toggle.addEventListener('click', onToggle);
        if (w.paused) now.textContent = 'paused';
        else pull();
        render();
        stops.push(() => toggle.removeEventListener('click', onToggle));
      }
      const push = async (count) => {
        for (let i = 0; i < count; i++) {
          const n = next++;
          const data = { n, window: WINDOW };
          mark(n, 'queued', 'queued');
          try {
            await producer.topic(TOPIC).push(data);
            ctx.log('job', `pushed #${n}`);
          } catch (error) {
            mark(n, 'rejected', `rejected: ${error.message}`);
            ctx.log('error', `push #${n}: ${error.message}`);
          }
        }
      };
      const one = () => void push(1);
      const five = () => void push(5);
      $('#push-one').addEventListener('click', one);
      $('#push-five').addEventListener('click', five);
      return () => {
        for (const stop of stops) stop();
        $('#push-one').removeEventListener('click', one);
        $('#push-five').removeEventListener('click', five);
      };
    },
  };
}
