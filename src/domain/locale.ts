/**
 * The languages Sesame speaks. The domain only carries a user's choice along to what it sends
 * (codes, notices, reset links); the message catalogues are in i18n/, which re-exports these.
 */
export const LOCALES = ['en', 'nl'] as const;
export type Locale = (typeof LOCALES)[number];

export function isLocale(v: unknown): v is Locale {
  return typeof v === 'string' && (LOCALES as readonly string[]).includes(v);
}
