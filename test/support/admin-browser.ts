/**
 * What the admin console's browser tests set up alike: a SQLite data folder of their own, the real
 * CLI adding Contoso and an admin with a password, the real server on a free loopback port, the
 * admin's authenticator app registered over the JSON API (admins sign in with a second factor), and
 * Debian's Chromium. Called in a describe(), it adds that describe's `before` (all of the above) and
 * `after` (the browser contexts in `contexts`, the browser, the server and the folder, whatever
 * fails):
 *
 *     const suite = adminBrowserSuite(ADMIN, { tmpPrefix: 'sesame-e2e-dash-' });
 *     it('...', async () => {
 *       const { context, page } = await suite.open({ locale: 'en-US' });
 *       await page.goto('/signin?next=%2Fadmin%2Fdashboard');
 *       await suite.signInAdmin(page);
 *       await page.waitForURL(`${suite.base}/admin/dashboard`);
 *     });
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { adminApiToken, adminSecondFactor } from './admin-mfa.js';
import {
  freePort,
  launchChromium,
  requireBuild,
  requireChromium,
  runSesameCli as sesame,
  serverEnv,
  startServer,
  type StartedServer,
  teardown,
} from './processes.js';

export interface SuiteAdmin {
  address: string;
  password: string;
  name: string;
}

export interface AdminBrowserSuite {
  /** http://127.0.0.1:PORT of the server. */
  base: string;
  /** The admin's API session token from the registration. */
  token: string;
  dataDir: string | undefined;
  server: StartedServer | undefined;
  browser: Browser | undefined;
  /** Contexts a test opened; those still open are closed in `after`. */
  contexts: Set<BrowserContext>;
  /** A fresh browser profile (own cookies) on the server, 5 s for each wait, and its first page. */
  open(options?: BrowserContextOptions): Promise<{ context: BrowserContext; page: Page }>;
  /** Closes a profile `open` gave. */
  close(context: BrowserContext): Promise<void>;
  /**
   * On the sign-in page open in `page`: the admin's address and password, then the second step,
   * with the next TOTP code or (once this half-minute's codes are used) a recovery code through the
   * other way. Returns that answer; the page is then on its way to where the sign-in leads.
   */
  signInAdmin(page: Page, words?: SignInWords): Promise<{ code: string; recovery: boolean }>;
}

/** The sign-in pages' labels and buttons in one language. */
export interface SignInWords {
  email: string;
  password: string;
  signIn: string;
  verify: string;
  otherWay: string;
  recovery: string;
}

export const ENGLISH: SignInWords = {
  email: 'Email',
  password: 'Password',
  signIn: 'Sign in',
  verify: 'Verify',
  otherWay: 'Sign in another way',
  recovery: 'Recovery code',
};

export function adminBrowserSuite(
  admin: SuiteAdmin,
  opts: {
    tmpPrefix: string /** Runs once the CLI has made the store, before the server starts. */;
    seed?: (dataDir: string) => Promise<void>;
  },
): AdminBrowserSuite {
  const suite: AdminBrowserSuite = {
    base: '',
    token: '',
    dataDir: undefined,
    server: undefined,
    browser: undefined,
    contexts: new Set(),
    async open(options = {}) {
      assert.ok(suite.browser, 'the browser did not start');
      const context = await suite.browser.newContext({ baseURL: suite.base, ...options });
      suite.contexts.add(context);
      context.setDefaultTimeout(20_000);
      return { context, page: await context.newPage() };
    },
    async close(context) {
      suite.contexts.delete(context);
      await context.close();
    },
    async signInAdmin(page, words = ENGLISH) {
      await page.getByLabel(words.email).fill(admin.address);
      await page.getByLabel(words.password).fill(admin.password);
      await page.getByRole('button', { name: words.signIn, exact: true }).click();
      await page.waitForURL(`${suite.base}/signin/mfa`);
      const answer = adminSecondFactor(suite.base, admin.address);
      if (answer.recovery) {
        await page.getByText(words.otherWay, { exact: true }).click();
        await page.getByRole('button', { name: words.recovery, exact: true }).click();
      }
      await page.getByLabel('Code').fill(answer.code);
      await page.getByRole('button', { name: words.verify, exact: true }).click();
      return answer;
    },
  };
  before(async () => {
    requireChromium();
    requireBuild();
    suite.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), opts.tmpPrefix));
    const port = await freePort();
    suite.base = `http://127.0.0.1:${port}`;
    const env = serverEnv(suite.dataDir, port, { SESAME_PUBLIC_URL: suite.base });
    await sesame(env, ['org', 'add', 'contoso.test', '--name', 'Contoso']);
    await sesame(
      env,
      ['user', 'add', admin.address, '--name', admin.name, '--admin', '--password-stdin'],
      `${admin.password}\n`,
    );
    await opts.seed?.(suite.dataDir);
    suite.server = await startServer({ env });
    suite.token = await adminApiToken(suite.base, admin);
    suite.browser = await launchChromium();
  });
  after(() => teardown(suite));
  return suite;
}
