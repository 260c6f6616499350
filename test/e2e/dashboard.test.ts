/**
 * The admin dashboard in Chromium with JavaScript turned off: the real server (SQLite, set up with
 * the real CLI) serves the page, the admin signs in through the forms, and the five charts are
 * images with accessible names and drawn sizes, their numbers are in tables, the page has no
 * script, and the strict CSP reports nothing. The sign-in log's filter form also works without script.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adminBrowserSuite } from '../support/admin-browser.js';
import { formatViolations, seriousViolations } from '../support/axe.js';

const ADMIN = { address: 'ada@contoso.test', password: 'violet-harbour-lantern-42', name: 'Ada Admin' };

describe('the dashboard in Chromium without script (real CLI, real server)', () => {
  // Ada registers an authenticator app over the API; that sign-in is also a row for the charts.
  const suite = adminBrowserSuite(ADMIN, { tmpPrefix: 'sesame-e2e-dash-' });

  it('shows five accessible SVG charts with their numbers, no script, and no CSP report', async () => {
    const { context, page } = await suite.open({ locale: 'en-US', javaScriptEnabled: false });
    const problems: string[] = [];
    page.on('console', (m) => {
      // Failed loads are checked by URL below (the browser asks for /favicon.ico on its own).
      if (
        (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) ||
        /Content Security Policy/i.test(m.text())
      )
        problems.push(m.text());
    });
    page.on('response', (r) => {
      if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico') problems.push(`${r.status()} ${r.url()}`);
    });
    page.on('pageerror', (e) => problems.push(String(e)));

    await page.goto('/signin?next=%2Fadmin%2Fdashboard');
    assert.equal((await suite.signInAdmin(page)).recovery, false, 'a fresh TOTP step is available');
    await page.waitForURL(`${suite.base}/admin/dashboard`);

    const res = await page.goto('/admin/dashboard');
    assert.equal(res?.status(), 200);
    const csp = res?.headers()['content-security-policy'] ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /style-src 'self'/);
    assert.equal((await page.getByRole('heading', { level: 1 }).textContent())?.trim(), 'Dashboard');
    assert.equal(await page.locator('script').count(), 0);
    assert.equal(await page.locator('[style]').count(), 0);

    for (const name of ['Sign-ins per hour', 'Multi-factor registration', 'App passwords unused for 90 days']) {
      const chart = page.getByRole('img', { name: new RegExp(`^${name}`) });
      assert.equal(await chart.count(), 1, name);
      const box = await chart.boundingBox();
      assert.ok(box && box.width > 200 && box.height > 60, `${name} is drawn at a readable size`);
    }
    // The API sign-in and this browser's are in the current hour: at least one bar is drawn.
    const bars = page.locator('svg#chart-hourly rect.bar');
    assert.ok((await bars.count()) >= 1);
    const barBox = await bars.first().boundingBox();
    assert.ok(barBox && barBox.height > 0);
    // The stylesheet colours the series: a success bar is filled green by its class, not by an attribute.
    assert.equal(await bars.first().getAttribute('fill'), null);
    // Text alternatives: every drawn chart has its numbers in a table behind "Numbers" (open without script).
    assert.equal(await page.locator('details.chart-numbers').count(), 3);
    await page.locator('details.chart-numbers summary').first().click();
    const firstRow = page.locator('table.chart-data').first().locator('tbody tr').last();
    assert.match((await firstRow.textContent()) ?? '', /\d\d:00/);
    // Charts with no data say so in words instead.
    assert.equal(await page.getByText('No attempts from mail or calendar apps in the last 24 hours.').count(), 1);
    assert.equal(
      await page.getByText('No country to show: mail and calendar apps made no attempts in the last 24 hours.').count(),
      1,
    );
    assert.equal(await page.getByText('No attempts were refused by a lock in the last 24 hours.').count(), 1);

    // The sign-in log's filter is a plain GET form: it works without script and keeps its values.
    await page.getByRole('link', { name: 'Sign-in log', exact: true }).click();
    await page.waitForURL(`${suite.base}/admin/sign-ins`);
    await page.getByLabel('Outcome').selectOption('success');
    await page.getByLabel('Protocol').selectOption({ label: 'Browser' });
    await page.getByRole('button', { name: 'Filter', exact: true }).click();
    await page.waitForURL(/\/admin\/sign-ins\?/);
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('outcome'), 'success');
    assert.equal(url.searchParams.get('protocol'), 'web');
    assert.equal(await page.getByLabel('Protocol').inputValue(), 'web');
    assert.ok((await page.locator('table tbody tr').count()) >= 1);
    assert.equal(
      await page.getByRole('link', { name: 'CSV (spreadsheet)' }).getAttribute('href'),
      '/admin/sign-ins/export.csv?outcome=success&protocol=web',
    );

    assert.deepEqual(problems, []);

    // axe-core (injected over the DevTools protocol, so this profile runs scripts) finds nothing serious on either page.
    const axeContext = await suite.browser!.newContext({ locale: 'en-US', baseURL: suite.base });
    suite.contexts.add(axeContext);
    await axeContext.addCookies(await context.cookies());
    const axePage = await axeContext.newPage();
    for (const url of ['/admin/dashboard', '/admin/sign-ins?outcome=success']) {
      await axePage.goto(url);
      assert.equal(new URL(axePage.url()).pathname, url.split('?')[0]);
      const { serious } = await seriousViolations(axePage);
      assert.deepEqual(serious, [], `${url}: ${formatViolations(serious)}`);
    }
    for (const c of [axeContext, context]) await suite.close(c);
  });
});
