/**
 * Checklist 11 (counters are atomic; a burst cannot outrun the lock), the narrow case: an attempt
 * passes the lock check, then another attempt reaches the limit, locks the key and clears its
 * counter, and only then does the first attempt take its point (seeing a fresh count of 1). The
 * first attempt must still be refused: the throttle looks at the locks again after taking.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createContext, type AppContext } from '../../src/app/context.js';
import { Throttle, type CounterStore } from '../../src/domain/throttling/throttle.js';
import { createCounterStore } from '../../src/storage/throttle-store.js';
import { makeTestStore, type TestStore } from '../support/stores.js';
import { testContextOptions } from '../support/hasher.js';

describe('browser throttle: a lock set between the check and the take', () => {
  let store: TestStore;
  let ctx: AppContext;
  before(async () => {
    store = await makeTestStore('sqlite');
    ctx = await createContext(store.config(), testContextOptions());
  });
  after(async () => {
    await ctx.close();
    await store.dispose();
  });

  it('refuses the attempt and gives its point back', async () => {
    const real = createCounterStore(ctx.store);
    let interleave = true;
    // The real store, with another attempt's "limit reached: lock and clear" slipped in just before this take.
    const racing: CounterStore = {
      ...real,
      take: async (key, windowSeconds) => {
        if (interleave) {
          interleave = false;
          await real.lock(key, () => 60);
          await real.clear(key, windowSeconds);
        }
        return real.take(key, windowSeconds);
      },
    };
    const throttle = new Throttle(
      racing,
      { lockBaseSeconds: 60, lockMaxSeconds: 3600 },
      { publish: async () => undefined },
    );
    const key = { key: 'race:acct', rule: { limit: 10, windowSeconds: 600 }, clearOnSuccess: true };
    const gate = await throttle.begin([key]);
    assert.equal(gate.allowed, false, 'the password must not be checked while the account is locked');
    assert.ok(!gate.allowed && gate.retryAfterSeconds > 55 && gate.retryAfterSeconds <= 60);
    // Its point was given back: the count is as the other attempt left it (cleared).
    assert.equal(await real.take(key.key, key.rule.windowSeconds), 1);
  });
});
