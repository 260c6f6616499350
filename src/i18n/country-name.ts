/** A country's name in the reader's language, from the runtime's own data (Intl.DisplayNames): no list to keep. */
import type { Locale } from '../domain/locale.js';

const names = new Map<string, Intl.DisplayNames>();

/** "Netherlands" (en), "Nederland" (nl) for `NL`; the code itself when the runtime knows no name for it. */
export function countryName(locale: Locale, code: string): string {
  let n = names.get(locale);
  if (!n) {
    n = new Intl.DisplayNames([locale], { type: 'region', fallback: 'code' });
    names.set(locale, n);
  }
  try {
    return n.of(code) ?? code;
  } catch {
    return code;
  }
}
