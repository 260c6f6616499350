/**
 * App passwords end to end, the whole product flow in headless Chromium, in English and in Dutch:
 * the real CLI sets up a SQLite store in a temporary folder and turns MFA on for three users, the
 * real server (`node dist/src/main.js`) listens on a free loopback port, and Debian's Chromium
 * (playwright-core) signs in with the password -> "Set it up now" -> "Authenticator app" (QR code
 * decoded by `zbarimg`, codes from `oathtool`) -> "Verify" -> "Next" -> "Keep using your existing
 * applications" -> "Copy", and the clipboard must then hold exactly the password shown.
 *
 *   - After "Next" -> recovery codes -> "Done" the user is signed in; Security info lists the app
 *     password made at registration ("Existing applications" / "Bestaande toepassingen"), and a
 *     second one named `<svg onload=alert(1)>` is shown once, with Copy, its name as text (no
 *     dialog ever opens, no <svg> element appears).
 *   - /help/app-passwords in both languages: its title and its five steps.
 *   - With JavaScript off the Copy button stays hidden and the password is there to select.
 *
 * With SESAME_SCREENSHOTS=1 it also writes docs/images/app-password.png (1280x800, the English
 * "Keep using your existing applications" page). Everything it starts is stopped, and the temporary
 * folder removed, in `after`, whether the tests pass or not.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
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
  SHIPPED_WORKERS,
} from '../support/processes.js';
import { payloads, readPlist } from '../support/plist.js';

const run = promisify(execFile);

const DOCS_IMAGES = path.join(ROOT, 'docs/images');
const VIEWPORT = { width: 1280, height: 800 };
/** Debian package -> the command the test runs (scripts/test.sh installs them). */
const TOOLS = { chromium: CHROMIUM, oathtool: '/usr/bin/oathtool', 'zbar-tools': '/usr/bin/zbarimg' };

const ENGLISH = { address: 'erin@contoso.test', password: 'copper-window-meadow-58', name: 'Erin English' };
const DUTCH = { address: 'noor@contoso.test', password: 'tulpen-molen-gracht-31', name: 'Noor Nederlands' };
const NOSCRIPT = { address: 'sam@contoso.test', password: 'silver-pebble-orchard-64', name: 'Sam Scriptless' };
const APPLE = { address: 'ivy@contoso.test', password: 'orchard-copper-harbour-27', name: 'Ivy Apple' };
const SESSION_COOKIE = 'sesame_session';
/** An app password as shown: five groups of four letters from the alphabet without i, l and o. */
const APP_PASSWORD = /^[a-hjkmnp-z]{4}( [a-hjkmnp-z]{4}){4}$/;
const HOSTILE_NAME = '<svg onload=alert(1)>';

/** Everything the flow shows, in one language. */
interface Words {
  locale: string;
  lang: string;
  email: string;
  password: string;
  signIn: string;
  moreInfo: string;
  setUp: string;
  choose: string;
  totp: string;
  next: string;
  verifyTitle: string;
  qrAlt: string;
  verify: string;
  enrolled: string;
  keepTitle: string;
  keepBody: string;
  apps: string[];
  help: string;
  copy: string;
  copied: string;
  done: string;
  recoveryTitle: string;
  account: string;
  security: string;
  existing: string;
  name: string;
  create: string;
  created: (name: string) => string;
  helpTitle: string;
  helpSteps: string[];
}

const EN: Words = {
  locale: 'en-US',
  lang: 'en',
  email: 'Email',
  password: 'Password',
  signIn: 'Sign in',
  moreInfo: 'More information required',
  setUp: 'Set it up now',
  choose: 'How should we contact you?',
  totp: 'Authenticator app',
  next: 'Next',
  verifyTitle: 'Verify your method',
  qrAlt: 'QR code for your authenticator app',
  verify: 'Verify',
  enrolled: 'Verification succeeded',
  keepTitle: 'Keep using your existing applications',
  keepBody:
    'Some apps, like Outlook 2016 and older, Apple Mail and the mail apps on phones, cannot ask for your second factor. Use this app password in them instead of your password. You do not need to memorise it.',
  apps: [
    'Outlook 2016 and older versions',
    'Apple Mail, and the Mail, Calendar and Contacts apps on iPhone and iPad',
    'The built-in mail apps on Android phones',
    'Printers and scanners that send email',
  ],
  help: 'What are app passwords?',
  copy: 'Copy',
  copied: 'Copied.',
  done: 'Done',
  recoveryTitle: 'Save your recovery codes',
  account: 'My account',
  security: 'Security info',
  existing: 'Existing applications',
  name: 'Name',
  create: 'Create app password',
  created: (name) => `Your new app password for "${name}". Copy it into the app now: it is shown only this once.`,
  helpTitle: 'App passwords',
  helpSteps: [
    'Sign in with your work or school account and your password.',
    'Choose Set it up now.',
    'Select your authentication method and follow the prompts.',
    'After you verify your alternate contact method, choose Next.',
    'You get an app password that you can use with Outlook, Apple Mail and other apps that need it. Choose Copy to copy the password so you can paste it elsewhere (you do not need to memorise it).',
  ],
};

const NL: Words = {
  locale: 'nl-NL',
  lang: 'nl',
  email: 'E-mail',
  password: 'Wachtwoord',
  signIn: 'Aanmelden',
  moreInfo: 'Meer informatie vereist',
  setUp: 'Nu instellen',
  choose: 'Hoe kunnen we contact met u opnemen?',
  totp: 'Verificatie-app',
  next: 'Volgende',
  verifyTitle: 'Uw methode verifiëren',
  qrAlt: 'QR-code voor uw verificatie-app',
  verify: 'Verifiëren',
  enrolled: 'Verificatie geslaagd',
  keepTitle: 'Uw bestaande toepassingen blijven gebruiken',
  keepBody:
    'Sommige apps, zoals Outlook 2016 en ouder, Apple Mail en de e-mail-apps op telefoons, kunnen niet om uw tweede factor vragen. Gebruik daarin dit app-wachtwoord in plaats van uw wachtwoord. U hoeft het niet te onthouden.',
  apps: [
    'Outlook 2016 en oudere versies',
    'Apple Mail, en de apps Mail, Agenda en Contacten op iPhone en iPad',
    'De ingebouwde e-mail-apps op Android-telefoons',
    'Printers en scanners die e-mail versturen',
  ],
  help: 'Wat zijn app-wachtwoorden?',
  copy: 'Kopiëren',
  copied: 'Gekopieerd.',
  done: 'Gereed',
  recoveryTitle: 'Bewaar uw herstelcodes',
  account: 'Mijn account',
  security: 'Beveiligingsgegevens',
  existing: 'Bestaande toepassingen',
  name: 'Naam',
  create: 'App-wachtwoord maken',
  created: (name) =>
    `Uw nieuwe app-wachtwoord voor "${name}". Kopieer het nu naar de app: het wordt alleen deze keer getoond.`,
  helpTitle: 'App-wachtwoorden',
  helpSteps: [
    'Meld u aan met uw werk- of schoolaccount en uw wachtwoord.',
    'Kies Nu instellen.',
    'Selecteer uw verificatiemethode en volg de aanwijzingen.',
    'Kies Volgende nadat u uw alternatieve contactmethode hebt geverifieerd.',
    'U krijgt een app-wachtwoord dat u kunt gebruiken met Outlook, Apple Mail en andere apps die het nodig hebben. Kies Kopiëren om het wachtwoord te kopiëren, zodat u het ergens anders kunt plakken (u hoeft het niet te onthouden).',
  ],
};

/** The current TOTP code for a base32 secret, from oathtool. */
async function oathtool(secret: string): Promise<string> {
  const { stdout } = await run(TOOLS.oathtool, ['--totp', '-b', secret], { timeout: 20_000 });
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

describe('app passwords in Chromium (real CLI, real server, oathtool, zbarimg, clipboard)', () => {
  let dataDir: string | undefined;
  let server: StartedServer | undefined;
  let browser: Browser | undefined;
  let base = '';
  let cliEnv: NodeJS.ProcessEnv = {};
  const contexts = new Set<BrowserContext>();

  before(async () => {
    for (const [pkg, file] of Object.entries(TOOLS)) {
      if (!fs.existsSync(file))
        throw new Error(
          `${file} not found: these tests need the Debian package ${pkg}. Install it with: sudo apt-get install ${pkg}`,
        );
    }
    requireBuild();

    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-ap-e2e-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // No SMTP: notices go to the development outbox.
    // As `npm start` runs it: one worker per core.
    const env = outboxEnv(dataDir, port, path.join(dataDir, 'outbox.jsonl'), {
      SESAME_PUBLIC_URL: base,
      SESAME_WORKERS: SHIPPED_WORKERS,
    });

    // No `org policy`: app passwords are allowed by default, which is what puts the step in the flow.
    await sesame(env, ['org', 'add', 'contoso.test', '--name', 'Contoso']);
    for (const u of [ENGLISH, DUTCH, NOSCRIPT, APPLE]) {
      await sesame(env, ['user', 'add', u.address, '--name', u.name, '--password-stdin'], `${u.password}\n`);
      assert.match(await sesame(env, ['user', 'mfa', u.address, 'enabled']), /is now enabled/);
    }

    server = await startServer({ env });
    cliEnv = env;

    browser = await launchChromium();
  });

  after(() => teardown({ contexts, browser, server, dataDir }));

  /**
   * A fresh browser profile (own cookies, own permissions) in `locale`, which also sets
   * Accept-Language. Every dialog (alert, confirm, prompt) the page opens is recorded and dismissed.
   */
  async function open(
    locale: string,
    options: BrowserContextOptions = {},
  ): Promise<{ context: BrowserContext; page: Page; dialogs: string[] }> {
    assert.ok(browser, 'the browser did not start');
    const context = await browser.newContext({ locale, baseURL: base, viewport: VIEWPORT, ...options });
    contexts.add(context);
    context.setDefaultTimeout(20_000);
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(`${d.type()}: ${d.message()}`);
      void d.dismiss().catch(() => {});
    });
    return { context, page, dialogs };
  }

  async function close(context: BrowserContext) {
    contexts.delete(context);
    await context.close();
  }

  const sessionCookie = async (context: BrowserContext) =>
    (await context.cookies()).find((c) => c.name === SESSION_COOKIE);
  const text = async (page: Page, selector: string) => (await page.locator(selector).textContent()) ?? '';

  /** Waits for the page whose <h1> is exactly `title` (the pages post, then redirect). */
  async function expectTitle(page: Page, title: string) {
    await page.getByRole('heading', { level: 1, name: title, exact: true }).waitFor();
    assert.ok(
      (await page.title()).startsWith(`${title} · `),
      `the document title ${JSON.stringify(await page.title())} starts with ${JSON.stringify(title)}`,
    );
  }

  /**
   * Password -> "Set it up now" -> "Authenticator app" -> verification (the key read from the QR
   * code by zbarimg, or from the page's text when `qr` is false) -> "Next": ends on "Keep using
   * your existing applications".
   */
  async function registerUpToAppPassword(
    page: Page,
    context: BrowserContext,
    w: Words,
    u: { address: string; password: string },
    qr = true,
  ) {
    await page.goto('/signin');
    await page.getByLabel(w.email, { exact: true }).fill(u.address);
    await page.getByLabel(w.password, { exact: true }).fill(u.password);
    await page.getByRole('button', { name: w.signIn, exact: true }).click();
    await page.waitForURL(`${base}/signin/mfa`);
    assert.equal(await page.locator('html').getAttribute('lang'), w.lang);
    await expectTitle(page, w.moreInfo);
    await page.getByRole('button', { name: w.setUp, exact: true }).click();

    await expectTitle(page, w.choose);
    await page.getByRole('radio', { name: w.totp, exact: true }).check();
    await page.getByRole('button', { name: w.next, exact: true }).click();

    await expectTitle(page, w.verifyTitle);
    const shown = (await text(page, '#totp-secret')).replace(/\s/g, '');
    assert.match(shown, /^[A-Z2-7]{32}$/, `the key shown is 160-bit base32: ${shown}`);
    let secret = shown;
    if (qr) {
      const img = page.locator('#totp-qr');
      assert.equal(await img.getAttribute('alt'), w.qrAlt);
      const png = path.join(dataDir!, `totp-qr-${w.lang}.png`);
      await img.screenshot({ path: png });
      const uri = new URL(await zbarimg(png));
      assert.equal(uri.protocol, 'otpauth:');
      // Filed under the organization's name in the authenticator app, as Microsoft and Google do.
      assert.equal(decodeURIComponent(uri.pathname.slice(1)), `Contoso:${u.address}`);
      assert.equal(uri.searchParams.get('issuer'), 'Contoso');
      secret = uri.searchParams.get('secret') ?? '';
      assert.equal(secret, shown, 'the QR code holds the key shown as text');
    }
    await page.getByLabel('Code', { exact: true }).fill(await oathtool(secret));
    await page.getByRole('button', { name: w.verify, exact: true }).click();

    await expectTitle(page, w.enrolled);
    await page.getByRole('button', { name: w.next, exact: true }).click();

    await expectTitle(page, w.keepTitle);
    assert.equal(await sessionCookie(context), undefined, 'no session while the app password is shown');
  }

  /** "Next" on the app-password page -> recovery codes -> "Done" -> My account, signed in. */
  async function finishRegistration(page: Page, context: BrowserContext, w: Words, u: { name: string }) {
    await page.getByRole('button', { name: w.next, exact: true }).click();
    await expectTitle(page, w.recoveryTitle);
    assert.equal(await page.locator('#recovery-codes li').count(), 10);
    await page.getByRole('button', { name: w.done, exact: true }).click();
    await page.waitForURL(`${base}/account`);
    await expectTitle(page, w.account);
    assert.equal((await text(page, '#account-name')).trim(), u.name);
    assert.ok(await sessionCookie(context), 'signed in after Done');
  }

  /**
   * Puts a sentinel on the clipboard, clicks Copy, and returns what the clipboard then holds and
   * the text of #app-password. The status next to the button must say `copied`.
   */
  async function copy(page: Page, w: Words): Promise<{ clipboard: string; shown: string }> {
    const sentinel = `not copied yet ${Date.now()}`;
    await page.evaluate((s) => navigator.clipboard.writeText(s), sentinel);
    assert.equal(
      await page.evaluate(() => navigator.clipboard.readText()),
      sentinel,
      'the clipboard can be written and read',
    );
    const button = page.getByRole('button', { name: w.copy, exact: true });
    assert.equal(await button.isVisible(), true, 'the page script revealed the Copy button');
    await button.click();
    const status = page.locator('.app-password .copied[role="status"]');
    await page.waitForFunction(() => (document.querySelector('.app-password .copied')?.textContent ?? '') !== '');
    assert.equal((await status.textContent())?.trim(), w.copied);
    const shown = (await page.locator('#app-password').textContent()) ?? '';
    const clipboard = await page.evaluate(() => navigator.clipboard.readText());
    return { clipboard, shown };
  }

  for (const [w, u] of [
    [EN, ENGLISH],
    [NL, DUTCH],
  ] as const) {
    it(`${w.lang}: sign-in -> ${w.setUp} -> ${w.totp} -> ${w.verify} -> ${w.next} -> ${w.copy}: the clipboard holds exactly the password shown; then Security info`, async () => {
      const { context, page, dialogs } = await open(w.locale);
      try {
        await registerUpToAppPassword(page, context, w, u);

        // "Keep using your existing applications": the text, the password, the apps, the help link.
        assert.equal(await page.locator('html').getAttribute('lang'), w.lang);
        await page.getByText(w.keepBody, { exact: true }).waitFor();
        const password = await text(page, '#app-password');
        assert.match(
          password,
          APP_PASSWORD,
          `the app password is five groups of four letters: ${JSON.stringify(password)}`,
        );
        assert.equal(await page.locator('#app-password').isVisible(), true);
        assert.deepEqual(
          (await page.locator('ul.apps li').allTextContents()).map((s) => s.trim()),
          w.apps,
        );
        const help = page.getByRole('link', { name: w.help, exact: true });
        assert.equal(await help.getAttribute('href'), '/help/app-passwords');
        // Next, not Done: the recovery codes follow, and only their page says Done (#17, task E).
        assert.equal(await page.locator('main button.primary').textContent(), w.next);
        assert.equal(await page.getByRole('button', { name: w.done, exact: true }).count(), 0);
        if (w === EN && process.env.SESAME_SCREENSHOTS === '1') {
          fs.mkdirSync(DOCS_IMAGES, { recursive: true });
          await page.screenshot({ path: path.join(DOCS_IMAGES, 'app-password.png') });
        }

        // Copy: exactly the password shown goes to the clipboard.
        await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
        const copied = await copy(page, w);
        assert.equal(copied.shown, password, 'the password did not change on Copy');
        assert.equal(copied.clipboard, copied.shown, 'the clipboard holds exactly the text of #app-password');

        await finishRegistration(page, context, w, u);

        // Security info: the app password made at registration is listed, by its name in this language.
        await page.getByRole('link', { name: w.security, exact: true }).click();
        await page.waitForURL(`${base}/security-info`);
        await expectTitle(page, w.security);
        const names = page.locator('#app-password-list td.ap-name');
        assert.deepEqual(
          (await names.allTextContents()).map((s) => s.trim()),
          [w.existing],
          'one app password, from the registration',
        );
        assert.equal(await page.locator('#app-password').count(), 0, 'no secret is shown on the list');

        // Right after sign-in the second factor is fresh: a second one can be made at once. Its
        // name is markup; it must come back as text.
        await page.getByLabel(w.name, { exact: true }).fill(HOSTILE_NAME);
        await page.getByRole('button', { name: w.create, exact: true }).click();
        await page.getByText(w.created(HOSTILE_NAME), { exact: true }).waitFor();
        const second = await text(page, '#app-password');
        assert.match(second, APP_PASSWORD);
        assert.notEqual(
          second.replace(/ /g, ''),
          password.replace(/ /g, ''),
          'a new password, not the first one again',
        );
        const again = await copy(page, w);
        assert.equal(again.clipboard, second, 'Copy on Security info copies exactly the new password');
        assert.deepEqual(
          (await names.allTextContents()).map((s) => s.trim()).sort(),
          [w.existing, HOSTILE_NAME].sort(),
          'the name is shown as text in the table',
        );
        assert.equal(await page.locator('main svg').count(), 0, 'the name made no <svg> element');
        await page.waitForTimeout(300); // an onload handler would have run by now
        assert.deepEqual(dialogs, [], 'no dialog opened');

        // Shown once: the page reloaded lists both and shows no secret.
        await page.goto('/security-info');
        await expectTitle(page, w.security);
        assert.equal(await page.locator('#app-password').count(), 0, 'the new password is not shown again');
        assert.equal(await names.count(), 2);
        assert.equal(await page.getByText(second, { exact: false }).count(), 0, 'the password is nowhere on the page');
        assert.deepEqual(dialogs, [], 'no dialog opened');
      } finally {
        await close(context);
      }
    });
  }

  it('an Apple configuration profile (#18, item 2): on a computer the new app password comes with a QR code (read by zbarimg) that opens the one-time link on a phone (no session, Dutch, 390 px); there Download gives the profile, read with plistlib; the link then works no more', async () => {
    await sesame(cliEnv, [
      'org',
      'mail-settings',
      'contoso.test',
      '--imap',
      'imap.contoso.test:993:tls',
      '--smtp',
      'smtp.contoso.test:465:tls',
    ]);
    const { context, page } = await open(EN.locale);
    try {
      await registerUpToAppPassword(page, context, EN, APPLE, false);
      const password = (await text(page, '#app-password')).replace(/ /g, '');
      const section = page.locator('#apple-profile');
      await section.getByRole('heading', { name: 'Set up an iPhone, iPad or Mac', exact: true }).waitFor();
      assert.equal(
        (await page.locator('#profile-signature').textContent())?.trim(),
        'This profile is not signed, so your device will show it as "Not Verified". That is expected here: before you install it, check that it names Contoso and ivy@contoso.test.',
      );
      const qr = page.locator('#profile-qr');
      assert.equal(await qr.isVisible(), true, 'the QR code is shown on a computer');
      const png = path.join(dataDir!, 'profile-qr.png');
      await qr.screenshot({ path: png });
      const landing = await zbarimg(png);
      assert.match(landing, new RegExp(`^${base.replace(/[.]/g, '\\.')}/apple-profile/[A-Za-z0-9_-]{43}$`));
      assert.equal(
        await page.locator('#profile-download').getAttribute('href'),
        `${new URL(landing).pathname}/download`,
      );
      // On a phone's width the code is hidden (a phone does not scan itself): the button remains.
      await page.setViewportSize({ width: 390, height: 800 });
      assert.equal(await qr.isVisible(), false, 'no QR code on a phone');
      assert.equal(await page.locator('#profile-download').isVisible(), true);

      // The phone: another browser, no Sesame session, in Dutch, opens what the QR code says.
      const phone = await open(NL.locale, { viewport: { width: 390, height: 844 }, acceptDownloads: true });
      try {
        await phone.page.goto(landing);
        await expectTitle(phone.page, 'Dit apparaat instellen');
        assert.match(
          (await text(phone.page, '#profile-holds')).trim(),
          /^Dit profiel stelt e-mail in voor ivy@contoso\.test \(Contoso\) met het app-wachtwoord "Existing applications"\.$/,
        );
        const [download] = await Promise.all([
          phone.page.waitForEvent('download'),
          phone.page.getByRole('link', { name: 'Download het profiel', exact: true }).click(),
        ]);
        assert.equal(download.suggestedFilename(), 'contoso.mobileconfig');
        const file = await download.path();
        const profile = readPlist(fs.readFileSync(file));
        const [mail] = payloads(profile, 'com.apple.mail.managed');
        assert.equal(mail!.IncomingMailServerHostName, 'imap.contoso.test');
        assert.equal(mail!.IncomingMailServerPortNumber, 993);
        assert.equal(mail!.OutgoingMailServerHostName, 'smtp.contoso.test');
        assert.equal(mail!.OutgoingMailServerPortNumber, 465);
        assert.equal(mail!.IncomingPassword, password, 'the app password shown on the computer');
        assert.equal(mail!.EmailAccountDescription, 'Contoso e-mail', "the phone's language");
        // Used: the landing page now says so.
        const again = await phone.page.goto(landing);
        assert.equal(again?.status(), 410);
        await expectTitle(phone.page, 'Deze link werkt niet meer');
      } finally {
        await close(phone.context);
      }
    } finally {
      await close(context);
      await sesame(cliEnv, ['org', 'mail-settings', 'contoso.test', '--clear']);
    }
  });

  it('/help/app-passwords in English and Dutch: its title and its five steps', async () => {
    for (const w of [EN, NL]) {
      const { context, page, dialogs } = await open(w.locale);
      try {
        const res = await page.goto('/help/app-passwords');
        assert.equal(res?.status(), 200);
        assert.equal(await page.locator('html').getAttribute('lang'), w.lang);
        await expectTitle(page, w.helpTitle);
        assert.deepEqual(
          (await page.locator('main ol.steps li').allTextContents()).map((s) => s.trim()),
          w.helpSteps,
          'the five steps',
        );
        assert.deepEqual(dialogs, []);
      } finally {
        await close(context);
      }
    }
  });

  it('without JavaScript: the Copy button stays hidden, the password is shown to select', async () => {
    const { context, page } = await open(EN.locale, { javaScriptEnabled: false });
    try {
      await registerUpToAppPassword(page, context, EN, NOSCRIPT, false);
      const secret = page.locator('#app-password');
      assert.equal(await secret.isVisible(), true, 'the password is visible');
      assert.match((await secret.textContent()) ?? '', APP_PASSWORD);
      // Page scripts are off; Playwright's own evaluation still runs and can read the computed style.
      assert.equal(
        await secret.evaluate((el) => getComputedStyle(el).userSelect),
        'all',
        'one click selects the whole password',
      );
      assert.equal(await page.locator('button.copy').count(), 1, 'the page has the Copy button');
      assert.equal(
        await page.locator('button.copy').isVisible(),
        false,
        'without the script the Copy button stays hidden',
      );
      assert.equal(await page.locator('.app-password .copied').textContent(), '', 'no status');
      await finishRegistration(page, context, EN, NOSCRIPT);
    } finally {
      await close(context);
    }
  });
});
