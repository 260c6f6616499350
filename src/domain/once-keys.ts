/**
 * One-time keys for operations that make something from a form (its nonce): the first request with
 * a key claims it and goes on; a repeat (a double click, a reload that re-posts, two requests at
 * once) finds it claimed and makes nothing more. Claims are rows of the one-time token store (its
 * primary key decides between two requests at once, on every instance), under a keyed hash of the
 * user, the operation and the key, kept for a day.
 */
import type { KeyedHasher } from '../lib/crypto/tokens.js';
import type { OneTimeTokenRepository } from './accounts/repository.js';
import type { Clock } from './clock.js';
import { SesameError } from './errors.js';

const PURPOSE = 'once_key';
const KEEP_MS = 86_400_000;
/** A form nonce: 22 to 64 URL-safe characters (at least 128 random bits). */
const KEY = /^[A-Za-z0-9_-]{22,64}$/;

export class OnceKeys {
  constructor(
    private readonly tokens: Pick<OneTimeTokenRepository, 'create' | 'peek'>,
    private readonly hasher: KeyedHasher,
    private readonly clock: Clock,
  ) {}

  /** True for the first claim of `key` for this user and operation; false for every repeat. */
  async claim(userId: string, operation: string, key: string): Promise<boolean> {
    if (!KEY.test(key)) throw new SesameError('invalid_input', `${operation}: form without a valid nonce`);
    const tokenHash = this.hasher.digest(PURPOSE, `${operation}\0${userId}\0${key}`);
    try {
      await this.tokens.create({ tokenHash, purpose: PURPOSE, userId, expiresAt: this.clock.now() + KEEP_MS });
      return true;
    } catch (e) {
      // Claimed already (here or by a request at the same moment); anything else is a real failure.
      if ((await this.tokens.peek(tokenHash, PURPOSE, this.clock.now())) === userId) return false;
      throw e;
    }
  }
}
