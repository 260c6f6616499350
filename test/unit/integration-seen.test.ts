/**
 * What integrations send is kept in memory and saved at most every SEEN_SAVE_INTERVAL_MS, never
 * per request (issue #16, item 5): a mail server asking a thousand times makes one write.
 */
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import {
  type BadKeyCall,
  type Integration,
  type IntegrationRepository,
  Integrations,
  type IntegrationUse,
  SEEN_SAVE_INTERVAL_MS,
} from '../../src/domain/legacy/integrations.js';

function fakeRepo() {
  const calls = { seen: [] as { id: string; use: IntegrationUse }[][], bad: [] as BadKeyCall[][] };
  const i: Integration = { id: 'i1', name: 'dovecot', createdAt: 0 };
  const repo: IntegrationRepository = {
    add: async () => undefined,
    findByKeyHash: async () => undefined,
    findAmongKeyHashes: async () => undefined,
    rehash: async () => true,
    list: async () => [i],
    remove: async () => true,
    recordConfigError: async () => undefined,
    recordSeen: async (uses) => void calls.seen.push(uses),
    recordBadKeys: async (c) => void calls.bad.push(c),
    recentBadKeys: async () => [],
  };
  return { repo, calls, i };
}

describe('integrations: last seen and bad keys are saved every ~10 s, not per request', () => {
  it('a thousand requests: nothing written at once, one write of the last one after the interval', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const { repo, calls, i } = fakeRepo();
      let now = 1_000_000;
      const ints = new Integrations(repo, {} as never, {} as never, { now: () => now });
      for (let n = 0; n < 1000; n++) {
        now += 1;
        ints.noteUse(i, { endpoint: '/auth/mail', service: 'imap', peer: `192.0.2.${n % 200}`, outcome: 'answered' });
        ints.noteBadKey({ endpoint: '/auth/mail', peer: '203.0.113.9', keySent: true });
      }
      // Just short of the interval: still nothing written.
      mock.timers.tick(SEEN_SAVE_INTERVAL_MS - 1);
      await new Promise((r) => setImmediate(r));
      assert.equal(calls.seen.length, 0, 'no write on the request path');
      assert.equal(calls.bad.length, 0);
      // What the process knows is visible at once.
      assert.equal((await ints.list())[0]!.lastSeen?.peer, '192.0.2.199');
      assert.equal((await ints.recentBadKeys(50)).length, 20, 'bounded in memory');
      mock.timers.tick(1);
      await new Promise((r) => setImmediate(r));
      assert.equal(calls.seen.length, 1);
      assert.equal(calls.seen[0]!.length, 1, 'one row per integration');
      assert.equal(calls.seen[0]![0]!.use.peer, '192.0.2.199', 'the last request');
      assert.equal(calls.bad.length, 1);
      assert.equal(calls.bad[0]!.length, 20, 'bounded whatever the rate');
      // Nothing new: nothing written at the next tick.
      mock.timers.tick(SEEN_SAVE_INTERVAL_MS);
      await new Promise((r) => setImmediate(r));
      assert.equal(calls.seen.length, 1);
    } finally {
      mock.timers.reset();
    }
  });
});
