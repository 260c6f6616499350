/**
 * Main-password hashing with Argon2id at OWASP's minimum (m=19456 KiB, t=2, p=1).
 * @node-rs/argon2's async API runs on libuv's thread pool, so the event loop is never blocked
 * (the sync API stalls it ~8-15 ms per hash here; bench/signin.ts measures the loop during a burst).
 */
import { availableParallelism } from 'node:os';
import { Algorithm, hash, verify } from '@node-rs/argon2';
import { SesameError } from '../../domain/errors.js';
import { QueueBusyError, WorkQueue } from '../work-queue.js';

export const ARGON2_PARAMS = {
  algorithm: Algorithm.Argon2id,
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

export interface HasherQueueSettings {
  /** Hashes at once; 0: the number of cores. */
  concurrency: number;
  /** Longest a hash may wait for its turn before the request is refused as `busy`. */
  maxWaitMs: number;
}

/**
 * `inner` behind a WorkQueue: at most `concurrency` hashes run at once, and one that would wait
 * longer than `maxWaitMs` is refused at once with SesameError('busy') (503 with Retry-After on the
 * web and API, a temporary failure on the mail endpoints). Every operation goes through it,
 * `burn()` too: the dummy hash for an unknown account must cost, and queue, exactly like a real one.
 */
export function queuedHasher(
  inner: PasswordHasher,
  settings: HasherQueueSettings,
): PasswordHasher & { readonly queue: WorkQueue } {
  const queue = new WorkQueue({
    concurrency: settings.concurrency || availableParallelism(),
    maxWaitMs: settings.maxWaitMs,
  });
  const run = async <T>(job: () => Promise<T>): Promise<T> => {
    try {
      return await queue.run(job);
    } catch (e) {
      if (e instanceof QueueBusyError)
        throw new SesameError('busy', `password hashing queue full (${JSON.stringify(queue.load)})`, {
          retryAfterSeconds: Math.min(30, Math.max(1, Math.ceil(e.retryAfterMs / 1000))),
        });
      throw e;
    }
  };
  return {
    queue,
    hash: (password) => run(() => inner.hash(password)),
    verify: (encoded, password) => run(() => inner.verify(encoded, password)),
    burn: (password) => run(() => inner.burn(password)),
  };
}
