/**
 * Hand-offs a closed tab does not show: a leader tab that is frozen while numbered messages
 * keep coming (its main thread blocked: headless Chromium ignores CDP's
 * `Page.setWebLifecycleState` frozen for a visible page, and a blocked page looks the same to
 * the others: no beat, its Web Lock held, its tasks queued until it runs again), and two
 * leaders at once (the leader cut off its group's control channel while it keeps its
 * connection). Either way another tab leads within the bound, and when the old leader runs
 * again (or hears the others again) it steps down; every tab's app, the old leader's included,
 * gets every numbered message exactly once. Without Web Locks, a frozen follower is found out
 * by the leader's roll call and its job goes to another tab.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { startBroker, type TestBroker } from '../helpers/index.ts';
import { launchChromium, type TestBrowser } from './chromium.ts';
import {
  ELECTIONS,
  type Election,
  HANDOFF_BOUND_MS,
  eventually,
  everyNumberOnce,
  oneLeader,
  openTab,
  t,
  tabsContext,
} from './tabs-helpers.ts';

const TABS = 5;
const TOTAL = 50;
/** How long the leader stays frozen: longer than the hand-off bound, so the others must take over. */
const FROZEN_MS = HANDOFF_BOUND_MS + 2000;

describe('browser: many tabs, a frozen or cut-off leader', () => {
  let browser: TestBrowser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.[Symbol.asyncDispose]();
  });

  /** Five tabs subscribed to `stream`, and which one leads. */
  async function fiveTabs(b: TestBroker, election: Election): Promise<{ tabs: Page[]; leader: Page }> {
    const context = await tabsContext(browser, election);
    const tabs: Page[] = [];
    for (let i = 0; i < TABS; i++) tabs.push(await openTab(browser, context, b.url, `tab ${i}`));
    for (const tab of tabs) await t(tab, "start('websocket')");
    await Promise.all(tabs.map((tab) => t(tab, "subscribe('stream')")));
    const roles = await Promise.all(tabs.map((tab) => t<string>(tab, 'role()')));
    assert.equal(roles.filter((r) => r === 'leader').length, 1, `one leader: ${roles.join(', ')}`);
    assert.equal(b.broker.stats().sessions, 1);
    return { tabs, leader: tabs[roles.indexOf('leader')]! };
  }

  /** Publishes the numbers `from`..`to` of `stream`, 20 ms apart. */
  async function publish(b: TestBroker, from: number, to: number): Promise<void> {
    for (let n = from; n <= to; n++) {
      await b.broker.publish('stream', { n });
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  for (const election of ELECTIONS) {
    it(`a frozen leader (${election}): another tab leads, the old one steps down when it thaws, nothing twice`, async () => {
      await using b = await startBroker({ mode: 'development' });
      const { tabs, leader } = await fiveTabs(b, election);
      const others = tabs.filter((tab) => tab !== leader);
      try {
        await publish(b, 1, 10);
        const frozenAt = Date.now();
        await leader.evaluate(`setTimeout(() => { const end = Date.now() + ${FROZEN_MS}; while (Date.now() < end); })`);
        await publish(b, 11, 20);
        const handoffMs = await oneLeader(others, frozenAt);
        await publish(b, 21, 30);
        // Thawed (it answers again): it hears a leader with a later term (and, with Web Locks, finds its lock stolen).
        await leader.evaluate('1');
        assert.ok(Date.now() - frozenAt >= FROZEN_MS, 'the others took over while it was frozen');
        await oneLeader(tabs, Date.now());
        assert.equal(await t(leader, 'role()'), 'follower');
        await publish(b, 31, TOTAL);
        for (const tab of tabs) await everyNumberOnce(tab, 'stream', TOTAL);
        await eventually(() => b.broker.stats().sessions === 1, 30_000, 'one connection on the broker');
        console.log(`frozen leader, ${election}: hand-off took ${handoffMs} ms`);
        assert.deepEqual(browser.errors, []);
      } finally {
        await leader.context().close();
      }
    });
  }

  it("a frozen follower's job goes to another tab (BroadcastChannel: it misses the leader's roll call)", async () => {
    await using b = await startBroker({ mode: 'development' });
    const { tabs, leader } = await fiveTabs(b, 'BroadcastChannel');
    const [holder, taker] = tabs.filter((tab) => tab !== leader);
    try {
      await t(holder!, "hold('held')");
      await t(holder!, "push('held', 'job')");
      await eventually(async () => (await t<unknown[]>(holder!, 'got.held')).length === 1, 10_000, 'the job held');
      await t(taker!, "pull('held')");
      await holder!.evaluate(`setTimeout(() => { const end = Date.now() + ${FROZEN_MS}; while (Date.now() < end); })`);
      await eventually(
        async () => (await t<string[]>(taker!, 'got.job')).includes('job'),
        HANDOFF_BOUND_MS,
        'the job at another tab',
      );
      // Thawed, the follower's client finds its session ended and reconnects.
      await holder!.evaluate('1');
      await oneLeader(tabs, Date.now());
      assert.deepEqual(browser.errors, []);
    } finally {
      await leader.context().close();
    }
  });

  it('two leaders at once (BroadcastChannel, the leader cut off its group): each tab follows one, then one leads; nothing lost or twice', async () => {
    await using b = await startBroker({ mode: 'development' });
    const { tabs, leader } = await fiveTabs(b, 'BroadcastChannel');
    const others = tabs.filter((tab) => tab !== leader);
    try {
      await publish(b, 1, 10);
      await leader.evaluate('window.__cut = true');
      await publish(b, 11, 20);
      // The others elect one of them; the cut-off tab still leads its own client, on its own connection.
      await oneLeader(others, Date.now());
      assert.equal(await t(leader, 'role()'), 'leader');
      assert.equal(await t(leader, 'state()'), 'open');
      await eventually(() => b.broker.stats().sessions === 2, 10_000, 'two connections, one per leader');
      await publish(b, 21, 30);
      await t(leader, "publish('stream', { n: 31 })");
      await t(others[0]!, "publish('stream', { n: 32 })");
      // Healed: the two leaders hear each other; the later one stays, the cut-off one follows it.
      await leader.evaluate('window.__cut = false');
      await oneLeader(tabs, Date.now());
      assert.equal(await t(leader, 'role()'), 'follower');
      await publish(b, 33, TOTAL);
      for (const tab of tabs) await everyNumberOnce(tab, 'stream', TOTAL);
      await eventually(() => b.broker.stats().sessions === 1, 30_000, 'one connection on the broker');
      assert.deepEqual(browser.errors, []);
    } finally {
      await leader.context().close();
    }
  });
});
