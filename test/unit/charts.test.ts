/**
 * The server-drawn SVG charts: bar heights proportional to the numbers on a round scale, stacking
 * in series order, zero segments left out, accessible names (<title>/<desc> via aria-labelledby),
 * no inline style anywhere (the CSP forbids it), and labels escaped like every page's text.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHART, chartTable, niceMax, stackedBarChart, type BarChart } from '../../src/features/admin/charts.js';

interface Rect {
  cls: string;
  x: number;
  y: number;
  width: number;
  height: number;
  title: string;
}

function rects(svg: string): Rect[] {
  return [
    ...svg.matchAll(
      /<rect class="bar ([^"]+)" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"><title>([^<]*)<\/title><\/rect>/g,
    ),
  ].map((m) => ({
    cls: m[1]!,
    x: Number(m[2]),
    y: Number(m[3]),
    width: Number(m[4]),
    height: Number(m[5]),
    title: m[6]!,
  }));
}

const plotH = CHART.height - CHART.top - CHART.bottom;
const baseline = CHART.top + plotH;

const spec: BarChart = {
  id: 'c1',
  title: 'Sign-ins per hour',
  desc: '9 attempts',
  categories: ['00:00', '01:00', '02:00'],
  series: [
    { key: 'success', label: 'Success', values: [4, 0, 1] },
    { key: 'failure', label: 'Failure', values: [1, 0, 3] },
  ],
};

describe('charts', () => {
  it('niceMax rounds up to 1, 2 or 5 times a power of ten, never below 1', () => {
    assert.deepEqual(
      [0, 1, 3, 5, 7, 10, 11, 42, 99, 101, 2500].map(niceMax),
      [1, 1, 5, 5, 10, 10, 20, 50, 100, 200, 5000],
    );
  });

  it('draws stacked bars proportional to the values, on a scale from 0 to a round maximum', () => {
    const svg = stackedBarChart(spec).value;
    const r = rects(svg);
    // 4+1 in the first bar, nothing in the second, 1+3 in the third: four segments, zeros left out.
    assert.deepEqual(
      r.map((x) => x.cls),
      ['s-success', 's-failure', 's-success', 's-failure'],
    );
    const unit = plotH / 5; // the largest total is 5, and niceMax(5) = 5
    assert.deepEqual(
      r.map((x) => Math.round(x.height * 10) / 10),
      [4, 1, 1, 3].map((v) => Math.round(v * unit * 10) / 10),
    );
    // Stacked bottom-up: the first series sits on the baseline, the next on top of it.
    assert.ok(Math.abs(r[0]!.y + r[0]!.height - baseline) < 0.2);
    assert.ok(Math.abs(r[1]!.y + r[1]!.height - r[0]!.y) < 0.2);
    // Bars in category order, left to right, inside the plot area.
    assert.ok(r[0]!.x < r[2]!.x && r[0]!.x === r[1]!.x);
    for (const x of r) assert.ok(x.x >= CHART.left && x.x + x.width <= CHART.width - CHART.right);
    assert.deepEqual(
      r.map((x) => x.title),
      ['00:00: Success 4', '00:00: Failure 1', '02:00: Success 1', '02:00: Failure 3'],
    );
    // Axis labels at 0, half and the maximum.
    assert.deepEqual(
      [...svg.matchAll(/<text class="axis" x="40"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]),
      ['0', '2.5', '5'],
    );
  });

  it('is an image named by its <title> and <desc>, with no inline style and a legend for several series', () => {
    const svg = stackedBarChart(spec).value;
    assert.match(
      svg,
      /^<svg class="chart" id="c1" viewBox="0 0 480 220" role="img" aria-labelledby="c1-title c1-desc"/,
    );
    assert.match(svg, /<title id="c1-title">Sign-ins per hour<\/title>\n<desc id="c1-desc">9 attempts<\/desc>/);
    assert.doesNotMatch(svg, /style=|<script|on\w+=/i);
    assert.match(
      svg,
      /<ul class="legend" aria-hidden="true"><li><span class="swatch s-success"><\/span> Success<\/li><li><span class="swatch s-failure"><\/span> Failure<\/li><\/ul>/,
    );
    assert.doesNotMatch(stackedBarChart({ ...spec, series: [spec.series[0]!] }).value, /class="legend"/);
  });

  it('labels every n-th category when asked, and an empty chart draws no bar', () => {
    const hours = Array.from({ length: 24 }, (_, i) => `${String(i).padStart(2, '0')}:00`);
    const svg = stackedBarChart({
      id: 'h',
      title: 't',
      desc: 'd',
      categories: hours,
      series: [{ key: 'success', label: 'S', values: hours.map(() => 0) }],
      labelEvery: 3,
    }).value;
    assert.equal(rects(svg).length, 0);
    const labels = [...svg.matchAll(/text-anchor="middle">([^<]*)</g)].map((m) => m[1]);
    assert.deepEqual(labels, ['00:00', '03:00', '06:00', '09:00', '12:00', '15:00', '18:00', '21:00']);
  });

  it('escapes titles, descriptions and labels, and refuses a series key that is not a class name', () => {
    const svg = stackedBarChart({
      id: 'x',
      title: '<script>alert(1)</script>',
      desc: '"&"',
      categories: ['<b>'],
      series: [{ key: 'count', label: "O'Neil", values: [2] }],
    }).value;
    assert.doesNotMatch(svg, /<script>|<b>/);
    assert.match(svg, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    assert.match(svg, /<desc id="x-desc">&quot;&amp;&quot;<\/desc>/);
    assert.match(svg, /<title>&lt;b&gt;: O&#39;Neil 2<\/title>/);
    assert.throws(
      () => stackedBarChart({ ...spec, series: [{ key: 'a" onclick="x', label: 'l', values: [1, 2, 3] }] }),
      /not a class name/,
    );
    assert.throws(
      () => stackedBarChart({ ...spec, series: [{ key: 'a', label: 'l', values: [1] }] }),
      /1 values for 3 categories/,
    );
  });

  it('gives the same numbers as a table with a caption, a column per series and a total', () => {
    const table = chartTable(spec, { category: 'Hour', total: 'Total' }).value;
    assert.match(table, /<caption>Sign-ins per hour<\/caption>/);
    assert.match(
      table,
      /<thead><tr><th scope="col">Hour<\/th><th scope="col">Success<\/th><th scope="col">Failure<\/th><th scope="col">Total<\/th><\/tr><\/thead>/,
    );
    const rows = [...table.matchAll(/<tr><th scope="row">([^<]+)<\/th>((?:<td>[^<]*<\/td>)+)<\/tr>/g)].map((m) => [
      m[1],
      ...[...m[2]!.matchAll(/<td>([^<]*)<\/td>/g)].map((c) => c[1]),
    ]);
    assert.deepEqual(rows, [
      ['00:00', '4', '1', '5'],
      ['01:00', '0', '0', '0'],
      ['02:00', '1', '3', '4'],
    ]);
  });
});
