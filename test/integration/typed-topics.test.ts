/**
 * Typed topics validated at the edge with a Standard Schema library (zod): what the app sends
 * is refused with `invalid_payload` before it leaves, what it receives is checked before its
 * handler sees it. (The types themselves: `typed-topics.types.ts`, checked by `tsc`.)
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defineTopics, type RtError } from '@rt/client';
import { z } from 'zod';
import { Collector, clients, quiet, startBroker } from '../helpers/index.ts';

const Msg = z.object({ text: z.string().min(1) });
type Msg = z.infer<typeof Msg>;
// Validates asynchronously, as schemas with async refinements do.
const Job = z.object({ id: z.number().int() }).refine(async (job) => job.id >= 0, { message: 'negative id' });
type Job = z.infer<typeof Job>;

describe('typed topics with runtime validation', () => {
  it('refuses an invalid publish, push or bus send with invalid_payload before sending', async () => {
    await using b = await startBroker();
    await using made = clients(b.url, 'websocket');
    const rt = defineTopics<{ 'chat/{room}': Msg; jobs: Job }>({ schemas: { 'chat/{room}': Msg, jobs: Job } }).on(
      made.make(),
    );
    const seen = new Collector<unknown>();
    await made.make().topic('chat').subscribe(seen.push).ready;
    const published = b.broker.stats().published;

    const bad = { text: 42 } as unknown as Msg;
    await assert.rejects(rt.topic('chat/lobby').publish(bad), (e: RtError) => {
      assert.equal(e.code, 'invalid_payload');
      assert.match(e.message, /"chat\/lobby".*text: /);
      return true;
    });
    await assert.rejects(rt.topic('jobs').push({ id: -1 }), { code: 'invalid_payload', message: /negative id/ });
    await assert.rejects(rt.topic('chat/lobby').bus().send({ text: '' }), { code: 'invalid_payload' });

    await rt.topic('chat/lobby').publish({ text: 'valid' });
    assert.deepEqual(await seen.until(1), [{ text: 'valid' }]);
    await quiet();
    assert.deepEqual(seen.items, [{ text: 'valid' }], 'nothing invalid reached the broker');
    assert.equal(b.broker.stats().published, published + 1);
  });

  it('hands only valid messages and jobs to the app; the others go to onInvalid, in order', async () => {
    await using b = await startBroker();
    await using made = clients(b.url, 'websocket');
    const invalid = new Collector<string>();
    const rt = defineTopics<{ 'chat/{room}': Msg; jobs: Job; free: unknown }>({
      schemas: { 'chat/{room}': Msg, jobs: Job },
      onInvalid: (error) => invalid.push(`${error.code}: ${error.message}`),
    }).on(made.make());
    const raw = made.make();

    const messages = new Collector<[string, string]>();
    await rt.topic('chat/lobby').subscribe((msg, meta) => messages.push([meta.topic, msg.text])).ready;
    const jobs = new Collector<number>();
    await rt.topic('jobs').pull((job) => jobs.push(job.id)).ready;
    const free = new Collector<unknown>();
    await rt.topic('free').subscribe(free.push).ready;

    await raw.topic('chat/lobby').publish({ text: 'one' });
    await raw.topic('chat/lobby').publish({ wrong: true });
    await raw.topic('chat/lobby/thread').publish({ text: 'two' });
    await raw.topic('jobs').push({ id: -5 });
    await raw.topic('jobs').push({ id: 7 });
    await raw.topic('free').publish({ anything: 1 });

    assert.deepEqual(await messages.until(2), [
      ['chat/lobby', 'one'],
      ['chat/lobby/thread', 'two'],
    ]);
    assert.deepEqual(await jobs.until(1), [7]);
    assert.deepEqual(await free.until(1), [{ anything: 1 }], 'a pattern without a schema is not checked');
    const reported = await invalid.until(2);
    assert.equal(reported.length, 2);
    assert.match(reported.find((r) => r.includes('message'))!, /^invalid_payload: a message on "chat\/lobby": text: /);
    assert.match(reported.find((r) => r.includes('job'))!, /^invalid_payload: job .* on "jobs": negative id/);

    // The invalid job was acknowledged (not redelivered to anyone).
    const other = new Collector<unknown>();
    await raw.topic('jobs').pull(other.push).ready;
    await quiet(300);
    assert.deepEqual([other.items, jobs.items, invalid.items.length], [[], [7], 2]);
  });
});
