/**
 * `@rt/react` against a real broker, rendered by React DOM in happy-dom through
 * `@testing-library/react`: StrictMode's double mount, sharing one broker-side subscription
 * between components, cleanup on unmount (the broker's count back to 0), connection states
 * through a broker restart, buses, pullers and calls.
 */
import './dom.ts';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StrictMode, useState } from 'react';
import { act, cleanup, render, screen } from '@testing-library/react';
import { connect, type Client } from '@rt/client';
import { createBroker, type Broker } from '@rt/server';
import {
  RtProvider,
  useBus,
  useCall,
  useClient,
  useConnectionState,
  useMessages,
  usePuller,
  useSubscription,
  useTopicValue,
} from '@rt/react';
import { Collector, deadline, quiet, startBroker } from '../helpers/index.ts';
import { brokerSide } from './broker-side.ts';

/** Waits until `check()` holds (re-checked on every turn of the event loop), failing after `ms`. */
async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  await deadline(
    (async () => {
      while (!check()) await act(() => new Promise((r) => setTimeout(r, 10)));
    })(),
    ms,
    what,
  );
}

/** The text of the element with `testid`, or null. */
const text = (testid: string): string | null => screen.queryByTestId(testid)?.textContent ?? null;

/**
 * Each client its own connection: happy-dom has `BroadcastChannel` but no Web Locks
 * (`navigator.locks` is null), so tab sharing cannot run here.
 */
const OPTIONS = {
  transports: ['websocket'],
  reconnect: { initialDelayMs: 50, maxDelayMs: 300 },
  share: false,
} as const;
const connectTo = (url: string): Client => connect(url, OPTIONS);

interface Reading {
  celsius: number;
}

function Temperature({ id = 'temp' }: { id?: string }) {
  const reading = useTopicValue<Reading>('home/temp');
  return <p data-testid={id}>{reading ? `${reading.celsius} °C` : 'none'}</p>;
}

function State() {
  return <p data-testid="state">{useConnectionState()}</p>;
}

function Chat({ limit }: { limit: number }) {
  const messages = useMessages<string>('chat', { limit });
  return <p data-testid={`chat-${limit}`}>{messages.map((m) => `${m.topic}:${m.data}`).join(',')}</p>;
}

function SharedChat({ client }: { client: Client }) {
  const [late, setLate] = useState(false);
  const [few, setFew] = useState(true);
  return (
    <RtProvider client={client}>
      {few && <Chat limit={2} />}
      <Chat limit={3} />
      <Temperature id="early" />
      {late && <Temperature id="late" />}
      <button type="button" data-testid="show-late" onClick={() => setLate(true)} />
      <button type="button" data-testid="hide-few" onClick={() => setFew(false)} />
    </RtProvider>
  );
}

function Feed({ topic, got, statuses }: { topic: string; got: Collector<[string, unknown]>; statuses: string[] }) {
  const status = useSubscription<number>(topic, { onMessage: (data, m) => got.push([m.topic, data]) });
  statuses.push(status.state);
  const code = (status.error as { code?: string } | undefined)?.code;
  return <p data-testid={topic}>{code ? `${status.state}: ${code}` : status.state}</p>;
}

function Watch({ states }: { states: string[] }) {
  const state = useConnectionState();
  if (states.at(-1) !== state) states.push(state);
  return <p data-testid="state">{state}</p>;
}

function Peer({ name, onMessage }: { name: string; onMessage?: (data: string) => void }) {
  const bus = useBus<string>('room', onMessage ? { onMessage } : {});
  return (
    <button type="button" data-testid={name} onClick={() => void bus.send(`from ${name}`)}>
      {bus.joined ? 'joined' : 'joining'}
    </button>
  );
}

function Worker({ jobs }: { jobs: Collector<number> }) {
  usePuller<number>('work', (n) => jobs.push(n));
  return null;
}

/** Takes each job and never finishes the first one: its ack deadline gives it back. */
function SlowWorker({ jobs }: { jobs: Collector<[number, number]> }) {
  usePuller<number>(
    'slow',
    (n, job) => {
      jobs.push([n, job.attempt ?? 0]);
      return job.attempt === 1 ? new Promise<void>(() => undefined) : undefined;
    },
    { ackTimeoutMs: 300 },
  );
  return null;
}

function Sum() {
  const call = useCall();
  const [result, setResult] = useState<number>();
  return (
    <button type="button" data-testid="sum" onClick={() => void call<number>('sum', [1, 2, 3]).then(setResult)}>
      {result ?? '?'}
    </button>
  );
}

function Orphan() {
  useClient();
  return null;
}

describe('@rt/react hooks against a broker', () => {
  it('under StrictMode: one broker-side subscription, values and states rendered, none left after unmount', async () => {
    await using b = await startBroker();
    const count = brokerSide(b.broker);
    const client = connectTo(b.url);
    // Open before the first render: StrictMode's unmount would reach the broker if it were not held.
    await client.ready();
    try {
      const view = render(
        <StrictMode>
          <RtProvider client={client}>
            <State />
            <Temperature />
          </RtProvider>
        </StrictMode>,
      );
      await until(() => text('state') === 'open' && count() === 1, 'open and subscribed');
      assert.equal(text('temp'), 'none');
      await quiet();
      assert.deepEqual([count(), count.made], [1, 1], "StrictMode's second mount reuses the subscription");
      await b.broker.publish('home/temp', { celsius: 21 });
      await until(() => text('temp') === '21 °C', 'the reading');
      view.unmount();
      await until(() => count() === 0, 'no subscription left on the broker');
    } finally {
      cleanup();
      client.close();
    }
  });

  it('components on one topic share one subscription; each keeps its own number of messages', async () => {
    await using b = await startBroker();
    const count = brokerSide(b.broker);
    const client = connectTo(b.url);
    try {
      const view = render(<SharedChat client={client} />);
      await until(() => count() === 2, 'chat and home/temp subscribed');
      for (const n of [1, 2, 3, 4]) await b.broker.publish(`chat/${n % 2 ? 'a' : 'b'}`, `m${n}`);
      await b.broker.publish('home/temp', { celsius: 19 });
      await until(() => text('chat-3') === 'chat/b:m2,chat/a:m3,chat/b:m4', 'the 3 latest');
      assert.equal(text('chat-2'), 'chat/a:m3,chat/b:m4');
      await until(() => text('early') === '19 °C', 'the reading');
      // Mounted later on the same topic: starts from the latest value, with no new subscription.
      await act(async () => screen.getByTestId('show-late').click());
      assert.equal(text('late'), '19 °C');
      assert.equal(count(), 2);
      await act(async () => screen.getByTestId('hide-few').click());
      await quiet();
      assert.equal(count(), 2, 'another component still shows the chat');
      view.unmount();
      await until(() => count() === 0, 'no subscription left on the broker');
    } finally {
      cleanup();
      client.close();
    }
  });

  it('useSubscription calls onMessage and reports pending, ready, and a refusal', async () => {
    await using b = await startBroker();
    const client = connectTo(b.url);
    const got = new Collector<[string, unknown]>();
    const statuses: string[] = [];
    try {
      render(
        <RtProvider client={client}>
          <Feed topic="feed" got={got} statuses={statuses} />
          <Feed topic="bad//topic" got={got} statuses={statuses} />
        </RtProvider>,
      );
      await until(() => text('feed') === 'ready', 'the subscription confirmed');
      assert.equal(text('bad//topic'), 'error: invalid_topic');
      await b.broker.publish('feed/x', 1);
      await b.broker.publish('feed', 2);
      await got.until(2);
      assert.deepEqual(got.items, [
        ['feed/x', 1],
        ['feed', 2],
      ]);
      assert.equal(statuses[0], 'pending');
    } finally {
      cleanup();
      client.close();
    }
  });

  it('the connection state follows a broker restart, and subscriptions come back', async () => {
    const first = await startBroker();
    const states: string[] = [];
    let second: { broker: Broker } | undefined;
    try {
      render(
        <RtProvider url={first.url} options={OPTIONS}>
          <Watch states={states} />
          <Temperature />
        </RtProvider>,
      );
      await until(() => text('state') === 'open', 'open');
      await first.broker.close();
      await until(() => text('state') === 'reconnecting', 'reconnecting');
      const broker = createBroker({ mode: 'production', logger: { level: 'silent' } });
      second = { broker };
      const count = brokerSide(broker);
      await broker.listen(`http://127.0.0.1:${first.port}`);
      await until(() => text('state') === 'open', 'open again');
      // The client re-established the subscription: a message published now is rendered.
      await until(() => count() === 1, 'resubscribed');
      await broker.publish('home/temp', { celsius: 5 });
      await until(() => text('temp') === '5 °C', 'the reading after the restart');
      assert.deepEqual(states, ['connecting', 'open', 'reconnecting', 'open']);
    } finally {
      cleanup();
      await second?.broker.close();
    }
  });

  it('useBus, usePuller (StrictMode) and useCall', async () => {
    await using b = await startBroker();
    b.broker.action('sum', (_session, payload) => (payload as number[]).reduce((a, n) => a + n, 0));
    const count = brokerSide(b.broker);
    const alice = connectTo(b.url);
    const bob = connectTo(b.url);
    const heard = new Collector<string>();
    const jobs = new Collector<number>();
    try {
      const view = render(
        <StrictMode>
          <RtProvider client={alice}>
            <Peer name="alice" />
            <Worker jobs={jobs} />
            <Sum />
          </RtProvider>
          <RtProvider client={bob}>
            <Peer name="bob" onMessage={heard.push} />
          </RtProvider>
        </StrictMode>,
      );
      await until(() => text('alice') === 'joined' && text('bob') === 'joined', 'both joined');
      assert.deepEqual([...count.buses], ['room']);
      await act(async () => screen.getByTestId('alice').click());
      assert.deepEqual(await heard.until(1), ['from alice']);

      for (const n of [1, 2, 3]) await bob.topic<number>('work').push(n);
      assert.deepEqual(await jobs.until(3), [1, 2, 3]);

      await act(async () => screen.getByTestId('sum').click());
      await until(() => text('sum') === '6', 'the call answered');

      view.unmount();
      await until(() => count.buses.size === 0, 'both left the bus');
      // The puller stopped with the component: another takes the next job.
      const other = new Collector<number>();
      await bob.topic<number>('work').pull(other.push).ready;
      await bob.topic<number>('work').push(4);
      assert.deepEqual(await other.until(1), [4]);
      assert.equal(jobs.items.length, 3);
    } finally {
      cleanup();
      alice.close();
      bob.close();
    }
  });

  it('usePuller passes its ack deadline to the broker: a job not finished in time comes back as a further attempt', async () => {
    await using b = await startBroker();
    const client = connectTo(b.url);
    const jobs = new Collector<[number, number]>();
    try {
      await client.topic<number>('slow').push(7);
      render(
        <RtProvider client={client}>
          <SlowWorker jobs={jobs} />
        </RtProvider>,
      );
      // With the broker's default deadline (30 s) the second attempt would not come within the wait.
      assert.deepEqual(await jobs.until(2, 5000), [
        [7, 1],
        [7, 2],
      ]);
    } finally {
      cleanup();
      client.close();
    }
  });

  it('useClient outside a provider says so', () => {
    const original = console.error;
    console.error = () => undefined;
    try {
      assert.throws(() => render(<Orphan />), /no <RtProvider> above this component/);
    } finally {
      console.error = original;
      cleanup();
    }
  });
});
