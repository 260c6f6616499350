/**
 * The cheap Argon2id the tests use (test/support/hasher.ts) is the production code with smaller
 * costs: it really refuses a wrong password, its hashes say their own parameters, and the production
 * hasher verifies them (and the other way round), so a store filled by a test context signs in on a
 * real server. (test/security/passwords.test.ts pins the production costs.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ARGON2_PARAMS, createArgon2Hasher } from '../../src/lib/crypto/password-hasher.js';
import { TEST_ARGON2_COSTS, testPasswordHasher } from '../support/hasher.js';

const params = (encoded: string) => /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(encoded)?.slice(1).map(Number);

describe('the test password hasher', () => {
  const cheap = testPasswordHasher();
  const production = createArgon2Hasher();

  it('is Argon2id with the test costs, and refuses a wrong password', async () => {
    const h = await cheap.hash('harbour-lantern-violet-42');
    assert.deepEqual(params(h), [TEST_ARGON2_COSTS.memoryCost, TEST_ARGON2_COSTS.timeCost, 1]);
    assert.equal(await cheap.verify(h, 'harbour-lantern-violet-42'), true);
    assert.equal(await cheap.verify(h, 'harbour-lantern-violet-43'), false);
    assert.equal(await cheap.verify('not-a-hash', 'harbour-lantern-violet-42'), false);
    await cheap.burn('anything');
  });

  it('makes hashes the production hasher verifies, and verifies production hashes', async () => {
    const fromTest = await cheap.hash('meadow-copper-quiet-77');
    assert.equal(await production.verify(fromTest, 'meadow-copper-quiet-77'), true);
    assert.equal(await production.verify(fromTest, 'meadow-copper-quiet-78'), false);
    const fromProduction = await production.hash('meadow-copper-quiet-77');
    assert.deepEqual(params(fromProduction), [
      ARGON2_PARAMS.memoryCost,
      ARGON2_PARAMS.timeCost,
      ARGON2_PARAMS.parallelism,
    ]);
    assert.equal(await cheap.verify(fromProduction, 'meadow-copper-quiet-77'), true);
    assert.equal(await cheap.verify(fromProduction, 'meadow-copper-quiet-78'), false);
  });
});
