/**
 * Form nonces: a form that makes something carries a one-time nonce, so that the same form posted
 * twice (a double click, a reload that re-posts, two requests at once) makes it once. Two ways:
 * the made thing's id is derived from the nonce (idFromFormNonce: app passwords, OIDC clients),
 * or the nonce is claimed (OnceKeys: new recovery codes, which have no id of their own).
 *
 * OnceKeys, one-time keys for operations that make something from a form: the first request with
 * a key claims it and goes on; a repeat (a double click, a reload that re-posts, two requests at
 * once) finds it claimed and makes nothing more. Claims are rows of the one-time token store (its
 * primary key decides between two requests at once, on every instance), under a keyed hash of the
 * user, the operation and the key, kept for a day.
 */
import type { KeyedHasher } from '../lib/crypto/tokens.js';
import type { OneTimeTokenRepository } from './accounts/repository.js';
import type { Clock } from './clock.js';
import { createHash } from 'node:crypto';
import { SesameError } from './errors.js';

const PURPOSE = 'once_key';
const KEEP_MS = 86_400_000;
/** A form nonce: 22 to 64 URL-safe characters (at least 128 random bits). */
const FORM_NONCE = /^[A-Za-z0-9_-]{22,64}$/;

/** The nonce, or `invalid_input` naming the form (`what`) when it is not one. */
export function requireFormNonce(nonce: string, what: string): string {
  if (!FORM_NONCE.test(nonce)) throw new SesameError('invalid_input', `${what}: form without a valid nonce`);
  return nonce;
}

/**
 * The id of what a form with this nonce makes, shaped as a version-4 UUID like the random ids: the
 * same for a repeat of that form (`purpose`, within `scope`: a user, an organization), another for
 * every other form.
 */
export function idFromFormNonce(purpose: string, scope: string, nonce: string): string {
  const h = createHash('sha256')
    .update(`${purpose}\0${scope}\0${requireFormNonce(nonce, purpose)}`)
    .digest('hex');
  const variant = ((Number.parseInt(h[16]!, 16) & 3) | 8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export class OnceKeys {
  constructor(
    private readonly tokens: Pick<OneTimeTokenRepository, 'create' | 'peek'>,
    private readonly hasher: KeyedHasher,
    private readonly clock: Clock,
  ) {}

  /** True for the first claim of `key` for this user and operation; false for every repeat. */
  async claim(userId: string, operation: string, key: string): Promise<boolean> {
    const tokenHash = this.hasher.digest(PURPOSE, `${operation}\0${userId}\0${requireFormNonce(key, operation)}`);
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
