/** The page frame: header with the language switch and navigation, one main region, no inline script or style. */
import type { User } from '../domain/accounts/model.js';
import type { MessageId } from '../i18n/en.js';
import type { TimeFormat } from '../i18n/format.js';
import type { Locale, Translate } from '../i18n/i18n.js';
import { Html, html } from './html.js';
import { labelTableCells } from './stacked-tables.js';
import { type CountryOf, countryCredit } from './countries.js';

export interface PageContext {
  t: Translate;
  locale: Locale;
  csrf: string;
  /** Path of this page, for the language switch to come back to. */
  path: string;
  user?: User;
  /** Dates and times in the reader's language and their organization's time zone. */
  time: TimeFormat;
  /**
   * The country of an address, on the pages that list addresses (set by `withCountries`,
   * web/countries.ts); such a page also carries DB-IP's credit beneath it.
   */
  country?: CountryOf;
}

/** A page's optional notice (a done action) or error (a refused one). */
export type Notice = { notice?: string; error?: string };

/** The id of the page's error message (`opts.error` below), for the fields it is about to point at. */
export const ERROR_ID = 'page-error';

/**
 * `aria-describedby` for a form field: the page's error when there is one (so a screen reader
 * reads the error again on the field it concerns, not only once when the page loads), then the
 * field's own hints. Empty when there is nothing to point at.
 */
export function describedBy(error: string | undefined, ...hintIds: string[]): Html | '' {
  const ids = [...(error ? [ERROR_ID] : []), ...hintIds];
  return ids.length ? html`aria-describedby="${ids.join(' ')}"` : '';
}

const ADMIN_NAV: [string, MessageId][] = [
  ['/admin/users', 'nav.users'],
  ['/admin/groups', 'groups.nav'],
  ['/admin/locations', 'locations.nav'],
  ['/admin/policy', 'nav.policy'],
  ['/admin/mail-settings', 'nav.mail_settings'],
  ['/admin/sign-ins', 'nav.signins'],
  ['/admin/apps', 'nav.apps'],
  ['/admin/integrations', 'nav.integrations'],
  ['/admin/dashboard', 'nav.dashboard'],
];

/** A navigation link, marked as the current page on that page and on the pages beneath it. */
function navLink(ctx: PageContext, href: string, id: MessageId): Html {
  const here = ctx.path.split(/[?#]/)[0] ?? '';
  const current = here === href || here.startsWith(`${href}/`);
  return html`<a href="${href}"${current ? html` aria-current="page"` : ''}>${ctx.t(id)}</a>`;
}

export function layout(
  ctx: PageContext,
  title: string,
  body: Html,
  opts: { notice?: string; error?: string; head?: Html } = {},
): Html {
  const { t, user } = ctx;
  return html`<!doctype html>
<html lang="${ctx.locale}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ${t('app.name')}</title>
<link rel="stylesheet" href="/static/sesame.css">
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
${opts.head ?? ''}
</head>
<body>
<a class="skip" href="#main">${t('nav.skip')}</a>
<header class="top">
  <a class="brand" href="${user ? '/account' : '/signin'}">${t('app.name')}</a>
  ${
    user
      ? html`<nav aria-label="${t('nav.account')}">
    ${navLink(ctx, '/account', 'nav.account')}
    ${navLink(ctx, '/security-info', 'nav.security')}
    ${user.role === 'admin' ? ADMIN_NAV.map(([href, id]) => navLink(ctx, href, id)) : ''}
    <form method="post" action="/signout" class="inline"><input type="hidden" name="_csrf" value="${ctx.csrf}"><button type="submit" class="link">${t('nav.signout')}</button></form>
  </nav>`
      : ''
  }
  <form method="post" action="/lang" class="inline lang">
    <input type="hidden" name="_csrf" value="${ctx.csrf}">
    <input type="hidden" name="back" value="${ctx.path}">
    <span>${t('lang.switch')}:</span>
    <button type="submit" name="lang" value="en" class="link" ${ctx.locale === 'en' ? html`aria-current="true"` : ''} lang="en">English</button>
    <button type="submit" name="lang" value="nl" class="link" ${ctx.locale === 'nl' ? html`aria-current="true"` : ''} lang="nl">Nederlands</button>
  </form>
</header>
<main id="main" tabindex="-1">
<h1>${title}</h1>
${opts.notice ? html`<p class="notice" role="status">${opts.notice}</p>` : ''}
${opts.error ? html`<p class="error" role="alert" id="${ERROR_ID}">${opts.error}</p>` : ''}
${new Html(labelTableCells(body.value))}
</main>
${ctx.country ? countryCredit(ctx) : ''}
</body>
</html>`;
}

/** A page with only a sentence: a notice or an error; `wayOn` is a link onwards where the sentence would be a dead end. */
export function messagePage(
  ctx: PageContext,
  titleId: MessageId,
  body: string,
  status: 'notice' | 'error' = 'notice',
  wayOn?: { href: string; label: string },
): Html {
  return layout(
    ctx,
    ctx.t(titleId),
    html`<p class="${status}">${body}</p>${wayOn ? html`<p><a class="button" id="way-on" href="${wayOn.href}">${wayOn.label}</a></p>` : ''}`,
  );
}

/** Previous/next links of a paged list. */
export function pager(
  ctx: PageContext,
  base: string,
  params: Record<string, string>,
  offset: number,
  limit: number,
  total: number,
): Html {
  const link = (o: number) => `${base}?${new URLSearchParams({ ...params, offset: String(o) }).toString()}`;
  return html`<nav class="pager">
  ${offset > 0 ? html`<a href="${link(Math.max(0, offset - limit))}">${ctx.t('pager.previous')}</a>` : ''}
  ${offset + limit < total ? html`<a href="${link(offset + limit)}">${ctx.t('pager.next')}</a>` : ''}
</nav>`;
}
