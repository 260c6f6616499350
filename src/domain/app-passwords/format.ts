/**
 * The app-password format. 19 random letters and 1 check letter from a 23-letter alphabet of
 * lowercase letters without look-alikes (no i, l, o), shown in five groups of four:
 * `abcd efgh jkmn pqrs tuvw`. 19 × log2(23) ≈ 85.9 bits of randomness.
 *
 * The check letter makes Σ (i+1)·v(i) ≡ 0 (mod 23) over all 20 positions. Because 23 is prime and
 * every weight 1..20 is nonzero mod 23, a single mistyped letter always changes the sum (w·Δ ≢ 0);
 * because neighbouring weights differ by 1, swapping two different neighbours changes it by
 * ±(a−b) ≢ 0. So every single typo and every swap of neighbours is caught without touching the
 * store (test/unit/app-password-format.test.ts checks it over 100,000 passwords).
 */
import { randomInt } from 'node:crypto';

export const ALPHABET = 'abcdefghjkmnpqrstuvwxyz';
const P = ALPHABET.length; // 23, prime
export const RANDOM_LENGTH = 19;
export const LENGTH = RANDOM_LENGTH + 1;
const VALUE = new Map([...ALPHABET].map((c, i) => [c, i]));

/** Weighted sum mod 23 of letter values; 0 for a well-formed password. */
export function checksum(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += (i + 1) * values[i]!;
  return s % P;
}

/** Modular inverse mod 23 (Fermat: a^(p-2)). */
function inverse(a: number): number {
  let r = 1;
  let b = a % P;
  for (let e = P - 2; e > 0; e >>= 1, b = (b * b) % P) if (e & 1) r = (r * b) % P;
  return r;
}

const INV_LAST_WEIGHT = inverse(LENGTH);

/** A new app password, canonical form (20 letters, no separators). */
export function generateAppPassword(): string {
  const v = new Uint8Array(LENGTH);
  for (let i = 0; i < RANDOM_LENGTH; i++) v[i] = randomInt(P);
  const partial = checksum(v.subarray(0, RANDOM_LENGTH));
  v[RANDOM_LENGTH] = (((P - partial) % P) * INV_LAST_WEIGHT) % P;
  return [...v].map((x) => ALPHABET[x]).join('');
}

/** `abcdefgh...` -> `abcd efgh jkmn pqrs tuvw`, as shown to the user. */
export function groupAppPassword(canonical: string): string {
  return canonical.match(/.{1,4}/g)!.join(' ');
}

/**
 * Typed input -> canonical form, or undefined when it cannot be an app password (wrong length,
 * a letter outside the alphabet, or a failed check). Spaces, dashes and case are ignored.
 * Costs no store access: garbage and typos are answered without a lookup.
 */
export function normalizeAppPassword(typed: string): string | undefined {
  if (typed.length > 64) return undefined;
  // ASCII case only: String#toLowerCase would turn U+212A KELVIN SIGN into "k" (test/fuzz/parsers.test.ts).
  const s = typed.replace(/[A-Z]/g, (c) => c.toLowerCase()).replace(/[\s-]/g, '');
  if (s.length !== LENGTH) return undefined;
  const v = new Uint8Array(LENGTH);
  for (let i = 0; i < LENGTH; i++) {
    const x = VALUE.get(s[i]!);
    if (x === undefined) return undefined;
    v[i] = x;
  }
  return checksum(v) === 0 ? s : undefined;
}

/**
 * Whether typed text has the shape of an app password: 20 letters, in five groups of four as shown
 * or run together. Only the shape, not the check letter (an app password with a typo still looks
 * like one) and never the store: the sign-in page says app passwords are not for it on this alone,
 * so the hint tells nothing about the account or the app password (#17, task C).
 */
export function looksLikeAppPassword(typed: string): boolean {
  return /^[a-z]{4}(?:[ -]?[a-z]{4}){4}$/i.test(typed.trim());
}

/** Letter values of a canonical password (for tests and tools). */
export function valuesOf(canonical: string): Uint8Array {
  return Uint8Array.from([...canonical].map((c) => VALUE.get(c)!));
}
