/**
 * High-entropy server-generated secrets (session tokens, one-time links) and their keyed hashes.
 * Only the HMAC-SHA-256 of a token under the server's hash key is stored, so a database dump
 * yields nothing usable and a lookup is one indexed read. After a rotation of the hash key the
 * previous keys stay configured for a while: lookups that miss try them (see findByKeyedHash).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** A URL-safe random token; 32 bytes (256 bits) unless told otherwise. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export interface KeyedHasher {
  /**
   * Hex HMAC-SHA-256 of `value` under the current key, domain-separated by `purpose` so one kind of
   * token can never stand in for another. What is stored, and the one lookup a good value costs.
   */
  digest(purpose: string, value: string): string;
  /**
   * The same under each previous key (newest first); empty when none is configured. Only a lookup
   * that missed asks for these: what was stored before a key rotation is found by them.
   */
  previousDigests(purpose: string, value: string): string[];
  /** digest() and then previousDigests(): every hash `value` may be stored under. */
  digests(purpose: string, value: string): string[];
  /** Whether previous keys are configured (a miss is then worth a second look). */
  readonly rotating: boolean;
}

/** `previous`: keys replaced by a rotation, newest first, still accepted for lookups (never for new hashes). */
export function createKeyedHasher(key: Buffer, previous: readonly Buffer[] = []): KeyedHasher {
  const mac = (k: Buffer, purpose: string, value: string) =>
    createHmac('sha256', k).update(purpose).update('\0').update(value).digest('hex');
  const old = [...previous];
  return {
    digest: (purpose, value) => mac(key, purpose, value),
    previousDigests: (purpose, value) => old.map((k) => mac(k, purpose, value)),
    digests: (purpose, value) => [mac(key, purpose, value), ...old.map((k) => mac(k, purpose, value))],
    rotating: old.length > 0,
  };
}

/** A value found by its keyed hash; `stale` when only a previous key's hash found it (then `hash` is that one). */
export interface KeyedHit<T> {
  found: T;
  /** The stored hash that matched. */
  hash: string;
  /** The hash under the current key, which a long-lived row should be moved to. */
  current: string;
  stale: boolean;
}

/**
 * Looks a value up by its keyed hash: under the current key first, and only on a miss under each
 * previous key in turn, so a hit costs one lookup whether or not a rotation is under way.
 */
export async function findByKeyedHash<T>(
  hasher: KeyedHasher,
  purpose: string,
  value: string,
  find: (hash: string) => Promise<T | undefined>,
): Promise<KeyedHit<T> | undefined> {
  const current = hasher.digest(purpose, value);
  const hit = await find(current);
  if (hit !== undefined) return { found: hit, hash: current, current, stale: false };
  if (!hasher.rotating) return undefined;
  for (const hash of hasher.previousDigests(purpose, value)) {
    const old = await find(hash);
    if (old !== undefined) return { found: old, hash, current, stale: true };
  }
  return undefined;
}

/** findByKeyedHash for a check that answers yes or no (a trusted device, a recovery code consumed). */
export async function someKeyedHash(
  hasher: KeyedHasher,
  purpose: string,
  value: string,
  test: (hash: string) => Promise<boolean>,
): Promise<boolean> {
  return (
    (await findByKeyedHash(hasher, purpose, value, async (h) => ((await test(h)) ? true : undefined))) !== undefined
  );
}

/** Compares two strings in time independent of where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  if (ab.length !== bb.length) {
    timingSafeEqual(ab, ab);
    return false;
  }
  return timingSafeEqual(ab, bb);
}
