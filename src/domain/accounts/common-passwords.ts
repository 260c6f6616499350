/**
 * Loads the shipped lists of common passwords: English (resources/common-passwords.txt) and Dutch
 * (resources/common-passwords-nl.txt), each with its SOURCE.md stating where it came from.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const resource = (name: string) => fileURLToPath(new URL(`../../../../resources/${name}`, import.meta.url));
/** The English list (zxcvbn's password frequency list). */
export const COMMON_PASSWORDS_EN = resource('common-passwords.txt');
/** The Dutch list (zxcvbn-ts's common Dutch words): Sesame's users write Dutch as well as English. */
export const COMMON_PASSWORDS_NL = resource('common-passwords-nl.txt');
const SHIPPED = [COMMON_PASSWORDS_EN, COMMON_PASSWORDS_NL];

let cached: ReadonlySet<string> | undefined;

/** The union of the given lists (by default both shipped ones), one entry a line. */
export function loadCommonPasswords(files: string | string[] = SHIPPED): ReadonlySet<string> {
  const shipped = files === SHIPPED;
  if (shipped && cached) return cached;
  const set = new Set<string>();
  for (const file of typeof files === 'string' ? [files] : files)
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const w = line.trim();
      if (w) set.add(w);
    }
  if (shipped) cached = set;
  return set;
}
