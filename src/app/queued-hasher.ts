/**
 * The password hasher every service gets: the Argon2id hasher behind one bounded queue
 * (issue #15, item 3). Here rather than in lib/ because it speaks the domain's error (`busy`).
 */
import { availableParallelism } from 'node:os';
import { SesameError } from '../domain/errors.js';
import type { PasswordHasher } from '../lib/crypto/password-hasher.js';
import { QueueBusyError, WorkQueue } from '../lib/work-queue.js';

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
 *
 * Making a hash of a new password (`hash()`: adding users, setting, changing or resetting a
 * password) waits its turn however long it takes instead of being refused: those paths are behind
 * an operator, an admin, a session or a one-time token, not open to strangers, and an operator's
 * `sesame user add` in a loop must not fail because sign-ins are busy. They still take a slot, so
 * the checks strangers can trigger (`verify`, `burn`) never get more than the concurrency.
 */
export function queuedHasher(
  inner: PasswordHasher,
  settings: HasherQueueSettings,
): PasswordHasher & { readonly queue: WorkQueue } {
  const queue = new WorkQueue({
    concurrency: settings.concurrency || availableParallelism(),
    maxWaitMs: settings.maxWaitMs,
  });
  const run = async <T>(job: () => Promise<T>, patient = false): Promise<T> => {
    try {
      return await queue.run(job, { patient });
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
    hash: (password) => run(() => inner.hash(password), true),
    verify: (encoded, password) => run(() => inner.verify(encoded, password)),
    burn: (password) => run(() => inner.burn(password)),
  };
}
