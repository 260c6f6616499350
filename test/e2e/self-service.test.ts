/**
 * Self-service end to end in a real browser: the real CLI sets up a SQLite store in a temporary
 * folder, the real server (`node dist/src/main.js`) listens on a free loopback port and sends mail
 * to a real SMTP server (smtp-server, also on loopback), and Debian's Chromium (playwright-core, one
 * browser for the file, a context per person or device) uses the pages:
 *
 *   - "Forgot your password?": registers an authenticator app (codes from `oathtool`) and an
 *     alternate email address, then walks forgot password -> mail -> link -> second factor -> new
 *     password -> signed in, and signs in again with the new password;
 *   - Change password and My sessions: the page says what a change does before it is confirmed;
 *     afterwards the other browser and a script that were signed in before are signed out, the old
 *     password is refused and the new one works; then "Sign out everywhere else" signs the other
 *     browser out again, and this one stays;
 *   - My sign-ins: a sign-in made by a mail app over /auth/basic with an app password made on
 *     Security info, "This wasn't me": /auth/basic refuses that app password (401) and the
 *     organization's admin gets a mail.
 *
 * The second-factor registrations of the last two are done over HTTP by test/support/admin-mfa.ts
 * (which works for any user with MFA on), which then gives the codes typed into the browser.
 * Everything started here is stopped in `after`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { adminSecondFactor, signInAdminWithMfa } from '../support/admin-mfa.js';
import { FetchBrowser } from '../support/fetch-browser.js';
import { lastEmailCode, parseMessage, startSmtp } from '../support/sinks.js';
import {
  freePort,
  launchChromium,
  requireBuild,
  runSesameCli as sesame,
  serverEnv,
  startServer,
  type StartedServer,
  teardown,
} from '../support/processes.js';

const run = promisify(execFile);
const BOB = {
  address: 'bob@contoso.test',
  password: 'quiet-meadow-copper-77',
  name: 'Bob Builder',
  home: 'bob.home@example.org',
};
const NEW_PASSWORD = 'harbour-lantern-violet-93';
/** Carol changes her password and ends her other sessions; Dan reports an app-password sign-in; Ada is their admin. */
const CAROL = { address: 'carol@contoso.test', password: 'amber-orchard-pebble-31', name: 'Carol Chang' };
const CAROL_NEW = 'willow-granite-sparrow-84';
const DAN = { address: 'dan@contoso.test', password: 'tidal-copper-fennel-26', name: 'Dan Dekker' };
const ADA = { address: 'ada@contoso.test', password: 'violet-harbour-lantern-42', name: 'Ada Admin' };
/** The User-Agent of Carol's other browser, so that "My sessions" can tell the two apart. */
const FIREFOX = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';

/** The TOTP code for `secret` at `unixSeconds`, from oathtool. */
async function oathtool(secret: string, unixSeconds: number): Promise<string> {
  const { stdout } = await run('/usr/bin/oathtool', ['--totp', '-b', secret, '--now', `@${unixSeconds}`], {
    timeout: 5_000,
  });
  return stdout.trim();
}

describe('self-service in Chromium (real server, real SMTP server)', () => {
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
    const env = serverEnv(dataDir, port, {
      SESAME_SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
      SESAME_MAIL_FROM: 'Sesame <sesame@contoso.test>',
      SESAME_DEV_OUTBOX: '',
    });
    await sesame(env, ['org', 'add', 'contoso.test', '--name', 'Contoso']);
    await sesame(env, ['user', 'add', BOB.address, '--name', BOB.name, '--password-stdin'], `${BOB.password}\n`);
    await sesame(env, ['user', 'mfa', BOB.address, 'enabled']);
    await sesame(
      env,
      ['user', 'add', ADA.address, '--name', ADA.name, '--admin', '--password-stdin'],
      `${ADA.password}\n`,
    );
    for (const u of [CAROL, DAN]) {
      await sesame(env, ['user', 'add', u.address, '--name', u.name, '--password-stdin'], `${u.password}\n`);
      await sesame(env, ['user', 'mfa', u.address, 'enabled']);
    }
    server = await startServer({ env });
    browser = await launchChromium();
  });

  after(async () => {
    await teardown({ contexts, browser, server, dataDir });
    await smtp?.stop();
  });

  async function open(options: BrowserContextOptions = {}): Promise<Page> {
    assert.ok(browser, 'the browser did not start');
    const context = await browser.newContext({ locale: 'en-US', baseURL: base, ...options });
    contexts.add(context);
    context.setDefaultTimeout(20_000);
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

  /**
   * Signs in on the sign-in page with `password` and the second factor admin-mfa.ts registered: the
   * next authenticator code, or, once this half-minute's codes are used, a recovery code ("Sign in
   * another way" -> "Recovery code"). Ends on My account.
   */
  async function signIn(page: Page, address: string, password: string): Promise<void> {
    await page.goto('/signin');
    await page.getByLabel('Email').fill(address);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`${base}/signin/mfa`);
    const answer = adminSecondFactor(base, address);
    if (answer.recovery) {
      await page.getByText('Sign in another way').click();
      await page.getByRole('button', { name: 'Recovery code', exact: true }).click();
      await page.getByText('Enter one of your recovery codes.').waitFor();
    }
    await page.getByLabel('Code').fill(answer.code);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(`${base}/account`);
  }

  /** What the server answers `page`'s browser (its cookies) for GET `url`, redirects not followed. */
  async function statusIn(page: Page, url: string): Promise<number> {
    return (await page.context().request.get(url, { maxRedirects: 0 })).status();
  }

  /** Opens My account in `page` and expects to be sent to sign in, told the session ended. */
  async function expectSignedOut(page: Page): Promise<void> {
    await page.goto('/account');
    await page.waitForURL(/\/signin\?/);
    assert.equal((await page.getByRole('status').innerText()).trim(), 'Your session has ended. Please sign in again.');
  }

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
    await page.getByRole('heading', { level: 1, name: 'Keep using your existing applications' }).waitFor();
    await page.locator('#next').click();
    await page.getByRole('heading', { level: 1, name: 'Save your recovery codes' }).waitFor();
    await page.locator('#done').click();
    await page.waitForURL(`${base}/account`);

    await page.goto('/security-info');
    await page.getByRole('button', { name: 'Add sign-in method' }).click();
    await page.getByLabel('Email to another address').check();
    await page.getByRole('button', { name: 'Next' }).click();
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

  it('Change password, then My sessions -> "Sign out everywhere else": the other sessions end, this one stays', async () => {
    // Carol registered an authenticator app at her first sign-in, from a script whose session stays open.
    const script = new FetchBrowser(base);
    await signInAdminWithMfa(script, CAROL);
    assert.equal((await script.get('/account')).status, 200);
    const here = await open();
    await signIn(here, CAROL.address, CAROL.password);
    const elsewhere = await open({ userAgent: FIREFOX });
    await signIn(elsewhere, CAROL.address, CAROL.password);
    assert.equal(await statusIn(elsewhere, '/account'), 200);

    // My account -> Change password: what the change does is on the page before she confirms.
    await here.getByRole('link', { name: 'Change password', exact: true }).click();
    await here.waitForURL(`${base}/account/password`);
    assert.deepEqual(
      (await here.locator('#password-effects li').allInnerTexts()).map((t) => t.trim()),
      [
        'You stay signed in here; every other session of your account (other browsers, apps using the API) will be signed out.',
        'Your organization revokes app passwords when the password changes: your 1 app password will stop working. Make new ones under Security info afterwards.',
      ],
    );
    await here.getByLabel('Current password').fill(CAROL.password);
    await here.getByLabel('New password', { exact: true }).fill(CAROL_NEW);
    await here.getByLabel('Type it again').fill(CAROL_NEW);
    const mails = count(CAROL.address);
    await here.getByRole('button', { name: 'Change password', exact: true }).click();
    await here.waitForURL(/\/account\/password\?m=changed/);
    assert.equal(
      (await here.getByRole('status').innerText()).trim(),
      'Your password has been changed. Signed out elsewhere: 2 sessions. App passwords revoked: 1.',
    );
    assert.match(
      await mailTo(CAROL.address, mails),
      /The password of your work or school account was changed at .+ from 127\.0\.0\.1\./,
    );

    // The other browser and the script are signed out; this browser is not.
    assert.equal(await statusIn(elsewhere, '/account'), 303);
    assert.equal((await script.get('/account')).status, 303);
    assert.equal(await statusIn(here, '/account'), 200);
    await expectSignedOut(elsewhere);
    // There, the old password is refused and the new one works.
    await elsewhere.getByLabel('Email').fill(CAROL.address);
    await elsewhere.getByLabel('Password').fill(CAROL.password);
    await elsewhere.getByRole('button', { name: 'Sign in', exact: true }).click();
    assert.equal((await elsewhere.getByRole('alert').innerText()).trim(), 'Your account or password is incorrect.');
    await signIn(elsewhere, CAROL.address, CAROL_NEW);
    assert.equal((await elsewhere.locator('#account-name').innerText()).trim(), CAROL.name);

    // My account -> My sessions: two, this one marked; "Sign out everywhere else".
    await here.goto('/account');
    await here.getByRole('link', { name: 'My sessions', exact: true }).click();
    await here.waitForURL(`${base}/account/sessions`);
    const rows = here.locator('#sessions tbody tr');
    assert.equal(await rows.count(), 2, await here.locator('#sessions').innerText());
    const current = here.locator('#sessions tbody tr[aria-current="true"]');
    assert.equal(await current.count(), 1);
    assert.match(
      (await current.innerText()).trim(),
      /^Chrome on Linux\s+127\.0\.0\.1\s+Browser\s[\s\S]*\sThis session$/,
    );
    const other = here.locator('#sessions tbody tr:not([aria-current])');
    assert.match((await other.innerText()).trim(), /^Firefox on Windows\s+127\.0\.0\.1\s+Browser\s/);
    assert.equal(await other.getByRole('button', { name: 'Sign out', exact: true }).count(), 1);
    await here.getByRole('button', { name: 'Sign out everywhere else' }).click();
    await here.waitForURL(/\/account\/sessions\?m=others/);
    assert.equal((await here.getByRole('status').innerText()).trim(), '1 other session signed out.');
    assert.equal(await rows.count(), 1);
    assert.equal(await current.count(), 1);
    assert.equal(
      await here.getByRole('button', { name: 'Sign out everywhere else' }).count(),
      0,
      'nothing else to sign out',
    );

    assert.equal(await statusIn(elsewhere, '/account'), 303);
    await expectSignedOut(elsewhere);
    assert.equal(await statusIn(here, '/account'), 200);
  });

  it(`My sign-ins -> "This wasn't me" on a mail app's sign-in: that app password is refused and the admin is mailed`, async () => {
    await signInAdminWithMfa(new FetchBrowser(base), DAN);
    const page = await open();
    await signIn(page, DAN.address, DAN.password);

    // Security info: an app password for the mail app, which signs in with it over /auth/basic.
    await page.getByRole('link', { name: 'Security info' }).first().click();
    await page.waitForURL(`${base}/security-info`);
    await page.getByLabel('Name', { exact: true }).fill('Thunderbird on the laptop');
    await page.getByRole('button', { name: 'Create app password' }).click();
    const appPassword = (await page.locator('#app-password').innerText()).trim();
    assert.match(appPassword, /^[a-z]{4}( [a-z]{4}){4}$/);
    const basic = async (password: string) => {
      const res = await fetch(`${base}/auth/basic`, {
        headers: {
          authorization: `Basic ${Buffer.from(`${DAN.address}:${password}`).toString('base64')}`,
          'user-agent': 'Thunderbird/128.0',
        },
        signal: AbortSignal.timeout(10_000),
      });
      await res.arrayBuffer();
      return res.status;
    };
    assert.equal(await basic(appPassword), 200);

    // My account -> My sign-ins: the mail app's sign-in, the only row with "This wasn't me".
    await page.goto('/account');
    await page.getByRole('link', { name: 'My sign-ins', exact: true }).click();
    await page.waitForURL(`${base}/account/sign-ins`);
    const row = page.locator('#my-sign-ins tbody tr', { hasText: 'Thunderbird on the laptop' });
    assert.equal(await row.count(), 1, await page.locator('#my-sign-ins').innerText());
    // The address's country: a dash, since a loopback address has none.
    assert.match(
      await row.innerText(),
      /Success\s+HTTP \(Basic\)\s+Thunderbird on the laptop\s+127\.0\.0\.1\s+—\s+Thunderbird\s/,
    );
    assert.equal(
      await page.getByRole('button', { name: "This wasn't me" }).count(),
      1,
      'only sign-ins with an app password can be reported',
    );

    const adminMails = count(ADA.address);
    await row.getByRole('button', { name: "This wasn't me" }).click();
    await page.waitForURL(/\/account\/sign-ins\?m=reported$/);
    assert.equal(
      (await page.getByRole('status').innerText()).trim(),
      'Thank you. That app password no longer works, and your administrators were told.',
    );
    assert.equal(await basic(appPassword), 401, 'the reported app password is refused');
    const mail = (await mailTo(ADA.address, adminMails)).replace(/\s+/g, ' ');
    assert.match(
      mail,
      /dan@contoso\.test reported a HTTP sign-in at .+ from 127\.0\.0\.1 with their app password "Thunderbird on the laptop" as not theirs\. That app password has been revoked\./,
    );
  });
});
