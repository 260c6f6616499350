/**
 * Copy where browsers withhold the Clipboard API (#17, item 4): a Sesame reached over plain HTTP
 * on a host name (`http://sesame.test`, as on a LAN before TLS is set up) is not a secure context,
 * so `navigator.clipboard` is missing and Copy used to stay hidden. In Debian's Chromium, the real
 * markup (appPasswordBox, recoveryList), the real /static/copy.js and the stylesheet, under the
 * pages' real Content-Security-Policy: Copy must still put exactly the text shown on the clipboard,
 * and Print must appear. The clipboard is read back from a page on 127.0.0.1 (a secure context) of
 * the same browser, which shares its clipboard.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { generateAppPassword } from '../../src/domain/app-passwords/format.js';
import { translator } from '../../src/i18n/i18n.js';
import { appPasswordBox, recoveryList } from '../../src/web/components.js';
import type { PageContext } from '../../src/web/layout.js';
import { cspHeader } from '../../src/web/security-headers.js';
import { CHROMIUM, CHROMIUM_ARGS, freePort, requireChromium, ROOT } from '../support/processes.js';

const CODES = ['abcd-efgh-2345', 'jkmn-pqrs-6789', 'tuvw-xyz2-3456'];

describe('Copy over plain HTTP on a host name, in Chromium', () => {
  let server: http.Server;
  let browser: Browser;
  let port = 0;
  const password = generateAppPassword();

  before(async () => {
    requireChromium();
    const ctx = { t: translator('en'), locale: 'en' } as unknown as PageContext;
    const page = `<!doctype html><html lang="en"><head><title>Copy</title><link rel="stylesheet" href="/static/sesame.css"></head>
<body><main>${appPasswordBox(ctx, password).value}${recoveryList(ctx, CODES).value}</main></body></html>`;
    server = http.createServer((req, res) => {
      const file = req.url === '/static/copy.js' ? 'copy.js' : req.url === '/static/sesame.css' ? 'sesame.css' : '';
      res.setHeader('Content-Security-Policy', cspHeader(false));
      if (file) {
        res.setHeader('Content-Type', file.endsWith('.js') ? 'text/javascript' : 'text/css');
        res.end(fs.readFileSync(path.join(ROOT, 'public', file)));
      } else {
        res.setHeader('Content-Type', 'text/html; charset=utf-8');
        res.end(req.url === '/' ? page : '<!doctype html><title>blank</title>');
      }
    });
    port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP sesame.test 127.0.0.1'],
      timeout: 15_000,
    });
  });
  after(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('copies the app password and the recovery codes without the Clipboard API, and shows Print', async () => {
    const context = await browser.newContext();
    try {
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: `http://127.0.0.1:${port}` });
      const reader = await context.newPage();
      await reader.goto(`http://127.0.0.1:${port}/blank`);
      const clipboard = () => reader.evaluate(() => navigator.clipboard.readText());
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`http://sesame.test:${port}/`);
      assert.equal(await page.evaluate(() => window.isSecureContext), false, 'plain HTTP on a host name');
      assert.equal(await page.evaluate(() => typeof navigator.clipboard), 'undefined', 'no Clipboard API here');

      const copyPassword = page.locator('button.copy[data-copy="app-password"]');
      await copyPassword.waitFor({ state: 'visible' });
      await reader.evaluate(() => navigator.clipboard.writeText('sentinel'));
      await copyPassword.click();
      await page.locator('.app-password .copied').filter({ hasText: 'Copied.' }).waitFor();
      assert.equal(await clipboard(), password, 'exactly the password shown');

      await page.locator('button.copy[data-copy="recovery-codes"]').click();
      await page.locator('.recovery .copied').filter({ hasText: 'Copied.' }).waitFor();
      assert.equal(await clipboard(), CODES.join('\n'), 'one code per line');

      assert.equal(await page.locator('button.print').isVisible(), true, 'Print is shown with scripts on');
      assert.equal(await page.locator('#recovery-download').isVisible(), true);
      assert.deepEqual(errors, [], 'no script error and nothing the CSP refused');
    } finally {
      await context.close();
    }
  });
});
