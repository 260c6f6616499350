/**
 * The country of an address where a page lists addresses (issue #20, item 3): looked up when the
 * page is shown, from the offline table (adapters/geoip), never stored with the row. The name is
 * the reader's language's (Intl.DisplayNames), the code beside it for those who search logs by it.
 * DB-IP's licence (CC BY 4.0) asks for credit wherever its data shows: `countryCredit`.
 */
import type { GeoIpCountries } from '../adapters/geoip/countries.js';
import type { Locale } from '../i18n/i18n.js';
import type { Translate } from '../i18n/i18n.js';
import { countryName } from '../i18n/country-name.js';
import { html, type Html } from './html.js';

/** What these helpers need of a page context (layout.ts imports this file, so not PageContext itself). */
interface CountryContext {
  t: Translate;
  locale: Locale;
  country?: CountryOf;
}

/** An address's country code (ISO 3166-1 alpha-2), or undefined: private, special-use, unknown, no address. */
export type CountryOf = (ip: string | null | undefined) => string | undefined;

const NONE: CountryOf = () => undefined;

/**
 * The lookup for one page. A table that cannot be read (a broken SESAME_GEOIP_COUNTRY_FILE) shows
 * no countries rather than no page: the countries are an aid, the addresses are the record.
 */
export async function countryLookup(geoip: Pick<GeoIpCountries, 'table'>): Promise<CountryOf> {
  try {
    const table = await geoip.table();
    return (ip) => (ip ? table.country(ip) : undefined);
  } catch {
    return NONE;
  }
}

/** The page context with countries: the pages that list addresses show a country beside each, and the credit. */
export async function withCountries<C extends CountryContext>(
  ctx: C,
  geoip: Pick<GeoIpCountries, 'table'>,
): Promise<C> {
  return { ...ctx, country: await countryLookup(geoip) };
}

/** "Netherlands (NL)" in the reader's language, or undefined. */
export function countryText(ctx: CountryContext, ip: string | null | undefined): string | undefined {
  const code = ctx.country?.(ip);
  return code ? `${countryName(ctx.locale, code)} (${code})` : undefined;
}

/** A table cell's content: the country, or a dash for an address no country is known for. */
export function countryCell(ctx: CountryContext, ip: string | null | undefined): Html {
  const text = countryText(ctx, ip);
  return text
    ? html`<span class="country">${text}</span>`
    : html`<span class="country none" title="${ctx.t('country.unknown')}">—</span>`;
}

/** The attribution DB-IP's licence asks for, on every page that shows its countries. */
export function countryCredit(ctx: CountryContext): Html {
  return html`<footer class="credit"><p class="hint"><a href="https://db-ip.com">${ctx.t('country.credit')}</a></p></footer>`;
}

/** An address with its country after it, where the address is shown in a line of text (sessions, locked addresses). */
export function ipAndCountry(ctx: CountryContext, ip: string): Html {
  const text = countryText(ctx, ip);
  return text ? html`${ip} · <span class="country">${text}</span>` : html`${ip}`;
}
