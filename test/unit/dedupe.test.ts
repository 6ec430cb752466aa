/**
 * The idempotency store on its own: a resend with a seen key gets the first outcome, a failed
 * attempt is forgotten so a retry runs, and the window and size bounds hold.
 */
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { Dedupe } from '../../packages/server/src/dedupe.ts';

describe('Dedupe', () => {
  it('runs an attempt once per key and answers a resend with the first outcome', async () => {
    const dedupe = new Dedupe<number>(60_000, 100);
    let runs = 0;
    const attempt = async (): Promise<number> => ++runs;
    assert.equal(await dedupe.run('k', attempt), 1);
    assert.equal(await dedupe.run('k', attempt), 1);
    assert.equal(await dedupe.run('other', attempt), 2);
    assert.equal(runs, 2);
    assert.equal(dedupe.duplicates, 1);
  });

  it('a resend while the first attempt is still running shares its outcome', async () => {
    const dedupe = new Dedupe<string>(60_000, 100);
    let finish: (v: string) => void = () => undefined;
    let runs = 0;
    const attempt = (): Promise<string> => {
      runs++;
      return new Promise((resolve) => (finish = resolve));
    };
    const first = dedupe.run('k', attempt);
    const second = dedupe.run('k', attempt);
    finish('done');
    assert.deepEqual(await Promise.all([first, second]), ['done', 'done']);
    assert.equal(runs, 1);
  });

  it('forgets a failed attempt at once, so a retry is carried out', async () => {
    const dedupe = new Dedupe<number>(60_000, 100);
    await assert.rejects(
      dedupe.run('k', async () => {
        throw new Error('engine down');
      }),
      /engine down/,
    );
    assert.equal(await dedupe.run('k', async () => 7), 7);
    assert.equal(dedupe.duplicates, 0);
  });

  it('remembers a key for the window only', async () => {
    mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    try {
      const dedupe = new Dedupe<number>(1000, 100);
      let runs = 0;
      const attempt = async (): Promise<number> => ++runs;
      await dedupe.run('k', attempt);
      mock.timers.tick(1000);
      assert.equal(await dedupe.run('k', attempt), 1, 'still inside the window');
      mock.timers.tick(1);
      assert.equal(await dedupe.run('k', attempt), 2, 'past the window: carried out again');
    } finally {
      mock.timers.reset();
    }
  });

  it('keeps at most `max` keys, dropping the oldest first', async () => {
    const dedupe = new Dedupe<number>(60_000, 3);
    let runs = 0;
    const attempt = async (): Promise<number> => ++runs;
    for (const key of ['a', 'b', 'c', 'd']) await dedupe.run(key, attempt);
    await dedupe.run('e', attempt); // prunes down to 3 keys before adding: a, the oldest, is gone
    assert.equal(await dedupe.run('d', attempt), 4, 'a recent key is still known');
    assert.equal(await dedupe.run('a', attempt), 6, 'the oldest key was forgotten');
  });

  it('at its size bound, a failed attempt and its retry keep the order: the oldest key still goes first', async () => {
    const dedupe = new Dedupe<number>(60_000, 3);
    let runs = 0;
    const attempt = async (): Promise<number> => ++runs;
    await dedupe.run('a', attempt);
    await assert.rejects(dedupe.run('b', () => Promise.reject(new Error('engine down'))));
    await dedupe.run('c', attempt);
    await dedupe.run('b', attempt); // the retry: remembered as the newest
    await dedupe.run('d', attempt);
    assert.equal(dedupe.size, 4);
    await dedupe.run('e', attempt); // down to 3 before adding: a goes, and the failed b's old place frees nothing
    assert.equal(dedupe.size, 4);
    assert.equal(await dedupe.run('b', attempt), 3, 'the retried key is still known');
    // That run pruned again: c, the oldest left, went (the failed b's old place counted for nothing).
    assert.equal(await dedupe.run('d', attempt), 4, 'd is still known');
    assert.equal(await dedupe.run('c', attempt), 6, 'c was forgotten');
    assert.equal(await dedupe.run('a', attempt), 7, 'the oldest key was forgotten');
  });

  it('at its size bound over many keys, each new key drops the oldest (pruning walks its own queue, not the Map)', async () => {
    const dedupe = new Dedupe<number>(60_000, 1000);
    const done = Promise.resolve(0);
    for (let i = 0; i < 50_000; i++) void dedupe.run(`k${i}`, () => done);
    assert.equal(dedupe.size, 1001, 'pruned down to 1000 before each key is added');
    assert.equal(await dedupe.run('k49999', () => Promise.resolve(1)), 0, 'the newest key is known');
    assert.equal(await dedupe.run('k0', () => Promise.resolve(1)), 1, 'the oldest went');
  });
});
