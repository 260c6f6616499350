/**
 * Short-lived numeric codes (text, voice, email) and recovery codes, all from the CSPRNG.
 * Recovery codes have 79 bits: 16 characters of a 31-letter alphabet without look-alikes,
 * shown as four groups of four.
 */
import { randomInt } from 'node:crypto';

export function numericCode(digits = 6): string {
  let s = '';
  for (let i = 0; i < digits; i++) s += String(randomInt(10));
  return s;
}

const RC_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789'; // no i, l, o, 0, 1
const RC_LEN = 16;

export function recoveryCode(): string {
  let s = '';
  for (let i = 0; i < RC_LEN; i++) s += RC_ALPHABET[randomInt(RC_ALPHABET.length)];
  return s.match(/.{4}/g)!.join('-');
}

/** Accepts a recovery code typed with or without dashes or spaces, in any case. */
export function normalizeRecoveryCode(typed: string): string | undefined {
  const s = typed.toLowerCase().replace(/[\s-]/g, '');
  if (s.length !== RC_LEN || [...s].some((c) => !RC_ALPHABET.includes(c))) return undefined;
  return s.match(/.{4}/g)!.join('-');
}
