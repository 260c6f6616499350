/** The choices of the policy's regional settings: time zones and countries, named in the reader's language. */
import { phoneNumbers } from '../lib/phone-numbers.js';
import type { Locale } from '../i18n/i18n.js';

let zones: string[] | undefined;

/** IANA time zones this runtime knows, sorted; computed once. */
export function timeZones(): string[] {
  zones ??= [...Intl.supportedValuesOf('timeZone')].sort();
  return zones;
}

const countries = new Map<Locale, [string, string][]>();

/** [ISO code, name] of every country with phone numbering, sorted by name in `locale`. */
export function countryOptions(locale: Locale): [string, string][] {
  let list = countries.get(locale);
  if (!list) {
    const names = new Intl.DisplayNames([locale], { type: 'region' });
    const collator = new Intl.Collator(locale);
    list = phoneNumbers()
      .getCountries()
      .map((c): [string, string] => [c, names.of(c) ?? c])
      .sort((a, b) => collator.compare(a[1], b[1]));
    countries.set(locale, list);
  }
  return list;
}

const regionNames = new Map<Locale, Intl.DisplayNames>();

/** The name of the country with ISO code `code` in `locale` (Intl's), or the code itself when Intl has none. */
export function countryName(locale: Locale, code: string): string {
  let names = regionNames.get(locale);
  if (!names) {
    names = new Intl.DisplayNames([locale], { type: 'region', fallback: 'code' });
    regionNames.set(locale, names);
  }
  try {
    return names.of(code) ?? code;
  } catch {
    // A code Intl refuses as malformed; stored codes are checked, so this is only a guard.
    return code;
  }
}
