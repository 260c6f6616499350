/**
 * The admin dashboard page and the sign-in log's filter form. Plain data in, Html out: charts
 * from charts.ts, each followed by its numbers in a table (inside <details>, open without script).
 */
import type { Dashboard, SignInFilter } from '../../domain/audit/reports.js';
import { SIGN_IN_OUTCOMES, SIGN_IN_PROTOCOLS, filterParams } from '../../domain/audit/reports.js';
import { instantToLocal } from '../../domain/time-zone.js';
import { protocolName } from '../../web/components.js';
import { type BarChart, chartTable, stackedBarChart } from './charts.js';
import { html, type Html } from '../../web/html.js';
import type { MessageId } from '../../i18n/en.js';
import { hasMessage } from '../../i18n/i18n.js';
import { countryName } from '../../i18n/country-name.js';
import { layout, type PageContext } from '../../web/layout.js';

/** The dashboard's charts, as data: the page draws them, and the tests check them. */
export function dashboardCharts(
  ctx: PageContext,
  d: Dashboard,
): {
  hourly: BarChart;
  legacy: BarChart;
  countries: BarChart;
  locked: BarChart;
  mfa: BarChart;
  appPasswords: BarChart;
} {
  const { t } = ctx;
  const outcomes = (rows: Record<(typeof SIGN_IN_OUTCOMES)[number], number>[]) =>
    SIGN_IN_OUTCOMES.map((o) => ({ key: o, label: t(`outcome.${o}`), values: rows.map((r) => r[o]) }));
  const sum = (o: (typeof SIGN_IN_OUTCOMES)[number]) => d.hourly.reduce((n, h) => n + h[o], 0);
  const legacyTotal = d.legacy.reduce((n, r) => n + r.success + r.failure + r.throttled, 0);
  const lockedTotal = d.locked.reduce((n, r) => n + r.count, 0);
  const countries = shownCountries(d.legacyByCountry);
  const mfaTotal = d.mfa.disabled + d.mfa.enabled + d.mfa.enforced;
  const days = d.appPasswords.unusedDays;
  return {
    hourly: {
      id: 'chart-hourly',
      title: t('dashboard.hourly.title'),
      desc: t('dashboard.hourly.desc', {
        total: sum('success') + sum('failure') + sum('throttled'),
        success: sum('success'),
        failure: sum('failure'),
        throttled: sum('throttled'),
      }),
      // Hours of the organization's clock, as every time on the pages.
      categories: d.hourly.map((h) => ctx.time.clock(h.hour)),
      series: outcomes(d.hourly),
      labelEvery: 3,
    },
    legacy: {
      id: 'chart-legacy',
      title: t('dashboard.legacy.title'),
      desc: legacyTotal
        ? t('dashboard.legacy.desc', { total: legacyTotal, protocols: d.legacy.length })
        : t('dashboard.legacy.none'),
      categories: d.legacy.map((r) => r.protocol.toUpperCase()),
      series: outcomes(d.legacy),
    },
    countries: {
      id: 'chart-countries',
      title: t('dashboard.countries.title'),
      desc: legacyTotal
        ? t('dashboard.countries.desc', {
            total: legacyTotal,
            countries: d.legacyByCountry.filter((r) => r.country !== null).length,
          })
        : t('dashboard.countries.none'),
      categories: countries.map((r) =>
        r.country === null
          ? t('dashboard.countries.unknown')
          : r.country === OTHER
            ? t('dashboard.countries.other')
            : `${countryName(ctx.locale, r.country)} (${r.country})`,
      ),
      series: outcomes(countries),
    },
    locked: {
      id: 'chart-locked',
      title: t('dashboard.locked.title'),
      desc: lockedTotal
        ? t('dashboard.locked.desc', { total: lockedTotal, accounts: d.lockedAccounts })
        : t('dashboard.locked.none'),
      categories: d.locked.map((r) =>
        hasMessage(`reason.${r.reason}`) ? t(`reason.${r.reason}` as MessageId) : r.reason,
      ),
      series: [{ key: 'throttled', label: t('dashboard.attempts'), values: d.locked.map((r) => r.count) }],
    },
    mfa: {
      id: 'chart-mfa',
      title: t('dashboard.mfa.title'),
      desc: t('dashboard.mfa.desc', { total: mfaTotal, ...d.mfa }),
      categories: (['disabled', 'enabled', 'enforced'] as const).map((s) => t(`mfa.state.${s}`)),
      series: [{ key: 'count', label: t('dashboard.users'), values: [d.mfa.disabled, d.mfa.enabled, d.mfa.enforced] }],
    },
    appPasswords: {
      id: 'chart-app-passwords',
      title: t('dashboard.ap.title', { days }),
      desc: t('dashboard.ap.desc', { unused: d.appPasswords.unused, total: d.appPasswords.total, days }),
      categories: [t('dashboard.ap.used'), t('dashboard.ap.unused', { days })],
      series: [
        {
          key: 'count',
          label: t('dashboard.col.kind'),
          values: [d.appPasswords.total - d.appPasswords.unused, d.appPasswords.unused],
        },
      ],
    },
  };
}

/** Stands for the countries beyond the first SHOWN_COUNTRIES, added up. */
const OTHER = '*';
const SHOWN_COUNTRIES = 12;

/** The countries the chart has room for (the busiest), and the rest as one bar: the table under it has the same rows. */
function shownCountries(rows: Dashboard['legacyByCountry']): Dashboard['legacyByCountry'] {
  if (rows.length <= SHOWN_COUNTRIES) return rows;
  const rest = rows.slice(SHOWN_COUNTRIES - 1);
  const other = { country: OTHER, success: 0, failure: 0, throttled: 0 };
  for (const r of rest) for (const o of SIGN_IN_OUTCOMES) other[o] += r[o];
  return [...rows.slice(0, SHOWN_COUNTRIES - 1), other];
}

/** /admin/dashboard: the six charts, each with its summary (<desc>) and its numbers in a table. */
export function dashboardPage(ctx: PageContext, d: Dashboard): Html {
  const { t } = ctx;
  const c = dashboardCharts(ctx, d);
  const section = (chart: BarChart, category: string, empty = false) =>
    html`<section aria-labelledby="${chart.id}-h">
<h2 id="${chart.id}-h">${chart.title}</h2>
${
  empty
    ? html`<p>${chart.desc}</p>`
    : html`${stackedBarChart(chart)}
<details class="chart-numbers"><summary>${t('dashboard.numbers')}</summary>
${chartTable(chart, { category, total: t('dashboard.col.total') })}
</details>`
}
</section>`;
  return layout(
    ctx,
    t('dashboard.title'),
    html`<p>${t('dashboard.intro', { time: ctx.time.at(d.until) })}</p>
<div class="charts">
${section(c.hourly, t('dashboard.col.hour'))}
${section(c.legacy, t('dashboard.col.protocol'), d.legacy.length === 0)}
${section(c.countries, t('signins.col.country'), d.legacyByCountry.length === 0)}
${section(c.locked, t('dashboard.col.reason'), d.locked.length === 0)}
${section(c.mfa, t('dashboard.col.state'))}
${section(c.appPasswords, t('dashboard.col.kind'))}
</div>`,
  );
}

/** The protocols the filter offers; one given in the URL that is not among them (an old row's) is kept. */
const protocolChoices = (current: string | undefined): string[] =>
  current && !(SIGN_IN_PROTOCOLS as readonly string[]).includes(current)
    ? [...SIGN_IN_PROTOCOLS, current]
    : [...SIGN_IN_PROTOCOLS];

/** The sign-in log's filter (a GET form, so a filtered view is a link) and the export links that keep the filter. */
export function signInFilterForm(ctx: PageContext, f: SignInFilter): Html {
  const { t } = ctx;
  const zone = ctx.time.timeZone;
  const local = (ms: number | undefined) => (ms === undefined ? '' : instantToLocal(ms, zone));
  const query = new URLSearchParams(filterParams(f)).toString();
  const suffix = query ? `?${query}` : '';
  return html`<form method="get" action="/admin/sign-ins" class="filters" role="search">
  <label>${t('signins.filter.user')} <input name="user" type="text" maxlength="254" value="${f.user ?? ''}"></label>
  <label>${t('signins.filter.outcome')} <select name="outcome"><option value="">${t('signins.filter.any')}</option>${SIGN_IN_OUTCOMES.map((o) => html`<option value="${o}" ${f.outcome === o ? html`selected` : ''}>${t(`outcome.${o}`)}</option>`)}</select></label>
  <label>${t('signins.filter.protocol')} <select name="protocol"><option value="">${t('signins.filter.any')}</option>${protocolChoices(f.protocol).map((p) => html`<option value="${p}" ${f.protocol === p ? html`selected` : ''}>${protocolName(ctx, p)}</option>`)}</select></label>
  <label>${t('signins.filter.ip')} <input name="ip" type="text" maxlength="64" size="16" value="${f.ip ?? ''}"></label>
  <label>${t('signins.filter.from', { zone })} <input name="from" type="datetime-local" value="${local(f.from)}"></label>
  <label>${t('signins.filter.to', { zone })} <input name="to" type="datetime-local" value="${local(f.to)}"></label>
  <button type="submit">${t('signins.filter.apply')}</button>
  ${query ? html`<a href="/admin/sign-ins">${t('signins.filter.clear')}</a>` : ''}
</form>
<p class="exports">${t('signins.export')} <a href="/admin/sign-ins/export.csv${suffix}" download>${t('signins.export.csv')}</a> <a href="/admin/sign-ins/export.jsonl${suffix}" download>${t('signins.export.jsonl')}</a></p>`;
}
