/**
 * Main-password hashing with Argon2id at OWASP's minimum (m=19456 KiB, t=2, p=1).
 * @node-rs/argon2's async API runs on libuv's thread pool, so the event loop is never blocked
 * (the sync API stalls it ~8-15 ms per hash here; bench/signin.ts measures the loop during a burst).
 */
import type { Algorithm } from '@node-rs/argon2';

/**
 * The native addon, loaded at the first hash: ~0.1 s of CPU that every CLI command and server
 * start would otherwise pay, though most commands hash nothing.
 */
let argon2: Promise<typeof import('@node-rs/argon2')> | undefined;
const library = () => (argon2 ??= import('@node-rs/argon2'));
const hash: typeof import('@node-rs/argon2').hash = async (...args) => (await library()).hash(...args);
const verify: typeof import('@node-rs/argon2').verify = async (...args) => (await library()).verify(...args);

export const ARGON2_PARAMS = {
  // Algorithm.Argon2id: a const enum, written as its value so that nothing loads the addon.
  algorithm: 2 as Algorithm.Argon2id,
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
} as const;

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Constant-time comparison inside argon2; false for a malformed hash. */
  verify(encoded: string, password: string): Promise<boolean>;
  /** Costs one verification, so that an unknown account takes as long as a known one. */
  burn(password: string): Promise<void>;
}

/**
 * Argon2id with ARGON2_PARAMS. `costs` lowers memory and time for tests only (test/support/hasher.ts):
 * nothing in the configuration reaches it. Verification reads the parameters from the hash itself,
 * so any Argon2id hasher verifies hashes made with other costs.
 */
export function createArgon2Hasher(costs: { memoryCost: number; timeCost: number } = ARGON2_PARAMS): PasswordHasher {
  const params = { ...ARGON2_PARAMS, memoryCost: costs.memoryCost, timeCost: costs.timeCost };
  let dummy: Promise<string> | undefined;
  return {
    hash: (password) => hash(password, params),
    async verify(encoded, password) {
      try {
        return await verify(encoded, password);
      } catch {
        return false;
      }
    },
    async burn(password) {
      dummy ??= hash('sesame-timing-equaliser', params);
      await verify(await dummy, password).catch(() => false);
    },
  };
}
