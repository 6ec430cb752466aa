/**
 * Type tests of `defineTopics` (checked by `tsc` with the rest of the project, never run): each
 * `@ts-expect-error` fails the type check if its line compiles.
 */
import { connect, defineTopics, type TopicMatches } from '@rt/client';
import { z } from 'zod';

interface Msg {
  text: string;
}
interface Job {
  id: number;
}

const Msg = z.object({ text: z.string() });
const topics = defineTopics<{ 'chat/{room}': Msg; jobs: Job; 'users/{id}/status': 'online' | 'away' }>({
  schemas: { 'chat/{room}': Msg },
});
const rt = topics.on(connect('http://127.0.0.1:4000'));

// Payloads typed by the pattern, without a generic at the call.
rt.topic('chat/lobby').subscribe((msg, meta) => [msg.text.toUpperCase(), meta.topic]);
void rt.topic('chat/lobby').publish({ text: 'hi' });
void rt.topic('jobs').push({ id: 1 });
rt.topic('jobs').pull((job) => job.id.toFixed());
void rt.topic('users/42/status').publish('away');
rt.topic('chat/lobby')
  .bus()
  .on('message', ({ data }) => data.text);
const room: string = 'dynamic';
void rt.topic(`chat/${room}` as const).publish({ text: 'from a template literal' });

// @ts-expect-error a Msg has no "body"
void rt.topic('chat/lobby').publish({ body: 'hi' });
// @ts-expect-error a Job is not a Msg
void rt.topic('jobs').push({ text: 'no' });
// @ts-expect-error not a status
void rt.topic('users/42/status').publish('busy');
// @ts-expect-error no pattern matches
rt.topic('nope');
// @ts-expect-error `{room}` is one segment, not none
rt.topic('chat/');
// @ts-expect-error `{room}` is one segment, not two
rt.topic('chat/a/b');
// @ts-expect-error `{id}` is followed by `/status`
rt.topic('users/42');
rt.topic('chat/lobby').subscribe((msg) => {
  // @ts-expect-error msg is a Msg
  msg.id;
});

// The matcher itself.
const yes: [TopicMatches<'a/{b}/c', 'a/x/c'>, TopicMatches<'a', 'a'>] = [true, true];
const no: [TopicMatches<'a/{b}/c', 'a/x'>, TopicMatches<'a', 'ab'>, TopicMatches<'{a}', ''>] = [false, false, false];
export { no, yes };

// Presence: members' info typed by the generic; info must be a JSON object.
const here = rt.topic('chat/lobby').presence<{ name: string }>({ info: { name: 'amy' } });
here.members.map((m) => m.info?.name.toUpperCase());
here.on('join', ({ member }) => member.info?.name);
// @ts-expect-error info is typed: "name" is a string
rt.topic('chat/lobby').presence<{ name: string }>({ info: { name: 1 } });
// @ts-expect-error info is a JSON object, not a string
connect('http://127.0.0.1:4000').topic('x').presence({ info: 'amy' });
// @ts-expect-error the members' info has no "age"
here.members.map((m) => m.info?.age);
