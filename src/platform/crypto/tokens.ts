/**
 * High-entropy server-generated secrets (session tokens, one-time links) and their keyed hashes.
 * Only the HMAC-SHA-256 of a token under the server's hash key is stored, so a database dump
 * yields nothing usable and a lookup is one indexed read.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** A URL-safe random token; 32 bytes (256 bits) unless told otherwise. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export interface KeyedHasher {
  /** Hex HMAC-SHA-256 of `value`, domain-separated by `purpose` so one kind of token can never stand in for another. */
  digest(purpose: string, value: string): string;
}

export function createKeyedHasher(key: Buffer): KeyedHasher {
  return {
    digest(purpose, value) {
      return createHmac('sha256', key).update(purpose).update('\0').update(value).digest('hex');
    },
  };
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
