/**
 * Many tabs, one connection: five tabs of ONE browser context (one user's browser) share one
 * connection to the broker on each transport. Every tab subscribes, joins, pulls and
 * publishes and gets its own messages; then the leader tab (the one holding the connection)
 * is closed mid-stream and another takes over, with every numbered message accounted for in
 * every tab (received, or covered by a gap). Tabs with different tokens never share.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ROOT, TRANSPORTS, deadline, startBroker } from '../helpers/index.ts';
import { SECRET, token } from '../helpers/security.ts';
import { launchChromium, type TestBrowser } from './chromium.ts';
import {
  ELECTIONS,
  HANDOFF_BOUND_MS,
  eventually,
  everyNumberOnce,
  numbers,
  oneLeader,
  openTab,
  t,
  tabsContext,
  until,
} from './tabs-helpers.ts';

const TABS = 5;

describe('browser: many tabs share one connection', () => {
  let browser: TestBrowser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.[Symbol.asyncDispose]();
  });

  for (const election of ELECTIONS)
    for (const transport of TRANSPORTS) {
      it(`${TABS} tabs over ${transport}, leader chosen with ${election}: one connection, every message to every tab, leader closed mid-stream`, async () => {
        await using b = await startBroker({ mode: 'development' });
        b.broker.action('add', (_session, p) => (p as number[]).reduce((x, y) => x + y, 0));
        const context = await tabsContext(browser, election);
        try {
          const tabs: Page[] = [];
          for (let i = 0; i < TABS; i++) tabs.push(await openTab(browser, context, b.url, `${transport} tab ${i}`));
          for (const tab of tabs) await t(tab, `start(${JSON.stringify(transport)})`);
          for (const tab of tabs) assert.equal(await t(tab, 'transport()'), transport);
          assert.equal(
            await tabs[0]!.evaluate('typeof navigator.locks'),
            election === 'Web Locks' ? 'object' : 'undefined',
          );
          const roles = await Promise.all(tabs.map((tab) => t<string>(tab, 'role()')));
          assert.equal(roles.filter((r) => r === 'leader').length, 1, `one leader: ${roles.join(', ')}`);
          assert.equal(roles.filter((r) => r === 'follower').length, TABS - 1);

          await Promise.all(
            tabs.flatMap((tab) => [
              t(tab, "subscribe('news')"),
              t(tab, "subscribe('stream')"),
              t(tab, "join('room')"),
              t(tab, "pull('work')"),
            ]),
          );
          assert.equal(b.broker.stats().sessions, 1, 'exactly one connection for the five tabs');

          // pub/sub: every tab publishes, every tab receives every message (its own too).
          for (const [i, tab] of tabs.entries()) await t(tab, `publish('news', { from: ${i}, n: ${i} })`);
          for (const tab of tabs) await until(tab, `harness.got.sub.filter((m) => m[1] === 'news').length >= ${TABS}`);
          for (const tab of tabs) assert.deepEqual((await numbers(tab, 'news')).sort(), [0, 1, 2, 3, 4]);

          // bus: every tab's message reaches the four others, never itself.
          for (const [i, tab] of tabs.entries()) await t(tab, `send('room', ${i})`);
          for (const [i, tab] of tabs.entries()) {
            await until(tab, `harness.got.bus.length >= ${TABS - 1}`);
            const got = (await t<number[]>(tab, 'got.bus')).sort();
            assert.deepEqual(
              got,
              [0, 1, 2, 3, 4].filter((n) => n !== i),
            );
          }

          // push/pull: ten jobs, each done once, by some tab.
          for (const [i, tab] of tabs.entries()) {
            await t(tab, `push('work', ${2 * i})`);
            await t(tab, `push('work', ${2 * i + 1})`);
          }
          const jobs = async (): Promise<number[]> =>
            (await Promise.all(tabs.map((tab) => t<number[]>(tab, 'got.job')))).flat();
          await deadline(
            (async () => {
              while ((await jobs()).length < 10) await new Promise((r) => setTimeout(r, 50));
            })(),
            15_000,
            'ten jobs',
          );
          assert.deepEqual(
            (await jobs()).sort((x, y) => x - y),
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
          );

          // call: every tab's call goes through the leader, and its answer comes back to that tab.
          assert.deepEqual(
            await Promise.all(tabs.map((tab, i) => t(tab, `call('add', [${i}, 10])`))),
            [10, 11, 12, 13, 14],
          );

          // A follower holds a job and goes away: the job goes to another tab.
          const leaderIndex = roles.indexOf('leader');
          const holderIndex = (leaderIndex + 1) % TABS;
          const takerIndex = (leaderIndex + 2) % TABS;
          await t(tabs[holderIndex]!, "hold('held')");
          await t(tabs[holderIndex]!, "push('held', 'job')");
          await until(tabs[holderIndex]!, 'harness.got.held.length === 1');
          await t(tabs[takerIndex]!, "pull('held')");
          await tabs[holderIndex]!.close();
          await until(tabs[takerIndex]!, "harness.got.job.includes('job')");

          // The leader tab holds a job of its own when it goes: the job goes back to the queue
          // (the broker sees the old connection gone) and reaches a surviving tab's puller,
          // re-established through the next leader.
          const survivors = tabs.filter((_, i) => i !== leaderIndex && i !== holderIndex);
          await t(tabs[leaderIndex]!, "hold('leader-held')");
          await t(tabs[leaderIndex]!, "push('leader-held', 'leader job')");
          await until(tabs[leaderIndex]!, "harness.got.held.includes('leader job')");
          await t(survivors[0]!, "pull('leader-held')");

          // The leader tab goes away mid-stream; numbered messages keep coming from the server.
          const TOTAL = 60;
          let closedAt = 0;
          for (let n = 1; n <= TOTAL; n++) {
            await b.broker.publish('stream', { n });
            if (n === 20) {
              closedAt = Date.now();
              await tabs[leaderIndex]!.close();
            }
            await new Promise((r) => setTimeout(r, 20));
          }
          // Another tab leads, and every survivor is connected through it.
          const handoffMs = await oneLeader(survivors, closedAt);
          // Each survivor's own client re-established its own interests through the new leader
          // (its `restored` event, after the first open's).
          for (const tab of survivors) {
            await until(tab, 'harness.got.restored.length >= 2');
            const restored = await t<{ subscriptions: number; buses: number; pullers: number; refused: number }[]>(
              tab,
              'got.restored',
            );
            // Pullers: 'work', and 'held' on the tab that took the closed follower's job, 'leader-held' on the first survivor.
            const pullers = 1 + (tab === tabs[takerIndex] ? 1 : 0) + (tab === survivors[0] ? 1 : 0);
            assert.deepEqual(restored.at(-1), { subscriptions: 2, buses: 1, pullers, refused: 0 });
          }
          // Nothing silently lost: each survivor has every number, or a gap that says what is missing.
          for (const tab of survivors) await everyNumberOnce(tab, 'stream', TOTAL);
          // Back to one connection (the old one is gone once the broker notices), and it still works.
          await eventually(() => b.broker.stats().sessions === 1, 30_000, 'one connection on the broker');
          await t(survivors[0]!, "publish('news', { n: 100 })");
          for (const tab of survivors) await until(tab, 'harness.got.sub.some((m) => m[2].n === 100)');
          await t(survivors[0]!, "send('room', 'after')");
          for (const tab of survivors.slice(1)) await until(tab, "harness.got.bus.includes('after')");
          // Pullers are back too: the closed leader's job, and new jobs, reach the surviving tabs.
          await until(survivors[0]!, "harness.got.job.includes('leader job')");
          for (let i = 0; i < survivors.length; i++) await t(survivors[0]!, `push('work', ${100 + i})`);
          const later = async (): Promise<number[]> =>
            (await Promise.all(survivors.map((tab) => t<unknown[]>(tab, 'got.job'))))
              .flat()
              .filter((n): n is number => typeof n === 'number' && n >= 100);
          await eventually(async () => (await later()).length >= survivors.length, 15_000, 'jobs after the hand-off');
          assert.deepEqual(
            (await later()).sort((x, y) => x - y),
            survivors.map((_, i) => 100 + i),
          );
          assert.equal(await t(survivors[1]!, "call('add', [1, 2])"), 3);
          console.log(`${transport}, ${election}: hand-off took ${handoffMs} ms`);
          assert.deepEqual(browser.errors, []);
        } finally {
          await context.close();
        }
      });
    }

  it('presence through a shared connection: each tab is a member of its own, and leaves when it closes', async () => {
    await using b = await startBroker({ mode: 'development' });
    const context = await browser.browser.newContext();
    try {
      const tabs: Page[] = [];
      for (let i = 0; i < 3; i++) tabs.push(await openTab(browser, context, b.url, `presence tab ${i}`));
      for (const tab of tabs) await t(tab, "start('websocket')");
      const ids: string[] = [];
      for (const [i, tab] of tabs.entries()) ids.push(await t<string>(tab, `presence('lobby', { tab: ${i} })`));
      assert.equal(new Set(ids).size, 3, 'three members, each with its own id');
      assert.equal(b.broker.stats().sessions, 1, 'on one connection');
      for (const tab of tabs) await until(tab, 'harness.members().length === 3');
      const follower = (await Promise.all(tabs.map((tab) => t<string>(tab, 'role()')))).indexOf('follower');
      await tabs[follower]!.close();
      const rest = tabs.filter((_, i) => i !== follower);
      for (const tab of rest) await until(tab, 'harness.members().length === 2');
      const left = (await t<{ tab: number }[]>(rest[0]!, 'members()')).map((m) => m.tab).sort();
      assert.deepEqual(
        left,
        [0, 1, 2].filter((i) => i !== follower),
      );
      assert.deepEqual(browser.errors, []);
    } finally {
      await context.close();
    }
  });

  it('the example app says which tab leads, and another does once it closes', async () => {
    await using b = await startBroker({ mode: 'development', playground: join(ROOT, 'playground') });
    const context = await browser.browser.newContext();
    try {
      const first = await context.newPage();
      await first.goto(`${b.url}/?transport=sse`);
      await first.locator('#state[data-state="open"]').waitFor();
      await first.locator('#share[data-role="leader"]', { hasText: 'this tab leads' }).waitFor();
      const second = await context.newPage();
      await second.goto(`${b.url}/?transport=sse`);
      await second.locator('#state[data-state="open"]').waitFor();
      await second.locator('#share[data-role="follower"]').waitFor();
      // Both tabs, with their workers, on one connection.
      assert.equal(b.broker.stats().sessions, 1);
      await first.close();
      await second.locator('#share[data-role="leader"]').waitFor({ timeout: HANDOFF_BOUND_MS });
      await second.locator('#state[data-state="open"]').waitFor();
    } finally {
      await context.close();
    }
  });

  it('tabs with credentials in different headers (long-polling sends them) do not share either', async () => {
    await using b = await startBroker({ mode: 'development', jwt: { key: SECRET } });
    const context = await browser.browser.newContext();
    try {
      const alice = await token({ sub: 'alice', rt: { subscribe: ['private/alice', 'public'], publish: ['public'] } });
      const bob = await token({ sub: 'bob', rt: { subscribe: ['public'], publish: ['public'] } });
      const as = (jwt: string): string => JSON.stringify({ headers: { authorization: `Bearer ${jwt}` } });
      const a1 = await openTab(browser, context, b.url, 'alice 1');
      const a2 = await openTab(browser, context, b.url, 'alice 2');
      const b1 = await openTab(browser, context, b.url, 'bob');
      await t(a1, `start('polling', ${as(alice)})`);
      await t(a2, `start('polling', ${as(alice)})`);
      await t(b1, `start('polling', ${as(bob)})`);
      assert.equal(await t(a2, "subscribe('private/alice').then(() => 'ok', (e) => e.code)"), 'ok');
      assert.equal(await t(b1, "subscribe('private/alice').then(() => 'ok', (e) => e.code)"), 'forbidden');
      assert.equal(b.broker.stats().sessions, 2, "alice's two tabs share one connection, bob has his own");
      await b.broker.publish('private/alice', { n: 1 });
      await until(a2, 'harness.got.sub.length >= 1');
      assert.deepEqual(await numbers(a2, 'private/alice'), [1]);
      assert.deepEqual(await numbers(b1, 'private/alice'), []);
      assert.deepEqual(browser.errors, []);
    } finally {
      await context.close();
    }
  });

  it('tabs with different tokens do not share, and one cannot read what only the other may', async () => {
    await using b = await startBroker({ mode: 'development', jwt: { key: SECRET } });
    const context = await browser.browser.newContext();
    try {
      const alice = await token({ sub: 'alice', rt: { subscribe: ['private/alice', 'public'], publish: ['public'] } });
      const bob = await token({ sub: 'bob', rt: { subscribe: ['public'], publish: ['public'] } });
      const a1 = await openTab(browser, context, b.url, 'alice 1');
      const a2 = await openTab(browser, context, b.url, 'alice 2');
      const b1 = await openTab(browser, context, b.url, 'bob');
      await t(a1, `start('sse', { auth: ${JSON.stringify(alice)} })`);
      await t(a2, `start('sse', { auth: ${JSON.stringify(alice)} })`);
      await t(b1, `start('sse', { auth: ${JSON.stringify(bob)} })`);
      assert.equal(await t(a1, "subscribe('private/alice').then(() => 'ok', (e) => e.code)"), 'ok');
      assert.equal(await t(a2, "subscribe('private/alice').then(() => 'ok', (e) => e.code)"), 'ok');
      assert.equal(await t(b1, "subscribe('private/alice').then(() => 'ok', (e) => e.code)"), 'forbidden');
      assert.equal(await t(b1, "subscribe('public').then(() => 'ok', (e) => e.code)"), 'ok');
      assert.equal(b.broker.stats().sessions, 2, "alice's two tabs share one connection, bob has his own");
      await b.broker.publish('private/alice', { n: 1 });
      await b.broker.publish('public', { n: 2 });
      await until(a1, 'harness.got.sub.length >= 1');
      await until(a2, 'harness.got.sub.length >= 1');
      await until(b1, 'harness.got.sub.length >= 1');
      assert.deepEqual(await numbers(b1, 'public'), [2]);
      assert.deepEqual(await numbers(b1, 'private/alice'), []);
      assert.deepEqual(await numbers(a2, 'private/alice'), [1]);
      assert.deepEqual(browser.errors, []);
    } finally {
      await context.close();
    }
  });
});
