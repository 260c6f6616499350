/**
 * The organization's time zone: an IANA name the runtime's ICU knows ("Europe/Amsterdam"),
 * kept in its canonical spelling so "europe/amsterdam" and "Europe/Amsterdam" are one setting.
 */
import { SesameError } from './errors.js';

/** The canonical name of `raw`; throws `invalid_policy` for a name ICU does not know. */
export function parseTimeZone(raw: string): string {
  const name = raw.trim();
  try {
    if (!/^[A-Za-z0-9_+\-/]{1,64}$/.test(name)) throw new RangeError();
    return new Intl.DateTimeFormat('en', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    throw new SesameError('invalid_policy', `unknown time zone ${JSON.stringify(name.slice(0, 64))}`, {
      params: { zone: name.slice(0, 64) },
    });
  }
}
