/**
 * The password hasher in-process test contexts use unless a test asks for another: the same
 * Argon2id and the same code (createArgon2Hasher) with tiny costs, so a hash takes well under a
 * millisecond instead of tens. It still really hashes and verifies: a wrong password is refused,
 * and the hashes it makes carry their own parameters ($argon2id$v=19$m=64,t=1,p=1$...), so the
 * production hasher verifies them too (test/unit/password-hasher.test.ts proves both).
 *
 * Tests whose subject is the hash cost or timing keep the production hasher explicitly
 * (`{ passwordHasher: createArgon2Hasher() }`): test/security/enumeration.test.ts,
 * test/security/passwords.test.ts, the probes (their servers are child processes and their setup
 * contexts in test/support/probes.ts are left on the default), and the benchmarks.
 */
import type { ContextOptions } from '../../src/app/context.js';
import { createArgon2Hasher, type PasswordHasher } from '../../src/lib/crypto/password-hasher.js';

/** Argon2's smallest sensible costs: 64 KiB of memory, one pass. */
export const TEST_ARGON2_COSTS = { memoryCost: 64, timeCost: 1 } as const;

export function testPasswordHasher(): PasswordHasher {
  return createArgon2Hasher(TEST_ARGON2_COSTS);
}

/** `opts` with the cheap test hasher unless `opts` names a hasher of its own. */
export function testContextOptions(opts: ContextOptions = {}): ContextOptions {
  return { passwordHasher: testPasswordHasher(), ...opts };
}
