/**
 * What the fuzz suites (test/fuzz/*.test.ts) share: the seed, the number of cases, and the
 * generators of hostile strings.
 *
 * The seed is fixed by default, so CI runs the same cases every time and a red run can be
 * repeated. `SESAME_FUZZ_SEED=<integer>` explores other cases; `SESAME_FUZZ_RUNS=<factor>` scales
 * every property's number of cases (e.g. 20 for a long run before a release). On a failure
 * fast-check prints the seed, the path and the shrunk counterexample: rerun with
 * `SESAME_FUZZ_SEED=<seed>` to get it again, then keep it as an example test.
 */
import fc from 'fast-check';
import { ALPHABET, checksum } from '../../src/domain/app-passwords/format.js';

const DEFAULT_SEED = 7_0704_2026;
const envSeed = Number.parseInt(process.env.SESAME_FUZZ_SEED ?? '', 10);
export const SEED = Number.isSafeInteger(envSeed) ? envSeed : DEFAULT_SEED;
const envScale = Number(process.env.SESAME_FUZZ_RUNS ?? '');
const SCALE = Number.isFinite(envScale) && envScale > 0 ? envScale : 1;

/** `runs` scaled by SESAME_FUZZ_RUNS. */
export function scaled(runs: number): number {
  return Math.max(1, Math.round(runs * SCALE));
}

/** fast-check parameters for a property of `runs` cases (scaled by SESAME_FUZZ_RUNS), with the shared seed. */
export function params<T>(runs: number, extra: fc.Parameters<T> = {}): fc.Parameters<T> {
  return { seed: SEED, numRuns: scaled(runs), includeErrorInReport: true, ...extra };
}

/**
 * Single characters that parsers get wrong: C0/C1 controls, CR/LF/NUL, Unicode line and paragraph
 * separators, bidi and zero-width marks, the BOM, NBSP, letters whose case mapping leaves ASCII or
 * enters it (KELVIN SIGN lower-cases to "k", DOTTED CAPITAL I to "i̇", LONG S upper-cases to "S"),
 * full-width and Cyrillic look-alikes, and the separators the parsers split on.
 */
export const NASTY_CHARS = [
  '\u0000',
  '\u0001',
  '\t',
  '\n',
  '\u000b',
  '\u000c',
  '\r',
  '\u001b',
  '\u001f',
  '\u007f',
  '\u0080',
  '\u0085',
  '\u009f',
  '\u00a0',
  '\u00ad',
  '\u2028',
  '\u2029',
  '\u200b',
  '\u200d',
  '\u200e',
  '\u202e',
  '\u2066',
  '\ufeff',
  '\ufffd',
  '\u3000',
  '\u212a',
  '\u0130',
  '\u0131',
  '\u017f',
  '\u1e9e',
  '\uff41',
  '\uff4b',
  '\u0430',
  '\u0435',
  '\u043e',
  '\u00df',
  '\u00e9',
  'e\u0301',
  '%',
  ':',
  '@',
  '.',
  '-',
  ' ',
  '"',
  '\\',
  '/',
  '=',
  '+',
  ';',
  ',',
  '<',
  '>',
  "'",
] as const;

/** Whole strings worth trying wherever a string is read: prototype keys, encodings gone wrong, injections. */
export const NASTY_STRINGS = [
  '',
  ' ',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  '__defineGetter__',
  'null',
  'undefined',
  'true',
  'NaN',
  '[object Object]',
  '%',
  '%%',
  '%0',
  '%00',
  '%0d%0a',
  '%0A',
  '%E0%A4%A',
  '%ZZ',
  '%C0%80',
  '%ED%A0%80',
  '%F4%90%80%80',
  '%FF',
  '%u0041',
  '\u0000',
  '\r\n',
  ':',
  '::',
  '@',
  '@@',
  'a@b',
  '@contoso.test',
  'bob@',
  "' OR '1'='1",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a Log4Shell probe, a plain string on purpose.
  '${jndi:ldap://x}',
  '../../etc/passwd',
  '<script>',
  '\ud800',
  '\udfff',
  '\udbff\udfff',
  '\u212a',
  'x'.repeat(70_000),
] as const;

/** One "character" of a hostile string: any code point, a lone surrogate, printable ASCII or a nasty one. */
const nastyUnit: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...NASTY_CHARS), weight: 3 },
  { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 1 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }), weight: 3 },
  { arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), weight: 1 },
);

/** Any string a client could send in a JSON field or a decoded header: unicode, controls, lone surrogates, sometimes very long. */
export function hostileString(maxLength = 120): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.string({ unit: nastyUnit, maxLength }), weight: 8 },
    { arbitrary: fc.constantFrom(...NASTY_STRINGS), weight: 2 },
    {
      arbitrary: fc
        .string({ unit: nastyUnit, minLength: 1, maxLength: 8 })
        .chain((s) => fc.integer({ min: 100, max: 3000 }).map((n) => s.repeat(n))),
      weight: 1,
    },
  );
}

/**
 * Header values as an HTTP/1.1 server really receives them: Node's parser refuses CR, LF, NUL
 * and other controls but passes TAB, printable ASCII and bytes 0x80-0xFF (read as latin1).
 */
export function headerValue(maxLength = 200): fc.Arbitrary<string> {
  const unit = fc.oneof(
    { arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), weight: 6 },
    { arbitrary: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)), weight: 2 },
    { arbitrary: fc.constantFrom('\t', '%', ':', '%0d', '%0a', '%00', '%25', '%E2%80%A8', '%C3', '%FF'), weight: 2 },
  );
  return fc.oneof(
    { arbitrary: fc.string({ unit, maxLength }), weight: 9 },
    { arbitrary: fc.integer({ min: 1_000, max: 20_000 }).map((n) => 'A'.repeat(n)), weight: 1 },
  );
}

/** A well-formed app password (canonical form), drawn by fast-check so that a failure can be replayed. */
export const appPassword: fc.Arbitrary<string> = fc
  .array(fc.integer({ min: 0, max: ALPHABET.length - 1 }), { minLength: 19, maxLength: 19 })
  .map((v) => {
    // Exactly one check letter makes the weighted sum 0 mod 23 (format.ts): found here by trying each.
    for (let c = 0; c < ALPHABET.length; c++)
      if (checksum([...v, c]) === 0) return [...v, c].map((x) => ALPHABET[x]).join('');
    throw new Error('no check letter');
  });

/** What may stand between the letters of a typed app password: mostly nothing, sometimes a space or a dash, rarely others. */
const separator = fc.oneof(
  { arbitrary: fc.constant(''), weight: 24 },
  { arbitrary: fc.constantFrom(' ', '-'), weight: 6 },
  { arbitrary: fc.constantFrom('\t', '  ', '\u00a0', ' - ', '\u3000', '\u2028'), weight: 1 },
);

/** The ways a person may type an app password: any case, spaces, dashes, tabs or NBSP between and around letters. */
export function typedForms(canonical: string): fc.Arbitrary<string> {
  return fc
    .record({
      upper: fc.array(fc.boolean(), { minLength: canonical.length, maxLength: canonical.length }),
      seps: fc.array(separator, { minLength: canonical.length + 1, maxLength: canonical.length + 1 }),
    })
    .map(
      ({ upper, seps }) =>
        seps[0]! + [...canonical].map((c, i) => (upper[i] ? c.toUpperCase() : c) + seps[i + 1]!).join(''),
    );
}

/** Strings near those of `base`: one to three characters replaced, inserted or deleted (nasty ones, or look-alikes of the alphabet's letters). */
export function edited(base: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const edit = fc.tuple(
    fc.constantFrom('replace', 'insert', 'delete'),
    fc.nat(),
    fc.constantFrom(...NASTY_CHARS, 'K', 'i', 'l', 'o', '0', '1'),
  );
  return fc.tuple(base, fc.array(edit, { minLength: 1, maxLength: 3 })).map(([s, edits]) => {
    for (const [op, at, ch] of edits) {
      const i = at % (s.length + 1);
      if (op === 'insert') s = s.slice(0, i) + ch + s.slice(i);
      else if (op === 'replace') s = s.slice(0, i) + ch + s.slice(i + 1);
      else s = s.slice(0, i) + s.slice(i + 1);
    }
    return s;
  });
}
