// Bus chat: a bus per room; what one peer sends reaches every other peer in the room.
import { show } from '../log.js';

const $ = (selector) => document.querySelector(selector);

export function chatView() {
  const list = $('#chat-messages');
  const name = $('#chat-name');
  const room = $('#chat-room');
  const input = $('#chat-input');
  name.value = `guest-${Math.floor(Math.random() * 9000 + 1000)}`;

  const line = (className, who, text) => {
    const item = document.createElement('li');
    item.className = className;
    if (who) {
      const b = document.createElement('span');
      b.className = 'who';
      b.textContent = who;
      item.append(b);
    }
    item.append(text);
    list.append(item);
    list.scrollTop = list.scrollHeight;
  };

  return {
    start(ctx) {
      let bus;
      const join = () => {
        bus?.leave();
        const topic = `chat/${room.value.trim() || 'lobby'}`;
        bus = ctx.main.topic(topic).bus();
        bus.on('message', ({ data }) => {
          if (typeof data !== 'object' || data === null) return;
          line('', String(data.from), String(data.text));
          ctx.log('bus', `${topic} ← ${show(data)}`);
        });
        bus.ready.then(
          () => line('system', '', `joined ${topic}`),
          (error) => line('system', '', `could not join ${topic}: ${error.message}`),
        );
      };
      const onJoin = (event) => {
        event.preventDefault();
        join();
      };
      const onSend = async (event) => {
        event.preventDefault();
        const text = input.value.trim();
        if (!text || !bus) return;
        input.value = '';
        const message = { from: name.value.trim() || 'anonymous', text };
        line('mine', 'me', text);
        try {
          await bus.send(message);
          ctx.log('bus', `${bus.topic} → ${show(message)}`);
        } catch (error) {
          line('system', '', `not sent: ${error.message}`);
          ctx.log('error', `bus send: ${error.message}`);
        }
      };
      $('#chat-join').addEventListener('submit', onJoin);
      $('#chat-form').addEventListener('submit', onSend);
      join();
      return () => {
        $('#chat-join').removeEventListener('submit', onJoin);
        $('#chat-form').removeEventListener('submit', onSend);
      };
    },
  };
}
