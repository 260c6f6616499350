/**
 * Makes the screenshots in docs/images/ (not a test): the real CLI sets up a SQLite store in a
 * temporary folder with a few users, the real server listens on a free loopback port, Debian's
 * Chromium makes a couple of failed sign-ins (so the sign-in log has rows), signs in as the admin
 * and saves 1280x800 PNGs of the sign-in page, the Users page, one user's page and the Sign-in log,
 * and 390x844 ones (a phone) of a new app password and of the Sign-in log. Everything it
 * started is stopped and the temporary folder removed, whatever happens.
 *
 *   npx tsc -p . && node dist/test/e2e/screenshots.js
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { adminApiToken, adminSecondFactor } from '../support/admin-mfa.js';
import {
  freePort,
  launchChromium,
  requireBuild,
  requireChromium,
  ROOT,
  runSesameCli as sesame,
  startServer,
  type StartedServer,
} from '../support/processes.js';

const OUT = path.join(ROOT, 'docs/images');
const VIEWPORT = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

const ADMIN = { address: 'ada@contoso.test', password: 'violet-harbour-lantern-42', name: 'Ada Admin' };
const USERS = [
  { address: 'bob@contoso.test', name: 'Bob Builder', password: 'quiet-meadow-copper-77' },
  { address: 'carol@contoso.test', name: 'Carol Chen', password: 'amber-glacier-tunnel-19' },
];

async function signIn(page: Page, address: string, password: string): Promise<void> {
  await page.goto('/signin');
  await page.getByLabel('Email').fill(address);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForLoadState('load');
}

async function shoot(page: Page, name: string): Promise<void> {
  const file = path.join(OUT, name);
  await page.screenshot({ path: file, fullPage: false });
  console.log(`wrote ${path.relative(ROOT, file)}`);
}

async function main(): Promise<void> {
  requireChromium();
  requireBuild();

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-shots-'));
  let server: StartedServer | undefined;
  let browser: Browser | undefined;
  try {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SESAME_DATA_DIR: dataDir,
      DATABASE_URL: '',
      SESAME_PUBLIC_URL: base,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
    };

    await sesame(env, ['org', 'add', 'contoso.test', '--name', 'Contoso']);
    await sesame(
      env,
      ['user', 'add', ADMIN.address, '--name', ADMIN.name, '--admin', '--password-stdin'],
      `${ADMIN.password}\n`,
    );
    for (const u of USERS)
      await sesame(env, ['user', 'add', u.address, '--name', u.name, '--password-stdin'], `${u.password}\n`);
    await sesame(env, ['user', 'add', 'dan@contoso.test', '--name', 'Dan Dekker']); // no password yet: gets a link
    await sesame(env, ['user', 'disable', 'carol@contoso.test']);

    server = await startServer({ env });

    browser = await launchChromium();
    fs.mkdirSync(OUT, { recursive: true });

    // The sign-in page as a first-time visitor sees it.
    const visitor = await browser.newContext({ locale: 'en-US', baseURL: base, viewport: VIEWPORT });
    visitor.setDefaultTimeout(20_000);
    const vp = await visitor.newPage();
    await vp.goto('/signin');
    await vp.getByLabel('Email').waitFor();
    await shoot(vp, 'signin.png');

    // Rows for the sign-in log: a wrong password, an unknown address, a disabled account, a success.
    await signIn(vp, USERS[0]!.address, 'not-my-password-1');
    await signIn(vp, 'mallory@contoso.test', 'guess-guess-guess');
    await signIn(vp, USERS[1]!.address, USERS[1]!.password);
    await signIn(vp, USERS[0]!.address, USERS[0]!.password);
    await visitor.close();

    const admin = await browser.newContext({ locale: 'en-US', baseURL: base, viewport: VIEWPORT });
    admin.setDefaultTimeout(20_000);
    const ap = await admin.newPage();
    // Admins sign in with a second factor: the admin registers an authenticator app (over the API), then answers the second step with its code.
    await adminApiToken(base, ADMIN);
    await signIn(ap, ADMIN.address, ADMIN.password);
    const answer = adminSecondFactor(base, ADMIN.address);
    if (answer.recovery) throw new Error('no TOTP step left for the admin: run the script again in 30 seconds');
    await ap.getByLabel('Code').fill(answer.code);
    await ap.getByRole('button', { name: 'Verify', exact: true }).click();
    await ap.waitForLoadState('load');
    if (new URL(ap.url()).pathname !== '/account') throw new Error(`signing in as the admin ended on ${ap.url()}`);
    await ap.getByRole('link', { name: 'Users', exact: true }).click();
    await ap.waitForURL(`${base}/admin/users`);
    await ap.locator('table').waitFor();
    await shoot(ap, 'users.png');
    // One user's page: details, methods, app passwords, sessions, sign-ins and actions.
    await ap.getByRole('link', { name: USERS[0]!.name, exact: true }).click();
    await ap.waitForURL(/\/admin\/users\/user\?/);
    await shoot(ap, 'user-page.png');
    await ap.getByRole('link', { name: 'Sign-in log', exact: true }).click();
    await ap.waitForURL(`${base}/admin/sign-ins`);
    await ap.locator('table').waitFor();
    await shoot(ap, 'signin-log.png');
    // On a phone: a new app password on Security info, scrolled into view with its Copy button.
    await ap.setViewportSize(PHONE);
    await ap.goto('/security-info');
    await ap.locator('#ap-name').fill('iPhone Mail');
    await ap.getByRole('button', { name: 'Create app password', exact: true }).click();
    await ap.waitForLoadState('load');
    await ap.locator('#app-password').waitFor();
    await shoot(ap, 'app-password-phone.png');
    await ap.goto('/admin/sign-ins');
    await shoot(ap, 'signin-log-phone.png');
    await admin.close();
  } finally {
    try {
      await browser?.close();
    } finally {
      await server?.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exitCode = 1;
});
