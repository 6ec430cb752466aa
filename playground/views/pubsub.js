// Pub/sub on a topic tree: subscribe to any node, publish to any node; a subscription to a
// parent receives what is published to its children.
import { show } from '../log.js';

const $ = (selector) => document.querySelector(selector);
const TREE = ['home', 'home/kitchen', 'home/kitchen/temp', 'home/kitchen/light', 'home/garden', 'home/garden/temp'];
const GAP_REASONS = {
  epoch: 'the broker restarted: messages from before are gone',
  history: 'some messages were older than the history kept',
  overflow: 'this connection could not keep up',
};

/** A plausible reading for a topic of the tree. */
function sample(topic) {
  if (topic.endsWith('/temp')) return { celsius: Math.round((17 + Math.random() * 8) * 10) / 10 };
  if (topic.endsWith('/light')) return { on: Math.random() < 0.5 };
  return { note: `hello ${topic}` };
}

/** The data field of the publish form: JSON when it parses, else the text itself. */
function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function pubsubView() {
  const feed = $('#pub-feed');
  const wanted = new Set(['home/kitchen']);
  const counts = new Map(TREE.map((t) => [t, 0]));
  const rows = new Map();

  for (const topic of TREE) {
    const depth = topic.split('/').length - 1;
    const row = document.createElement('li');
    row.dataset.topic = topic;
    row.style.paddingLeft = `${depth * 1.2}rem`;
    row.innerHTML = `<span class="topic"></span><span class="count"></span>
      <button class="small secondary sub" aria-pressed="false">Subscribe</button>
      <button class="small pub">Publish</button>`;
    row.querySelector('.topic').textContent = `${depth ? '└ ' : ''}${topic}`;
    $('#tree').append(row);
    rows.set(topic, row);
  }

  const render = (topic) => {
    const row = rows.get(topic);
    if (!row) return;
    const on = wanted.has(topic);
    row.dataset.subscribed = String(on);
    const button = row.querySelector('.sub');
    button.setAttribute('aria-pressed', String(on));
    button.textContent = on ? 'Subscribed' : 'Subscribe';
    row.querySelector('.count').textContent = on ? `${counts.get(topic)} received` : '';
  };

  const received = (subscribed, topic, data) => {
    counts.set(subscribed, (counts.get(subscribed) ?? 0) + 1);
    render(subscribed);
    const item = document.createElement('li');
    item.innerHTML = '<code class="via"></code> ← <code class="from"></code>: <span class="data"></span>';
    item.querySelector('.via').textContent = subscribed;
    item.querySelector('.from').textContent = topic;
    item.querySelector('.data').textContent = show(data);
    feed.prepend(item);
    while (feed.childElementCount > 100) feed.lastElementChild.remove();
  };

  return {
    start(ctx) {
      const subs = new Map();
      const subscribe = (topic) => {
        const sub = ctx.main.topic(topic).subscribe((data, meta) => {
          received(topic, meta.topic, data);
          ctx.log('msg', `${topic} ← ${meta.topic}: ${show(data)}`);
        });
        sub.on('gap', ({ reason }) => ctx.log('gap', `${topic} resubscribed; ${GAP_REASONS[reason] ?? reason}`));
        sub.on('error', ({ error }) => {
          ctx.log('error', `${topic}: ${error.message}`);
          wanted.delete(topic);
          subs.delete(topic);
          render(topic);
        });
        sub.ready.then(
          () => ctx.log('msg', `subscribed to ${topic}`),
          () => undefined,
        );
        subs.set(topic, sub);
      };
      const publish = async (topic, data) => {
        try {
          await ctx.main.topic(topic).publish(data);
          ctx.log('msg', `${topic} → ${show(data)}`);
        } catch (error) {
          ctx.log('error', `publish to ${topic}: ${error.message}`);
        }
      };
      const onClick = (event) => {
        const button = event.target.closest('button');
        const topic = button?.closest('li')?.dataset.topic;
        if (!topic) return;
        if (button.classList.contains('pub')) return void publish(topic, sample(topic));
        if (wanted.has(topic)) {
          wanted.delete(topic);
          subs.get(topic)?.unsubscribe();
          subs.delete(topic);
          ctx.log('msg', `unsubscribed from ${topic}`);
        } else {
          wanted.add(topic);
          counts.set(topic, 0);
          subscribe(topic);
        }
        render(topic);
      };
      const onPublish = (event) => {
        event.preventDefault();
        let topic;
        try {
          topic = ctx.main.topic($('#pub-topic').value.trim()).name;
        } catch (error) {
          return ctx.log('error', error.message);
        }
        void publish(topic, parse($('#pub-data').value));
      };
      for (const topic of wanted) subscribe(topic);
      for (const topic of TREE) render(topic);
      $('#tree').addEventListener('click', onClick);
      $('#pub-form').addEventListener('submit', onPublish);
      return () => {
        $('#tree').removeEventListener('click', onClick);
        $('#pub-form').removeEventListener('submit', onPublish);
      };
    },
  };
}
