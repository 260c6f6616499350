/**
 * Which phone numbers may get codes (issue #15, item 3). A number must belong to a country the
 * organization allows, and be of a type that reaches a person at a normal price, as
 * libphonenumber-js's full ("max") metadata classifies it:
 *
 *   text message  MOBILE or FIXED_LINE_OR_MOBILE (a number that can receive texts)
 *   voice call    MOBILE, FIXED_LINE or FIXED_LINE_OR_MOBILE (a desk phone can take a call)
 *
 * Everything else is refused: PREMIUM_RATE and SHARED_COST (the caller pays the callee: toll fraud
 * and SMS pumping live there), TOLL_FREE (Sesame would pay to reach a call centre), VOIP, UAN,
 * PAGER, PERSONAL_NUMBER (forwarding services), VOICEMAIL, and numbers the metadata does not know.
 * The check runs when a method is registered and again before every code is sent, so a number
 * registered before the rule, or in a country the organization has since removed, gets nothing.
 */
import type { CountryCode } from 'libphonenumber-js/max';
import { mobileExamples, phoneNumbers } from '../../lib/phone-numbers.js';
import { SesameError } from '../errors.js';

export type PhoneChannel = 'sms' | 'voice';

const ALLOWED_TYPES: Record<PhoneChannel, ReadonlySet<string>> = {
  sms: new Set(['MOBILE', 'FIXED_LINE_OR_MOBILE']),
  voice: new Set(['MOBILE', 'FIXED_LINE', 'FIXED_LINE_OR_MOBILE']),
};

/** ISO 3166-1 alpha-2 codes the metadata knows, upper case; throws `invalid_policy` naming the first bad one. */
export function parseCountryList(raw: string | readonly string[]): string[] {
  const items = (typeof raw === 'string' ? raw.split(/[\s,;]+/) : [...raw])
    .map((c) => c.trim().toUpperCase())
    .filter(Boolean);
  for (const c of items)
    if (!/^[A-Z]{2}$/.test(c) || !phoneNumbers().isSupportedCountry(c))
      throw new SesameError('invalid_policy', `unknown country code ${JSON.stringify(c)}`, { params: { country: c } });
  return [...new Set(items)].sort();
}

/** What libphonenumber-js says of a number: its country and type, or undefined for an invalid one. */
export function classifyPhone(e164: string): { country: string; type: string } | undefined {
  const p = phoneNumbers().parsePhoneNumberFromString(e164);
  if (!p?.isValid() || !p.country) return undefined;
  return { country: p.country, type: p.getType() ?? 'UNKNOWN' };
}

/**
 * Throws `phone_not_allowed` unless `e164` may get `channel` codes under `allowedCountries`
 * (upper-case ISO codes). The detail names country and type for the log, never the number.
 */
export function checkPhone(channel: PhoneChannel, e164: string, allowedCountries: readonly string[]): void {
  const c = classifyPhone(e164);
  if (!c) throw new SesameError('invalid_phone', 'not a valid phone number for its country code');
  if (!allowedCountries.includes(c.country))
    throw new SesameError('phone_country_not_allowed', `${channel} to a ${c.country} number: country not allowed`, {
      params: { country: c.country as CountryCode },
    });
  if (!ALLOWED_TYPES[channel].has(c.type))
    throw new SesameError('phone_type_not_allowed', `${channel} to a ${c.country} ${c.type} number: type refused`);
}

/**
 * A phone number as someone types it, in E.164 (issue #17, task A4). The international form
 * ("+31 6 12345678", "0031 6 12345678") is read as such. The national form ("06 12345678",
 * "06-12345678") is read as a number of the organization's default country, as people write their
 * own numbers; without one it is refused with `phone_country_code_required`, since guessing a country
 * would send codes to a stranger's phone. Whether the number may get codes is checkPhone()'s to say.
 */
export function parsePhoneInput(typed: string, defaultCountry: string | null): string {
  const compact = typed.replace(/[\s\-.()/]/g, '');
  if (compact.length > 30) throw new SesameError('invalid_phone', 'phone number longer than 30 characters');
  const international = compact.startsWith('+') || compact.startsWith('00');
  if (international) {
    const e164 = `+${compact.replace(/^(\+|00)/, '')}`;
    // What the metadata cannot read (a new range, a test number) is still passed on in E.164 form,
    // for checkPhone() to refuse with its reason, as before national numbers were read.
    const p = phoneNumbers().parsePhoneNumberFromString(typed.trim().replace(/^00/, '+'));
    if (p?.isValid()) return p.number;
    if (/^\+[1-9]\d{7,14}$/.test(e164)) return e164;
    throw new SesameError('invalid_phone', 'not a phone number in international form');
  }
  if (!/^\d+$/.test(compact)) throw new SesameError('invalid_phone', 'a phone number holds digits only');
  if (!defaultCountry || !phoneNumbers().isSupportedCountry(defaultCountry))
    throw new SesameError('phone_country_code_required', 'national number without a default country');
  const p = phoneNumbers().parsePhoneNumberFromString(compact, defaultCountry as CountryCode);
  if (!p?.isValid()) throw new SesameError('invalid_phone', `not a valid ${defaultCountry} number`);
  return p.number;
}

/**
 * An example mobile number for the hint under a phone field: in the default country's national
 * form when the organization has one (what its people will type), else in international form
 * (of `fallbackCountry`'s numbering plan, the country code being what matters).
 */
export function phoneExample(defaultCountry: string | null, fallbackCountry = 'NL'): string {
  const country = (
    defaultCountry && phoneNumbers().isSupportedCountry(defaultCountry) ? defaultCountry : fallbackCountry
  ) as CountryCode;
  const example = phoneNumbers().getExampleNumber(country, mobileExamples());
  if (!example) return '+31 6 12345678';
  return defaultCountry ? example.formatNational() : example.formatInternational();
}
