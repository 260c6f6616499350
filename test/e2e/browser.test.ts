/**
 * End to end in a real browser: the real CLI sets up a SQLite store in a temporary folder, the
 * real server (`node dist/src/main.js`) listens on a free loopback port, and Debian's Chromium,
 * driven by playwright-core, signs in and out in English and Dutch, uses the visible language
 * switch, and sees the generic message for a wrong password. Every process started here is
 * stopped in `after`, whether the tests pass or not.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { adminBrowserSuite } from '../support/admin-browser.js';

const ADMIN = { address: 'ada@contoso.test', password: 'violet-harbour-lantern-42', name: 'Ada Admin' };
const SESSION_COOKIE = 'sesame_session';
const DUTCH = {
  email: 'E-mail',
  password: 'Wachtwoord',
  signIn: 'Aanmelden',
  verify: 'Verifiëren',
  otherWay: 'Op een andere manier aanmelden',
  recovery: 'Herstelcode',
};

describe('the web pages in Chromium (real CLI, real server)', () => {
  // Admins sign in with a second factor: Ada registers an authenticator app first (over the API).
  const suite = adminBrowserSuite(ADMIN, { tmpPrefix: 'sesame-e2e-' });

  const pathOf = (page: Page) => new URL(page.url()).pathname;
  const text = async (page: Page, selector: string) => (await page.locator(selector).textContent())?.trim();

  it('signs in and out in English, and the session is gone on the server afterwards', async () => {
    const { context, page } = await suite.open({ locale: 'en-US' });
    try {
      await page.goto('/signin');
      assert.equal(await page.locator('html').getAttribute('lang'), 'en');
      await suite.signInAdmin(page);
      await page.waitForURL(`${suite.base}/account`);
      assert.equal(await text(page, '#account-name'), ADMIN.name);
      assert.equal(await text(page, '#account-org'), 'Contoso');

      const session = (await context.cookies()).find((c) => c.name === SESSION_COOKIE);
      assert.ok(session, 'signing in set the session cookie');
      assert.equal(session.httpOnly, true);

      await page.getByRole('button', { name: 'Sign out', exact: true }).click();
      await page.waitForURL(`${suite.base}/signin?m=signedout`);
      assert.equal((await page.getByRole('status').textContent())?.trim(), 'You have signed out.');
      await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
      assert.equal(
        (await context.cookies()).find((c) => c.name === SESSION_COOKIE),
        undefined,
        'sign-out cleared the cookie',
      );

      await page.goto('/account');
      assert.equal(pathOf(page), '/signin');
      assert.equal(new URL(page.url()).searchParams.get('next'), '/account');

      // Replay the old cookie in a fresh profile: the server must have ended that session.
      const { context: replay, page: replayPage } = await suite.open({ locale: 'en-US' });
      try {
        await replay.addCookies([session]);
        await replayPage.goto('/account');
        assert.equal(pathOf(replayPage), '/signin', 'the old session cookie no longer opens My account');
        assert.equal(new URL(replayPage.url()).searchParams.get('m'), 'expired');
      } finally {
        await suite.close(replay);
      }
    } finally {
      await suite.close(context);
    }
  });

  it('signs in and out in Dutch when the browser asks for Dutch', async () => {
    const { context, page } = await suite.open({ locale: 'nl-NL' });
    try {
      await page.goto('/signin');
      assert.equal(await page.locator('html').getAttribute('lang'), 'nl');
      await suite.signInAdmin(page, DUTCH);
      await page.waitForURL(`${suite.base}/account`);
      assert.equal((await page.getByRole('heading', { level: 1 }).textContent())?.trim(), 'Mijn account');
      assert.equal(await text(page, '#account-name'), ADMIN.name);

      await page.getByRole('button', { name: 'Afmelden', exact: true }).click();
      await page.waitForURL(`${suite.base}/signin?m=signedout`);
      assert.equal((await page.getByRole('status').textContent())?.trim(), 'U bent afgemeld.');
      await page.goto('/account');
      assert.equal(pathOf(page), '/signin');
    } finally {
      await suite.close(context);
    }
  });

  it('switches an English sign-in page to Dutch with the Nederlands button', async () => {
    const { context, page } = await suite.open({ locale: 'en-US' });
    try {
      await page.goto('/signin');
      await page.getByLabel('Email').waitFor();
      assert.equal(
        await page.getByRole('button', { name: 'English', exact: true }).getAttribute('aria-current'),
        'true',
      );

      await page.getByRole('button', { name: 'Nederlands', exact: true }).click();
      // Same URL before and after, so wait for the page itself to change language.
      await page.locator('html[lang="nl"]').waitFor({ state: 'attached' });
      assert.equal(pathOf(page), '/signin');
      await page.getByLabel('E-mail').waitFor();
      await page.getByLabel('Wachtwoord').waitFor();
      await page.getByRole('button', { name: 'Aanmelden', exact: true }).waitFor();
      assert.equal(
        await page.getByRole('button', { name: 'Nederlands', exact: true }).getAttribute('aria-current'),
        'true',
      );
      assert.equal(await page.getByRole('button', { name: 'English', exact: true }).getAttribute('aria-current'), null);

      // The choice is remembered over the browser's English Accept-Language.
      await page.reload();
      assert.equal(await page.locator('html').getAttribute('lang'), 'nl');
    } finally {
      await suite.close(context);
    }
  });

  it('shows the generic message for a wrong password and stays on the sign-in page', async () => {
    const { context, page } = await suite.open({ locale: 'en-US' });
    try {
      await page.goto('/signin');
      await page.getByLabel('Email').fill(ADMIN.address);
      await page.getByLabel('Password').fill('not-the-right-password-1');
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      const alert = page.getByRole('alert');
      await alert.waitFor();
      assert.equal((await alert.textContent())?.trim(), 'Your account or password is incorrect.');
      assert.equal(pathOf(page), '/signin');
      assert.equal(await page.getByLabel('Email').inputValue(), ADMIN.address, 'the address typed is kept');
      assert.equal(await page.getByLabel('Password').inputValue(), '', 'the password is not sent back');
      assert.equal(
        (await context.cookies()).find((c) => c.name === SESSION_COOKIE),
        undefined,
      );
    } finally {
      await suite.close(context);
    }
  });
});
