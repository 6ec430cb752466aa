import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay } from '@rt/client';

describe('reconnect backoff', () => {
  it('grows exponentially from the initial delay and is capped', () => {
    const top = (n: number) => backoffDelay(n, 100, 5000, () => 1);
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 10, 100].map(top), [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  });

  it('jitters over the upper half of the window', () => {
    assert.equal(
      backoffDelay(3, 100, 5000, () => 0),
      400,
    );
    assert.equal(
      backoffDelay(3, 100, 5000, () => 0.5),
      600,
    );
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(2, 100, 5000);
      assert.ok(d >= 200 && d <= 400, String(d));
    }
  });
});
