/**
 * The MFA registration flow end to end, with real counterparts: the real CLI sets up a SQLite
 * store in a temporary folder and turns MFA on for three users, the real server
 * (`node dist/src/main.js`) listens on a free loopback port with its development outbox in that
 * folder, and Debian's Chromium (playwright-core) walks "More information required" -> "Set it up
 * now" -> "How should we contact you?" -> verification -> "Next" -> "Keep using your existing
 * applications" (an app password, which the organization allows by default) -> "Next" -> recovery
 * codes -> "Done".
 *
 *   - English: an authenticator app. The QR code on the page is photographed and decoded with
 *     `zbarimg`, its otpauth:// URI checked against the key shown as text, and the codes come from
 *     `oathtool`. Signing in again asks for a code: the enrolment's code is refused (its time step
 *     was used), the next step's code is accepted.
 *   - Dutch: a code emailed to another address, read from the outbox file (in Dutch).
 *   - With a password but no second step yet, /account and /security-info send you to sign in.
 *
 * With SESAME_SCREENSHOTS=1 it also writes docs/images/mfa-setup.png and mfa-totp.png (1280x800). Everything it
 * starts is stopped, and the temporary folder removed, in `after`, whether the tests pass or not.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  CHROMIUM,
  freePort,
  launchChromium,
  requireBuild,
  ROOT,
  runSesameCli as sesame,
  startServer,
  type StartedServer,
  teardown,
  outboxEnv,
} from '../support/processes.js';

const run = promisify(execFile);

const DOCS_IMAGES = path.join(ROOT, 'docs/images');
const VIEWPORT = { width: 1280, height: 800 };
/** Debian package -> the command the test runs (scripts/test.sh installs them). */
const TOOLS = { chromium: CHROMIUM, oathtool: '/usr/bin/oathtool', 'zbar-tools': '/usr/bin/zbarimg' };

const ENGLISH = { address: 'erin@contoso.test', password: 'copper-window-meadow-58', name: 'Erin English' };
const DUTCH = {
  address: 'noor@contoso.test',
  password: 'tulpen-molen-gracht-31',
  name: 'Noor Nederlands',
  alternate: 'noor.thuis@example.org',
};
const PENDING = { address: 'sam@contoso.test', password: 'silver-pebble-orchard-64', name: 'Sam Skipper' };
const SESSION_COOKIE = 'sesame_session';
/** An app password as shown: five groups of four letters from the alphabet without i, l and o. */
const APP_PASSWORD = /^[a-hjkmnp-z]{4}( [a-hjkmnp-z]{4}){4}$/;

/** The current TOTP code for a base32 secret at `unixSeconds` (default: now), from oathtool. */
async function oathtool(secret: string, unixSeconds?: number): Promise<string> {
  const args = ['--totp', '-b', secret];
  if (unixSeconds !== undefined) args.push('--now', `@${unixSeconds}`);
  const { stdout } = await run(TOOLS.oathtool, args, { timeout: 20_000 });
  const code = stdout.trim();
  assert.match(code, /^\d{6}$/, `oathtool printed ${JSON.stringify(stdout)}`);
  return code;
}

/** What one QR code in a PNG says, from zbarimg. */
async function zbarimg(png: string): Promise<string> {
  try {
    const { stdout } = await run(TOOLS['zbar-tools'], ['--raw', '-q', png], { timeout: 10_000 });
    return stdout.trim();
  } catch (e) {
    throw new Error(`zbarimg found no QR code in ${png}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

interface OutboxLine {
  at: string;
  channel: string;
  to: string;
  subject: string;
  text: string;
  locale: string;
}

describe('MFA registration in Chromium (real CLI, real server, oathtool, zbarimg, outbox)', () => {
  let dataDir: string | undefined;
  let outbox = '';
  let server: StartedServer | undefined;
  let browser: Browser | undefined;
  let base = '';
  const contexts = new Set<BrowserContext>();

  before(async () => {
    for (const [pkg, file] of Object.entries(TOOLS)) {
      if (!fs.existsSync(file))
        throw new Error(
          `${file} not found: these tests need the Debian package ${pkg}. Install it with: sudo apt-get install ${pkg}`,
        );
    }
    requireBuild();

    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-mfa-e2e-'));
    outbox = path.join(dataDir, 'outbox.jsonl');
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // No SMTP: email goes to the development outbox.
    const env = outboxEnv(dataDir, port, outbox, { SESAME_PUBLIC_URL: base });

    await sesame(env, ['org', 'add', 'contoso.test', '--name', 'Contoso']);
    for (const u of [ENGLISH, DUTCH, PENDING]) {
      await sesame(env, ['user', 'add', u.address, '--name', u.name, '--password-stdin'], `${u.password}\n`);
      assert.match(await sesame(env, ['user', 'mfa', u.address, 'enabled']), /is now enabled/);
    }

    server = await startServer({ env });

    browser = await launchChromium();
  });

  after(() => teardown({ contexts, browser, server, dataDir }));

  /** A fresh browser profile (own cookies) in `locale`, which also sets Accept-Language. */
  async function open(locale: string): Promise<{ context: BrowserContext; page: Page }> {
    assert.ok(browser, 'the browser did not start');
    const context = await browser.newContext({ locale, baseURL: base, viewport: VIEWPORT });
    contexts.add(context);
    context.setDefaultTimeout(20_000);
    const page = await context.newPage();
    return { context, page };
  }

  async function close(context: BrowserContext) {
    contexts.delete(context);
    await context.close();
  }

  const pathOf = (page: Page) => new URL(page.url()).pathname;
  const sessionCookie = async (context: BrowserContext) =>
    (await context.cookies()).find((c) => c.name === SESSION_COOKIE);

  /** Waits for the page whose <h1> is exactly `title` (the pages post, then redirect). */
  async function expectTitle(page: Page, title: string) {
    await page.getByRole('heading', { level: 1, name: title, exact: true }).waitFor();
    assert.ok(
      (await page.title()).startsWith(`${title} · `),
      `the document title ${JSON.stringify(await page.title())} starts with ${JSON.stringify(title)}`,
    );
  }

  async function signIn(
    page: Page,
    words: { email: string; password: string; submit: string },
    address: string,
    password: string,
  ) {
    await page.goto('/signin');
    await page.getByLabel(words.email).fill(address);
    await page.getByLabel(words.password).fill(password);
    await page.getByRole('button', { name: words.submit, exact: true }).click();
  }
  const EN = { email: 'Email', password: 'Password', submit: 'Sign in' };
  const NL = { email: 'E-mail', password: 'Wachtwoord', submit: 'Aanmelden' };

  /** With only a password proved, the signed-in pages must not open: each sends the visitor to sign in. */
  async function expectNoSessionYet(page: Page, context: BrowserContext) {
    assert.equal(await sessionCookie(context), undefined, 'no session cookie before the second step');
    for (const p of ['/account', '/security-info']) {
      await page.goto(p);
      assert.equal(pathOf(page), '/signin', `${p} sends a visitor without a session to sign in`);
      assert.equal(new URL(page.url()).searchParams.get('next'), p);
      await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
    }
    assert.equal(await sessionCookie(context), undefined, 'still no session cookie');
  }

  /** The newest outbox line sent to `to`. */
  function lastMessageTo(to: string): OutboxLine {
    const lines = fs.existsSync(outbox) ? fs.readFileSync(outbox, 'utf8').split('\n').filter(Boolean) : [];
    const mine = lines.map((l) => JSON.parse(l) as OutboxLine).filter((m) => m.to === to);
    const last = mine[mine.length - 1];
    assert.ok(last, `the outbox ${outbox} has a message to ${to} (it has ${lines.length} lines)`);
    return last;
  }

  it('registers an authenticator app in English: QR code decoded by zbarimg, codes from oathtool, the used step refused at the next sign-in', async () => {
    const { context, page } = await open('en-US');
    try {
      await signIn(page, EN, ENGLISH.address, ENGLISH.password);
      await page.waitForURL(`${base}/signin/mfa`);
      assert.equal(await page.locator('html').getAttribute('lang'), 'en');
      await expectTitle(page, 'More information required');
      await page.getByText(ENGLISH.address, { exact: true }).waitFor();
      const setUp = page.getByRole('button', { name: 'Set it up now', exact: true });
      await setUp.waitFor();
      assert.equal(await sessionCookie(context), undefined, 'no session while registration is pending');
      fs.mkdirSync(DOCS_IMAGES, { recursive: true });
      if (process.env.SESAME_SCREENSHOTS === '1')
        await page.screenshot({ path: path.join(DOCS_IMAGES, 'mfa-setup.png') });

      await setUp.click();
      await expectTitle(page, 'How should we contact you?');
      await page.getByRole('radio', { name: 'Authenticator app', exact: true }).check();
      await page.getByRole('button', { name: 'Next', exact: true }).click();

      await expectTitle(page, 'Verify your method');
      const qr = page.locator('#totp-qr');
      await qr.waitFor();
      assert.equal(await qr.getAttribute('alt'), 'QR code for your authenticator app');
      assert.ok(
        await qr.evaluate((img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth > 0),
        'the QR image loaded',
      );
      if (process.env.SESAME_SCREENSHOTS === '1')
        await page.screenshot({ path: path.join(DOCS_IMAGES, 'mfa-totp.png') });

      const shown = ((await page.locator('#totp-secret').textContent()) ?? '').replace(/\s/g, '');
      assert.match(shown, /^[A-Z2-7]{32}$/, `the key shown is 160-bit base32: ${shown}`);
      const png = path.join(dataDir!, 'totp-qr.png');
      await qr.screenshot({ path: png });
      const uri = new URL(await zbarimg(png));
      assert.equal(uri.protocol, 'otpauth:');
      assert.equal(uri.host, 'totp');
      assert.equal(
        decodeURIComponent(uri.pathname.slice(1)),
        `Contoso:${ENGLISH.address}`,
        'the label names the organization and the user',
      );
      assert.equal(uri.searchParams.get('issuer'), 'Contoso');
      assert.equal(uri.searchParams.get('secret'), shown, 'the QR code holds the key shown as text');
      assert.equal(uri.searchParams.get('algorithm'), 'SHA1');
      assert.equal(uri.searchParams.get('digits'), '6');
      assert.equal(uri.searchParams.get('period'), '30');
      const secret = shown;

      const enrolmentCode = await oathtool(secret);
      await page.getByLabel('Code', { exact: true }).fill(enrolmentCode);
      await page.getByRole('button', { name: 'Verify', exact: true }).click();
      await expectTitle(page, 'Verification succeeded');
      assert.match((await page.locator('main').textContent()) ?? '', /Your authenticator app is registered/);
      assert.equal(await sessionCookie(context), undefined, 'no session before the recovery codes');

      await page.getByRole('button', { name: 'Next', exact: true }).click();
      await expectTitle(page, 'Keep using your existing applications');
      assert.match(
        ((await page.locator('#app-password').textContent()) ?? '').trim(),
        APP_PASSWORD,
        'an app password is shown',
      );
      assert.equal(await sessionCookie(context), undefined, 'no session while the app password is shown');
      await page.getByRole('button', { name: 'Next', exact: true }).click();
      await expectTitle(page, 'Save your recovery codes');
      const codes = (await page.locator('#recovery-codes li').allTextContents()).map((c) => c.trim());
      assert.equal(codes.length, 10, `ten recovery codes: ${codes.join(', ')}`);
      assert.equal(new Set(codes).size, 10, 'all different');
      for (const c of codes) assert.ok(c.length >= 8, `recovery code ${c} is long enough`);

      await page.getByRole('button', { name: 'Done', exact: true }).click();
      await page.waitForURL(`${base}/account`);
      await expectTitle(page, 'My account');
      assert.equal((await page.locator('#account-name').textContent())?.trim(), ENGLISH.name);
      assert.ok(await sessionCookie(context), 'signed in after Done');

      // Sign out and in again: now the second step asks for the app's code.
      await page.getByRole('button', { name: 'Sign out', exact: true }).click();
      await page.waitForURL(`${base}/signin?m=signedout`);
      await signIn(page, EN, ENGLISH.address, ENGLISH.password);
      await page.waitForURL(`${base}/signin/mfa`);
      await expectTitle(page, 'Verify your identity');
      await page.getByText('Enter the code shown in your authenticator app.', { exact: true }).waitFor();

      // Password proved, second step skipped: no way into the signed-in pages. The flow waits.
      await expectNoSessionYet(page, context);
      await page.goto('/signin/mfa');
      await expectTitle(page, 'Verify your identity');

      // The enrolment's time step is used up: its code is refused, in any browser.
      await page.getByLabel('Code', { exact: true }).fill(enrolmentCode);
      await page.getByRole('button', { name: 'Verify', exact: true }).click();
      // Refused: the form's page again (at /signin/mfa/verify) with an alert; accepted: My account.
      await page.waitForURL((u) => u.pathname !== '/signin/mfa');
      assert.equal(
        pathOf(page),
        '/signin/mfa/verify',
        `the enrolment's code, used once already, was accepted again (landed on ${page.url()})`,
      );
      const alert = page.getByRole('alert');
      await alert.waitFor();
      assert.match((await alert.textContent()) ?? '', /^That code is not right/);
      await expectTitle(page, 'Verify your identity');
      assert.equal(await sessionCookie(context), undefined, 'a refused code starts no session');

      // The next time step's code is within the ±1 step the server accepts, and not used yet.
      const nextStepCode = await oathtool(secret, Math.floor(Date.now() / 1000) + 30);
      assert.notEqual(nextStepCode, enrolmentCode);
      await page.getByLabel('Code', { exact: true }).fill(nextStepCode);
      await page.getByRole('button', { name: 'Verify', exact: true }).click();
      await page.waitForURL(`${base}/account`);
      await expectTitle(page, 'My account');
      assert.ok(await sessionCookie(context), 'signed in with the next code');
    } finally {
      await close(context);
    }
  });

  it('registers a code by email to another address in Dutch, read from the outbox', async () => {
    const { context, page } = await open('nl-NL');
    try {
      await signIn(page, NL, DUTCH.address, DUTCH.password);
      await page.waitForURL(`${base}/signin/mfa`);
      assert.equal(await page.locator('html').getAttribute('lang'), 'nl');
      await expectTitle(page, 'Meer informatie vereist');
      await page.getByRole('button', { name: 'Nu instellen', exact: true }).click();

      await expectTitle(page, 'Hoe kunnen we contact met u opnemen?');
      await page.getByRole('radio', { name: 'E-mail naar een ander adres', exact: true }).check();
      await page.getByRole('button', { name: 'Volgende', exact: true }).click();

      // The second step asks for the address alone (#17, task A); a refused one stays in the
      // field, with the reason right above it, and the field says it is invalid.
      await expectTitle(page, 'E-mail naar een ander adres');
      assert.equal(await page.locator('input[type="tel"], input[type="radio"]').count(), 0, 'only the address');
      const field = page.getByLabel('Alternatief e-mailadres', { exact: true });
      await field.fill(DUTCH.address);
      await page.getByRole('button', { name: 'Volgende', exact: true }).click();
      await expectTitle(page, 'E-mail naar een ander adres');
      assert.equal(await field.inputValue(), DUTCH.address, 'what was typed is still there');
      assert.equal(await field.getAttribute('aria-invalid'), 'true');
      assert.match(
        (await page.locator('#contact-error').textContent()) ?? '',
        /Gebruik een ander adres dan uw werk- of schoolaccount/,
      );
      assert.equal(await field.getAttribute('aria-describedby'), 'contact-error alt-email-hint');
      await field.fill(DUTCH.alternate);
      await page.getByRole('button', { name: 'Volgende', exact: true }).click();

      await expectTitle(page, 'Uw methode verifiëren');
      assert.equal(
        (await page.locator('#code-sent').textContent())?.trim(),
        'We hebben een code gestuurd naar n•••@example.org. Voer die hieronder in.',
      );
      const mail = lastMessageTo(DUTCH.alternate);
      assert.equal(mail.channel, 'email');
      assert.equal(mail.locale, 'nl');
      assert.equal(mail.subject, 'Uw verificatiecode van Sesame');
      const m = /^Uw verificatiecode van Sesame is (\d{6})\. De code is 10 minuten geldig\./.exec(mail.text);
      assert.ok(m, `the message is in Dutch and holds a 6-digit code: ${mail.text}`);
      await page.getByLabel('Code', { exact: true }).fill(m[1]!);
      await page.getByRole('button', { name: 'Verifiëren', exact: true }).click();

      await expectTitle(page, 'Verificatie geslaagd');
      assert.match((await page.locator('main').textContent()) ?? '', /Uw e-mail naar een ander adres is geregistreerd/);
      await page.getByRole('button', { name: 'Volgende', exact: true }).click();

      await expectTitle(page, 'Uw bestaande toepassingen blijven gebruiken');
      assert.match(
        ((await page.locator('#app-password').textContent()) ?? '').trim(),
        APP_PASSWORD,
        'an app password is shown',
      );
      await page.getByRole('button', { name: 'Volgende', exact: true }).click();

      await expectTitle(page, 'Bewaar uw herstelcodes');
      assert.equal(await page.locator('#recovery-codes li').count(), 10);
      await page.getByRole('button', { name: 'Gereed', exact: true }).click();
      await page.waitForURL(`${base}/account`);
      await expectTitle(page, 'Mijn account');
      assert.equal((await page.locator('#account-name').textContent())?.trim(), DUTCH.name);

      // Sign out and in again: the second step emails a new code to the alternate address.
      await page.getByRole('button', { name: 'Afmelden', exact: true }).click();
      await page.waitForURL(`${base}/signin?m=signedout`);
      await signIn(page, NL, DUTCH.address, DUTCH.password);
      await page.waitForURL(`${base}/signin/mfa`);
      await expectTitle(page, 'Uw identiteit verifiëren');
      const again = /is (\d{6})\./.exec(lastMessageTo(DUTCH.alternate).text);
      assert.ok(again && again[1] !== m[1], 'a new code was emailed');
      await page.getByLabel('Code', { exact: true }).fill(again[1]!);
      await page.getByRole('button', { name: 'Verifiëren', exact: true }).click();
      await page.waitForURL(`${base}/account`);
      await expectTitle(page, 'Mijn account');
    } finally {
      await close(context);
    }
  });

  it('does not open My account or Security info between the password and the second step', async () => {
    const { context, page } = await open('en-US');
    try {
      await signIn(page, EN, PENDING.address, PENDING.password);
      await page.waitForURL(`${base}/signin/mfa`);
      await expectTitle(page, 'More information required');
      await expectNoSessionYet(page, context);
      // The registration is still where it was left.
      await page.goto('/signin/mfa');
      await expectTitle(page, 'More information required');
    } finally {
      await close(context);
    }
  });
});
