/** Loads the shipped list of common passwords (resources/common-passwords.txt, see its SOURCE.md). */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const FILE = fileURLToPath(new URL('../../../../resources/common-passwords.txt', import.meta.url));

let cached: ReadonlySet<string> | undefined;

export function loadCommonPasswords(file = FILE): ReadonlySet<string> {
  if (file === FILE && cached) return cached;
  const set = new Set(
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean),
  );
  if (file === FILE) cached = set;
  return set;
}
