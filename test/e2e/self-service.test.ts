/**
 * "Forgot your password?" end to end in a real browser: the real CLI sets up a SQLite store in a
 * temporary folder, the real server (`node dist/src/main.js`) listens on a free loopback port and
 * sends mail to a real SMTP server (smtp-server, also on loopback), and Debian's Chromium
 * (playwright-core) registers an authenticator app (codes from `oathtool`) and an alternate email
 * address, then walks forgot password -> mail -> link -> second factor -> new password -> signed in,
 * and signs in again with the new password. Everything started here is stopped in `after`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { lastEmailCode, parseMessage, startSmtp } from '../support/sinks.js';
import { freePort, launchChromium, requireBuild, runSesameCli as sesame, serverEnv, startServer, type StartedServer, teardown } from '../support/processes.js';

const run = promisify(execFile);
const BOB = { address: 'bob@contoso.test', password: 'quiet-meadow-copper-77', name: 'Bob Builder', home: 'bob.home@example.org' };
const NEW_PASSWORD = 'harbour-lantern-violet-93';

/** The TOTP code for `secret` at `unixSeconds`, from oathtool. */
async function oathtool(secret: string, unixSeconds: number): Promise<string> {
  const { stdout } = await run('/usr/bin/oathtool', ['--totp', '-b', secret, '--now', `@${unixSeconds}`], { timeout: 5_000 });
  return stdout.trim();
}

describe('forgot password in Chromium (real server, real SMTP server)', () => {
  let dataDir: string | undefined;
  let server: StartedServer | undefined;
  let browser: Browser | undefined;
  let smtp: Awaited<ReturnType<typeof startSmtp>> | undefined;
  let base = '';
  const contexts = new Set<BrowserContext>();

  before(async () => {
    requireBuild();
    smtp = await startSmtp();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-e2e-reset-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const env = serverEnv(dataDir, port, { SESAME_SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, SESAME_MAIL_FROM: 'Sesame <sesame@contoso.test>', SESAME_DEV_OUTBOX: '' });
    await sesame(env, ['org', 'add', 'contoso.test', '--name', 'Contoso']);
    await sesame(env, ['user', 'add', BOB.address, '--name', BOB.name, '--password-stdin'], `${BOB.password}\n`);
    await sesame(env, ['user', 'mfa', BOB.address, 'enabled']);
    server = await startServer({ env });
    browser = await launchChromium();
  });

  after(async () => {
    await teardown({ contexts, browser, server, dataDir });
    await smtp?.stop();
  });

  async function open(): Promise<Page> {
    assert.ok(browser, 'the browser did not start');
    const context = await browser.newContext({ locale: 'en-US', baseURL: base });
    contexts.add(context);
    context.setDefaultTimeout(10_000);
    return context.newPage();
  }

  /** Waits for a mail to `to` beyond the first `seen`; returns its decoded body. */
  async function mailTo(to: string, seen: number): Promise<string> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const mails = smtp!.received.filter((r) => r.to.includes(to));
      if (mails.length > seen) return parseMessage(mails.at(-1)!.raw).body;
      if (Date.now() > deadline) throw new Error(`no mail to ${to} within 10 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const count = (to: string) => smtp!.received.filter((r) => r.to.includes(to)).length;

  it('forgot password -> mail -> link -> second factor -> new password -> signed in', async () => {
    const page = await open();
    // Registration at the first sign-in: an authenticator app, then an alternate email under Security info.
    await page.goto('/signin');
    await page.getByLabel('Email').fill(BOB.address);
    await page.getByLabel('Password').fill(BOB.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('button', { name: 'Set it up now' }).click();
    await page.getByLabel('Authenticator app').check();
    await page.getByRole('button', { name: 'Next' }).click();
    const secret = ((await page.locator('#totp-secret').textContent()) ?? '').replace(/\s/g, '');
    assert.match(secret, /^[A-Z2-7]{32}$/);
    let step = Math.floor(Date.now() / 30_000);
    await page.getByLabel('Code').fill(await oathtool(secret, step * 30));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.locator('#next').click();
    await page.locator('#done').click();
    await page.locator('#done').click();
    await page.waitForURL(`${base}/account`);

    await page.goto('/security-info');
    await page.getByRole('button', { name: 'Add sign-in method' }).click();
    await page.getByLabel('Email to another address').check();
    await page.locator('#alt-email').fill(BOB.home);
    const before = count(BOB.home);
    await page.getByRole('button', { name: 'Next' }).click();
    await mailTo(BOB.home, before);
    await page.getByLabel('Code').fill(lastEmailCode(smtp!.received, BOB.home));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.locator('#next').click();
    await page.waitForURL(/\/security-info/);
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(/\/signin\?m=signedout/);

    // Forgot your password?
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.waitForURL(`${base}/forgot-password`);
    await page.getByLabel('Email').fill(BOB.address);
    const mailsBefore = count(BOB.home);
    await page.getByRole('button', { name: 'Send link' }).click();
    assert.match((await page.getByRole('status').textContent()) ?? '', /a link is on its way there/);
    const body = await mailTo(BOB.home, mailsBefore);
    const link = /(http:\/\/\S+\/reset-password\?token=[A-Za-z0-9_-]+)/.exec(body)?.[1];
    assert.ok(link, `a link in the mail: ${body}`);
    assert.ok(link.startsWith(`${base}/reset-password?token=`));

    await page.goto(link);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${base}/reset-password/flow`);
    assert.equal((await page.locator('h1').textContent())?.trim(), 'Verify your identity');
    // The next time step: the registration's code (this step's) cannot be used again.
    step = Math.floor(Date.now() / 30_000) + 1;
    await page.getByLabel('Code').fill(await oathtool(secret, step * 30));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(`${base}/reset-password/flow`);
    assert.equal((await page.locator('h1').textContent())?.trim(), 'Choose a new password');
    assert.match((await page.locator('#password-effects').textContent()) ?? '', /will be signed out/);
    await page.getByLabel('New password').fill(NEW_PASSWORD);
    await page.getByLabel('Type it again').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.waitForURL(`${base}/account`);
    assert.equal((await page.locator('#account-name').textContent())?.trim(), BOB.name, 'signed in');

    // The link is spent, and the new password is the one that works.
    const again = await open();
    await again.goto(link);
    assert.match((await again.getByRole('main').textContent()) ?? '', /This link is not valid any more/);
    await again.goto('/signin');
    await again.getByLabel('Email').fill(BOB.address);
    await again.getByLabel('Password').fill(NEW_PASSWORD);
    await again.getByRole('button', { name: 'Sign in', exact: true }).click();
    await again.waitForURL(`${base}/signin/mfa`);
  });
});
