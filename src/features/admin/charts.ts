/**
 * Charts drawn as SVG on the server, so the dashboard needs no script and the strict CSP holds:
 * geometry is in attributes, colours come from classes in public/sesame.css (`s-<series key>`),
 * never from style attributes. Each chart is an image with its own <title> and <desc>
 * (aria-labelledby), and `chartTable` gives the same numbers as a data table for whoever cannot
 * see the picture. Text goes through the escaping `html` tag like every page.
 */
import { html, type Html } from '../../web/html.js';

export interface ChartSeries {
  /** Stable key: becomes the class `s-<key>` that colours the series. Letters, digits, `-` and `_`. */
  key: string;
  label: string;
  /** One value per category. */
  values: number[];
}

export interface BarChart {
  /** Unique on the page: ids of the <title> and <desc> derive from it. */
  id: string;
  title: string;
  desc: string;
  categories: string[];
  /** Stacked bottom-up in this order. */
  series: ChartSeries[];
  /** Label every n-th category on the axis (24 hourly bars do not all fit). Default 1. */
  labelEvery?: number;
}

/** Drawing area; the SVG scales to its container (viewBox), these are its internal units. */
export const CHART = { width: 480, height: 220, left: 44, right: 8, top: 10, bottom: 28 } as const;

const KEY = /^[A-Za-z0-9_-]+$/;

/** The smallest of 1, 2 and 5 times a power of ten that is at least `max` (at least 1): round gridlines. */
export function niceMax(max: number): number {
  if (!(max > 1)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

const round = (n: number) => Math.round(n * 10) / 10;

/**
 * A stacked bar chart: one bar per category, each series a segment. Zero segments are not drawn.
 *
 * @example stackedBarChart({ id: 'mfa', title: 'MFA', desc: '3 users', categories: ['off', 'on'],
 *   series: [{ key: 'users', label: 'Users', values: [1, 2] }] })
 */
export function stackedBarChart(c: BarChart): Html {
  for (const s of c.series) {
    if (!KEY.test(s.key)) throw new Error(`chart series key ${JSON.stringify(s.key)} is not a class name`);
    if (s.values.length !== c.categories.length)
      throw new Error(`chart series ${s.key} has ${s.values.length} values for ${c.categories.length} categories`);
  }
  const { width, height, left, right, top, bottom } = CHART;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const totals = c.categories.map((_, i) => c.series.reduce((sum, s) => sum + Math.max(0, s.values[i] ?? 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const slot = c.categories.length ? plotW / c.categories.length : plotW;
  const barW = Math.max(1, slot * 0.7);
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const every = Math.max(1, c.labelEvery ?? 1);
  const grid = [0, max / 2, max].map(
    (v) =>
      html`<line class="grid" x1="${left}" x2="${width - right}" y1="${round(y(v))}" y2="${round(y(v))}"></line><text class="axis" x="${left - 4}" y="${round(y(v) + 4)}" text-anchor="end">${formatCount(v)}</text>`,
  );
  const bars = c.categories.map((cat, i) => {
    const x = round(left + i * slot + (slot - barW) / 2);
    let base = 0;
    const segments = c.series.map((s) => {
      const v = Math.max(0, s.values[i] ?? 0);
      if (v === 0) return '';
      const y0 = y(base + v);
      const h = y(base) - y0;
      base += v;
      return html`<rect class="bar s-${s.key}" x="${x}" y="${round(y0)}" width="${round(barW)}" height="${round(h)}"><title>${cat}: ${s.label} ${formatCount(v)}</title></rect>`;
    });
    const label =
      i % every === 0
        ? html`<text class="axis" x="${round(x + barW / 2)}" y="${height - bottom + 16}" text-anchor="middle">${cat}</text>`
        : '';
    return html`<g>${segments}${label}</g>`;
  });
  return html`<svg class="chart" id="${c.id}" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="${c.id}-title ${c.id}-desc" xmlns="http://www.w3.org/2000/svg">
<title id="${c.id}-title">${c.title}</title>
<desc id="${c.id}-desc">${c.desc}</desc>
${grid}
${bars}
</svg>
${legend(c)}`;
}

/** The series' colours and names, as a list beside the chart (a single series needs none). */
function legend(c: BarChart): Html | string {
  if (c.series.length < 2) return '';
  return html`<ul class="legend" aria-hidden="true">${c.series.map((s) => html`<li><span class="swatch s-${s.key}"></span> ${s.label}</li>`)}</ul>`;
}

/**
 * The chart's numbers as a table (the text alternative): one row per category, one column per
 * series, and a total column when there are several series.
 */
export function chartTable(c: BarChart, headers: { category: string; total: string }): Html {
  const several = c.series.length > 1;
  const rows = c.categories.map((cat, i) => {
    const total = c.series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0);
    return html`<tr><th scope="row">${cat}</th>${c.series.map((s) => html`<td>${formatCount(s.values[i] ?? 0)}</td>`)}${several ? html`<td>${formatCount(total)}</td>` : ''}</tr>`;
  });
  return html`<table class="chart-data">
<caption>${c.title}</caption>
<thead><tr><th scope="col">${headers.category}</th>${c.series.map((s) => html`<th scope="col">${s.label}</th>`)}${several ? html`<th scope="col">${headers.total}</th>` : ''}</tr></thead>
<tbody>${rows}</tbody>
</table>`;
}

function formatCount(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}
