/**
 * Accessibility in a real browser, on both stores (test/support/stores.ts: SQLite in a temporary
 * folder, then a fresh PostgreSQL database): the services set up an organization and its users,
 * the real server (`node dist/src/main.js`) listens on a free loopback port, and Debian's
 * Chromium (playwright-core) opens every page (in English on SQLite, in Dutch on PostgreSQL; see
 * LANGS), runs axe-core on it under the pages' real CSP, and requires zero violations of impact
 * serious or critical (test/support/axe.ts).
 *
 *   - PAGES below is the list: one line per page or page state (an error shown, a flow step).
 *     To cover a new page, add a line; `who` says which browser session opens it. The last test
 *     reads the app's routes (test/support/routes.ts) and fails for a page route no line opened
 *     and NOT_TESTED does not explain.
 *   - Keyboard only: sign in, register an authenticator app, copy the app password, reach
 *     Security info and create an app password with Tab, Shift+Tab, arrow keys, Enter and Space;
 *     every tab stop on the way must show a visible focus indicator (test/support/keyboard.ts).
 *
 * One browser per store serves every page; everything started is stopped, and the temporary
 * folder and database removed, in `after`, whether the tests pass or not.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createContext } from '../../src/app/context.js';
import { buildApp } from '../../src/app/server.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { formatViolations, seriousViolations } from '../support/axe.js';
import { assertVisibleFocus, tabTo } from '../support/keyboard.js';
import {
  freePort,
  launchChromium,
  outboxEnv,
  requireBuild,
  ROOT,
  startServer,
  type StartedServer,
  teardown,
} from '../support/processes.js';
import { routesOf } from '../support/routes.js';
import { makeTestStore, STORE_KINDS, type StoreKind, type TestStore } from '../support/stores.js';
import { oathtoolTotp } from '../support/world.js';

const PASSWORD = 'violet-harbour-lantern-42';
const ORG = 'contoso.test';
const LOCALES = { en: 'en-US', nl: 'nl-NL' } as const;
type Lang = keyof typeof LOCALES;

/**
 * The languages each store's server is tested in. A page's markup depends on the language, not on
 * the store, so every page is opened in English on SQLite and in Dutch on PostgreSQL: each store
 * serves every page and every step, each language is checked on every page, in half the time of
 * the full product (which runs with SESAME_A11Y_ALL=1).
 */
const LANGS: Record<StoreKind, Lang[]> =
  process.env.SESAME_A11Y_ALL === '1'
    ? { sqlite: ['en', 'nl'], postgres: ['en', 'nl'] }
    : { sqlite: ['en'], postgres: ['nl'] };

/** The browser sessions the pages are opened in; each (store, language) has its own of each. */
type Who = 'nobody' | 'user' | 'admin';

/** What a page step can use: its session, the server and the data made for this run. */
interface Session {
  page: Page;
  context: BrowserContext;
  lang: Lang;
  /** The admin of this language (MFA enabled: registers in the first admin steps). */
  admin: string;
  /** A set-password link of a user who has none yet (path and query). */
  setPasswordPath: string;
  /** The admin's recovery codes, once registered (one signs in again at the end). */
  recoveryCodes: string[];
  /** The first step that failed: the steps after it start from the wrong page and fail at once. */
  failed?: string;
}

interface PageCase {
  name: string;
  who: Who;
  /**
   * A path to open (its answer must have `status`), or the steps that bring the page up from
   * where the session was left: the admin's steps run in this order and each starts on the page
   * the previous one ended on.
   */
  open: string | ((s: Session) => Promise<void>);
  /** The HTTP status when `open` is a path (200 unless said). */
  status?: number;
  /** A selector only the intended page (or state) has: axe is never run on the wrong page. */
  shows: string;
}

/**
 * The landing page of the profile link the admin's new app password came with, opened by nobody
 * next: per server and language (the stores' walks run side by side).
 */
const profileLanding = new Map<string, string>();
const walkKey = (s: Session) => `${new URL(s.page.url()).origin} ${s.lang}`;

/** Does `act` and waits for the page it leads to to load (post, redirect, get). */
async function andLoad(page: Page, act: () => Promise<unknown>): Promise<void> {
  const loaded = page.waitForEvent('load');
  await act();
  await loaded;
}

/** Clicks a submit button and waits for the page it leads to. */
const submit = (page: Page, button: string) => andLoad(page, () => page.locator(button).click());
/** The recovery codes a page shows, kept for later sign-ins once the authenticator's codes are used. */
const shownRecoveryCodes = async (page: Page) =>
  (await page.locator('#recovery-codes code').allTextContents()).map((c) => c.trim());

const signInWith = async (page: Page, address: string, password: string) => {
  await page.goto('/signin');
  await page.locator('#email').fill(address);
  await page.locator('#password').fill(password);
  await submit(page, 'form[action="/signin"] button[type="submit"]');
};

/** "Use another method", the method, Next; then, for a method that asks for it, its number or address and Next. */
const chooseMethod = async (s: Session, kind: string, fill?: { selector: string; value: string }) => {
  await submit(s.page, 'form[action$="/choose"] button');
  await s.page.locator(`input[name="kind"][value="${kind}"]`).check();
  await submit(s.page, 'form[action$="/pick"] button[type="submit"]');
  if (!fill) return;
  await s.page.locator(fill.selector).fill(fill.value);
  await submit(s.page, 'form[action$="/method"] button[type="submit"]');
};

/**
 * Every page and page state, signed out, as a user and as an admin. The admin's first steps are
 * the MFA registration (the admin signs in for the first time); pages added below the last admin
 * step run with the admin signed in with a second factor.
 */
const PAGES: PageCase[] = [
  // ---- signed out ----
  { name: 'sign-in', who: 'nobody', open: '/signin', shows: '#email' },
  {
    name: 'sign-in, wrong password',
    who: 'nobody',
    open: async (s) => signInWith(s.page, s.admin, 'not-the-password-1'),
    // The error is announced (role=alert) and the fields point at it.
    shows: '#page-error[role="alert"] ~ form #email[aria-describedby="page-error"]',
  },
  { name: 'sign-in, signed out', who: 'nobody', open: '/signin?m=signedout', shows: '.notice[role="status"]' },
  {
    name: 'set password',
    who: 'nobody',
    open: async (s) => void (await s.page.goto(s.setPasswordPath)),
    shows: '#confirm',
  },
  {
    name: 'set password, passwords differ',
    who: 'nobody',
    open: async (s) => {
      await s.page.goto(s.setPasswordPath);
      await s.page.locator('#password').fill('lantern-harbour-violet-1');
      await s.page.locator('#confirm').fill('lantern-harbour-violet-2');
      await submit(s.page, 'form[action="/set-password"] button[type="submit"]');
    },
    shows: '#confirm[aria-describedby="page-error"]',
  },
  {
    name: 'set password, unknown link (400)',
    who: 'nobody',
    open: '/set-password?token=no-such-token',
    status: 400,
    shows: 'main p.error',
  },
  { name: 'sign-in flow expired (400)', who: 'nobody', open: '/signin/mfa', status: 400, shows: 'main p.error' },
  { name: 'help: app passwords', who: 'nobody', open: '/help/app-passwords', shows: 'ol.steps' },
  { name: 'help: apps', who: 'nobody', open: '/help/apps', shows: '#help-apps #help-app-outlook' },
  // Signed out: the general steps and the sign-in link (the user's and admin's variants are below).
  { name: 'help: Outlook', who: 'nobody', open: '/help/apps/outlook', shows: '#sign-in-to-see ~ ol.steps' },
  { name: 'help: Apple Mail on iPhone', who: 'nobody', open: '/help/apps/apple-mail-ios', shows: 'ol.steps' },
  { name: 'help: Apple Mail on a Mac', who: 'nobody', open: '/help/apps/apple-mail-mac', shows: 'ol.steps' },
  { name: 'help: Android', who: 'nobody', open: '/help/apps/android', shows: 'ol.steps' },
  { name: 'help: Thunderbird', who: 'nobody', open: '/help/apps/thunderbird', shows: 'ol.steps' },
  { name: 'help: calendars and contacts', who: 'nobody', open: '/help/apps/calendars-contacts', shows: 'ol.steps' },
  { name: 'help: printers', who: 'nobody', open: '/help/apps/printers', shows: 'ol.steps' },
  { name: 'help: Wi-Fi and VPN', who: 'nobody', open: '/help/apps/wifi', shows: '#sign-in-to-see ~ ol.steps' },
  // This server runs no LDAP interface: the page says so to everyone.
  { name: 'help: LDAP, not turned on', who: 'nobody', open: '/help/apps/ldap', shows: '#not-offered' },
  {
    name: 'help: unknown app (404)',
    who: 'nobody',
    open: '/help/apps/no-such-app',
    status: 404,
    shows: 'main p.notice',
  },
  { name: 'not found (404)', who: 'nobody', open: '/no-such-page', status: 404, shows: 'main p.notice' },
  {
    name: 'OpenID Connect: interaction expired (400)',
    who: 'nobody',
    open: '/oidc/interaction/no-such-interaction',
    status: 400,
    shows: 'main p.error',
  },
  { name: 'forgot password', who: 'nobody', open: '/forgot-password', shows: 'form[action="/forgot-password"] #email' },
  {
    name: 'forgot password, link sent',
    who: 'nobody',
    open: async (s) => {
      await s.page.goto('/forgot-password');
      await s.page.locator('#email').fill(`bob@${ORG}`);
      await submit(s.page, 'form[action="/forgot-password"] button[type="submit"]');
    },
    shows: '.notice[role="status"]',
  },
  {
    name: 'reset link (400)',
    who: 'nobody',
    open: '/reset-password?token=no-such-token',
    status: 400,
    shows: 'main p.error',
  },

  // ---- a user without MFA (signed in when the session is made) ----
  { name: 'My account', who: 'user', open: '/account', shows: '#account-name' },
  { name: 'Security info, MFA off', who: 'user', open: '/security-info', shows: '#app-passwords' },
  { name: 'admin page refused (403)', who: 'user', open: '/admin/users', status: 403, shows: 'main p.error' },
  { name: 'change password', who: 'user', open: '/account/password', shows: '#current' },
  {
    name: 'Confirm your password (recent authentication)',
    who: 'user',
    open: '/security-info/reauth',
    shows: '#password',
  },
  { name: 'my sessions', who: 'user', open: '/account/sessions', shows: '#sessions' },
  // No settings until the admin's steps below save some (with SESAME_A11Y_ALL, the second language comes after).
  {
    name: 'help: Outlook, no mail settings yet',
    who: 'user',
    open: '/help/apps/outlook',
    shows: '#no-settings, #app-settings',
  },
  // RADIUS is not among the organization's (default) app-password protocols.
  { name: 'help: Wi-Fi, not offered', who: 'user', open: '/help/apps/wifi', shows: '#not-offered' },
  { name: 'my sign-ins', who: 'user', open: '/account/sign-ins', shows: '#my-sign-ins' },

  // ---- the admin: MFA registration at the first sign-in ----
  {
    name: 'MFA: more information required',
    who: 'admin',
    open: async (s) => signInWith(s.page, s.admin, PASSWORD),
    shows: 'form[action="/signin/mfa/setup"]',
  },
  {
    name: 'MFA: how should we contact you',
    who: 'admin',
    open: async (s) => submit(s.page, 'form[action="/signin/mfa/setup"] button'),
    shows: 'input[name="kind"][value="totp"]',
  },
  {
    name: 'MFA: authenticator app',
    who: 'admin',
    open: async (s) => {
      await s.page.locator('input[name="kind"][value="totp"]').check();
      await submit(s.page, 'form[action$="/pick"] button[type="submit"]');
    },
    shows: '#totp-qr',
  },
  {
    name: 'MFA: authenticator app, wrong code',
    who: 'admin',
    open: async (s) => {
      await s.page.locator('#code').fill('12345');
      await submit(s.page, 'form[action$="/verify"] button[type="submit"]');
    },
    shows: '#code[aria-describedby="page-error"]',
  },
  {
    name: 'MFA: security key',
    who: 'admin',
    open: (s) => chooseMethod(s, 'webauthn'),
    // The script enables the button: axe then sees the page as the user does.
    shows: '#webauthn-go:enabled',
  },
  {
    name: 'MFA: alternate email address',
    who: 'admin',
    open: (s) => chooseMethod(s, 'email'),
    shows: '#alt-email',
  },
  {
    name: 'MFA: alternate email address, refused',
    who: 'admin',
    open: async (s) => {
      await s.page.locator('#alt-email').fill(s.admin);
      await submit(s.page, 'form[action$="/method"] button[type="submit"]');
    },
    shows: '#alt-email[aria-invalid="true"][aria-describedby="contact-error alt-email-hint"]',
  },
  {
    name: 'MFA: code by email',
    who: 'admin',
    open: async (s) => {
      await s.page.locator('#alt-email').fill(`${s.lang}-private@example.org`);
      await submit(s.page, 'form[action$="/method"] button[type="submit"]');
    },
    shows: '#code-sent',
  },
  {
    name: 'MFA: verification succeeded',
    who: 'admin',
    open: async (s) => {
      await chooseMethod(s, 'totp');
      const secret = ((await s.page.locator('#totp-secret').textContent()) ?? '').replace(/\s/g, '');
      await s.page.locator('#code').fill(oathtoolTotp(secret, Date.now()));
      await submit(s.page, 'form[action$="/verify"] button[type="submit"]');
    },
    shows: 'button#next',
  },
  {
    name: 'MFA: keep using your existing applications',
    who: 'admin',
    open: async (s) => submit(s.page, 'button#next'),
    shows: 'button.copy:visible',
  },
  {
    name: 'MFA: recovery codes',
    who: 'admin',
    open: async (s) => {
      await submit(s.page, 'button#next');
      s.recoveryCodes = await shownRecoveryCodes(s.page);
    },
    shows: '#recovery-codes',
  },
  {
    name: 'My account (admin)',
    who: 'admin',
    open: async (s) => submit(s.page, 'button#done'),
    shows: '#account-name',
  },

  // ---- the admin's Security info ----
  { name: 'Security info', who: 'admin', open: '/security-info', shows: '#ap-name' },
  {
    name: 'Security info: a new app password',
    who: 'admin',
    open: async (s) => {
      // On a phone the new password is shown where the eye is, not below the fold (#17, item 1).
      await s.page.setViewportSize({ width: 390, height: 800 });
      await s.page.locator('#ap-name').fill('Phone');
      await submit(s.page, 'form[action="/security-info/app-passwords#ap-created"] button[type="submit"]');
      await inView(s.page, '#ap-created', '#app-password');
    },
    shows: '#app-password',
  },
  {
    name: 'Security info: new recovery codes',
    who: 'admin',
    open: async (s) => {
      await s.page.setViewportSize({ width: 390, height: 800 });
      await submit(s.page, 'form[action="/security-info/recovery-codes#rc-created"] button');
      await inView(s.page, '#rc-created');
      s.recoveryCodes = await shownRecoveryCodes(s.page);
    },
    shows: '#recovery-codes',
  },
  {
    name: 'Security info: add a method',
    who: 'admin',
    open: async (s) => submit(s.page, 'form[action="/security-info/add"] button'),
    shows: 'form[action="/security-info/flow/pick"]',
  },
  {
    name: 'Security info: rename an app password',
    who: 'admin',
    open: async (s) => {
      await s.page.goto('/security-info');
      await andLoad(s.page, () => s.page.locator('a.rename >> nth=0').click());
    },
    shows: 'form[action="/security-info/app-passwords/rename"] #ap-name',
  },
  {
    name: 'Security info: rename an app password, refused',
    who: 'admin',
    open: async (s) => {
      await s.page.locator('#ap-name').fill('   ');
      await submit(s.page, 'form[action="/security-info/app-passwords/rename"] button[type="submit"]');
    },
    shows: '#ap-name[aria-invalid="true"]',
  },
  {
    name: 'Security info: where an app password may be used from',
    who: 'admin',
    open: async (s) => {
      await s.page.goto('/security-info');
      await andLoad(s.page, () => s.page.locator('a.where >> nth=0').click());
    },
    shows: 'form[action="/security-info/app-passwords/where"] #ap-pin-network',
  },
  {
    name: 'Security info: where an app password may be used from, refused',
    who: 'admin',
    open: async (s) => {
      await s.page.locator('#ap-pin-network').fill('10.0.4.17/24');
      await submit(s.page, 'form[action="/security-info/app-passwords/where"] button[type="submit"]');
    },
    shows: '#ap-pin-network[aria-invalid="true"]',
  },

  {
    name: 'Security info: deleting an app password asks first',
    who: 'admin',
    open: async (s) => {
      await s.page.goto('/security-info');
      await submit(s.page, 'form[action="/security-info/app-passwords/delete"] button >> nth=0');
    },
    shows: '#confirmation',
  },

  // ---- the admin console ----
  { name: 'Users', who: 'admin', open: '/admin/users', shows: '#new-address' },
  {
    name: 'Users: a new user and their link',
    who: 'admin',
    open: async (s) => {
      await s.page.goto('/admin/users');
      await s.page.locator('#new-address').fill(`new-${s.lang}@${ORG}`);
      await submit(s.page, 'form[method="post"][action="/admin/users"] button[type="submit"]');
    },
    shows: '#set-password-link',
  },
  { name: 'Users: no match', who: 'admin', open: '/admin/users?q=no-such-user', shows: '#q' },
  {
    name: "Users: a user's page",
    who: 'admin',
    open: async (s) => void (await s.page.goto(`/admin/users/user?address=${encodeURIComponent(s.admin)}`)),
    shows: '#user-overview',
  },
  {
    name: "Users: a user's page, Send set-password link",
    who: 'admin',
    open: async (s) => {
      await s.page.goto(`/admin/users/user?address=${encodeURIComponent(`new-${s.lang}@${ORG}`)}`);
      await submit(s.page, '#set-password-make');
    },
    shows: '#set-password-link',
  },
  {
    name: "Users: an action on a user's page asks first",
    who: 'admin',
    open: async (s) => {
      await s.page.goto(`/admin/users/user?address=${encodeURIComponent(`new-${s.lang}@${ORG}`)}`);
      await submit(s.page, '#action-reregister');
    },
    shows: '#confirmation',
  },
  { name: 'Policy', who: 'admin', open: '/admin/policy', shows: '#mfa-default' },
  { name: 'Sign-in log', who: 'admin', open: '/admin/sign-ins', shows: 'main table' },
  { name: 'Integrations', who: 'admin', open: '/admin/integrations', shows: '#integration-list' },
  { name: 'Groups, none yet', who: 'admin', open: '/admin/groups', shows: '#groups-none' },
  {
    name: 'Groups: a group with a member',
    who: 'admin',
    open: async (s) => {
      await s.page.goto('/admin/groups');
      await s.page.locator('#group-name').fill('Staff');
      await submit(s.page, '#group-create');
      await s.page.locator('#member-address').fill(`bob@${ORG}`);
      await submit(s.page, '#member-add');
    },
    shows: '#group-members',
  },
  {
    name: 'Groups: removing a member asks first',
    who: 'admin',
    open: async (s) => {
      await submit(s.page, '#group-members button');
    },
    shows: '#confirmation',
  },
  {
    name: 'Groups: the preview of a CSV of memberships, with a problem',
    who: 'admin',
    open: async (s) => {
      await s.page.goto('/admin/groups');
      await andLoad(s.page, () => s.page.locator('#groups a').first().click());
      await s.page.locator('#group-csv').fill(`address,group\nbob@${ORG},Staff\nnobody@${ORG},Staff\n`);
      await submit(s.page, '#group-import');
    },
    shows: '#import-problems',
  },
  {
    name: 'Groups: who may use, on the list',
    who: 'admin',
    open: '/admin/groups',
    shows: '#group-limits #limit-app_passwords',
  },
  { name: 'Named locations, none yet', who: 'admin', open: '/admin/locations', shows: '#locations-none' },
  {
    name: 'Named locations: a network refused, the form kept',
    who: 'admin',
    open: async (s) => {
      await s.page.locator('#location-name').fill('Office');
      await s.page.locator('#location-networks').fill('192.0.2.1/24');
      await submit(s.page, '#location-create');
    },
    shows: '#page-error',
  },
  {
    name: 'Named locations: one with networks and countries',
    who: 'admin',
    open: async (s) => {
      await s.page.locator('#location-networks').fill('192.0.2.0/24\n2001:db8::/32');
      await s.page.locator('#location-countries').fill('NL, BE');
      await submit(s.page, '#location-create');
    },
    shows: '#locations',
  },
  {
    name: 'Named locations: an address checked',
    who: 'admin',
    open: async (s) => {
      await s.page.locator('#location-check-ip').fill('192.0.2.7');
      await submit(s.page, '#location-check-submit');
    },
    shows: '#location-check-matches',
  },
  {
    name: "Named locations: a location's page",
    who: 'admin',
    open: async (s) => {
      await andLoad(s.page, () => s.page.locator('#locations a').first().click());
    },
    shows: '#location-save',
  },
  {
    name: 'Named locations: deleting asks first',
    who: 'admin',
    open: async (s) => {
      await submit(s.page, '#location-delete');
    },
    shows: '#confirmation',
  },
  {
    name: 'Named locations: a rule refused ("only from" with no location), the form kept',
    who: 'admin',
    open: async (s) => {
      await s.page.goto('/admin/locations');
      await s.page.locator('#rule-imap-locations').check();
      await submit(s.page, '#location-rules-save');
    },
    shows: 'fieldset#rule-imap[aria-describedby="page-error"]',
  },
  {
    name: "Named locations: the rules saved, and a group's rule",
    who: 'admin',
    open: async (s) => {
      await s.page.locator('#rule-imap-locations').check();
      await s.page.locator('#rule-imap-which input[type="checkbox"]').first().check();
      await s.page.locator('#rule-smtp-never').check();
      await submit(s.page, '#location-rules-save');
      await s.page.locator('#group-rule-protocol').selectOption('pop3');
      await s.page.locator('#group-rule-never').check();
      await submit(s.page, '#location-group-rule-add');
    },
    shows: '#location-group-rules',
  },
  {
    name: "Users: where an admin's app password may be used from, chosen by an admin",
    who: 'admin',
    open: async (s) => {
      await s.page.goto(`/admin/users/user?address=${encodeURIComponent(s.admin)}`);
      await andLoad(s.page, () => s.page.locator('#app-password-list a.where').first().click());
    },
    shows: 'form[action="/admin/users/app-passwords/where"] #ap-pin-network',
  },
  {
    name: 'Users: where an app password may be used from, refused',
    who: 'admin',
    open: async (s) => {
      await s.page.locator('#ap-pin-network').fill('10.0.4.17/24');
      await submit(s.page, '#ap-where-save');
    },
    shows: '#ap-pin-network[aria-invalid="true"]',
  },
  { name: 'Mail settings', who: 'admin', open: '/admin/mail-settings', shows: '#imap-host' },
  {
    name: 'Mail settings: a problem beside its field',
    who: 'admin',
    open: async (s) => {
      await s.page.locator('#imap-host').fill('not a host');
      await s.page.locator('#imap-port').fill('993');
      await submit(s.page, '#mail-settings-save');
    },
    shows: '#page-error[role="alert"] ~ form #imap-host[aria-invalid="true"][aria-describedby~="imap-host-error"]',
  },
  {
    name: 'Mail settings: the result of the check',
    who: 'admin',
    open: async (s) => {
      // A closed port on this machine: the check answers at once, with a failure to show.
      await s.page.locator('#imap-host').fill('127.0.0.1');
      await s.page.locator('#imap-port').fill('1');
      await submit(s.page, '#mail-settings-save');
      await submit(s.page, '#mail-settings-check');
    },
    shows: '#check-results #check-imap.failure',
  },
  {
    name: 'help: Thunderbird with the saved mail settings',
    who: 'admin',
    open: '/help/apps/thunderbird',
    shows: '#app-settings #setting-imap code',
  },
  {
    name: 'help: calendars, not offered by these settings',
    who: 'admin',
    open: '/help/apps/calendars-contacts',
    shows: '#not-offered',
  },
  {
    // With mail settings saved, a new app password comes with its configuration profile (#18, item 2).
    name: 'Security info: a new app password with its iPhone, iPad or Mac profile',
    who: 'admin',
    open: async (s) => {
      await s.page.goto('/security-info');
      await s.page.locator('#ap-name').fill('iPhone');
      await submit(s.page, 'form[action="/security-info/app-passwords#ap-created"] button[type="submit"]');
      const download = await s.page.locator('#profile-download').getAttribute('href');
      profileLanding.set(walkKey(s), download!.replace(/\/download$/, ''));
    },
    shows: '#apple-profile #profile-qr',
  },
  {
    name: 'the profile link, opened on a device with no session',
    who: 'nobody',
    open: async (s) => {
      const landing = profileLanding.get(walkKey(s));
      assert.ok(landing, 'the admin made a profile link on this server');
      await s.page.goto(landing);
    },
    shows: '#profile-holds ~ p #profile-download',
  },

  // ---- the admin signs in again: the second step ----
  {
    name: 'second factor: authenticator app, other ways open',
    who: 'admin',
    open: async (s) => {
      await submit(s.page, 'form[action="/signout"] button');
      await signInWith(s.page, s.admin, PASSWORD);
      await s.page.locator('details.otherway summary').click();
    },
    shows: 'details.otherway[open]',
  },
  {
    name: 'second factor: recovery code',
    who: 'admin',
    open: async (s) => submit(s.page, 'form[action$="/switch"]:has(input[value="recovery"]) button'),
    shows: '#code[autocomplete="off"]',
  },
  {
    name: 'My account after a recovery code',
    who: 'admin',
    open: async (s) => {
      await s.page.locator('#code').fill(s.recoveryCodes.shift() ?? '');
      await submit(s.page, 'form[action$="/verify"] button[type="submit"]');
    },
    shows: '#account-name',
  },
  // Pages added here run as the admin, signed in with a second factor.
  { name: 'Dashboard', who: 'admin', open: '/admin/dashboard', shows: '.charts' },
  {
    name: 'Users: bulk change preview',
    who: 'admin',
    open: async (s) => {
      // The user the admin added above, so no one else's sign-in changes.
      await s.page.goto('/admin/users');
      await s.page.locator(`input[form="bulk"][value="new-${s.lang}@${ORG}"]`).check();
      await s.page.locator('#bulk-op').selectOption('mfa:enabled');
      await submit(s.page, 'form#bulk button[type="submit"]');
    },
    shows: '#bulk-summary',
  },
  {
    name: 'Users: bulk change done',
    who: 'admin',
    open: async (s) => submit(s.page, 'form[action="/admin/users/bulk/apply"] button[type="submit"]'),
    shows: '#bulk-done',
  },
  { name: 'Apps (OpenID Connect)', who: 'admin', open: '/admin/apps', shows: '#app-name' },
  {
    name: 'Apps: a new app and its secret',
    who: 'admin',
    open: async (s) => {
      await s.page.locator('#app-name').fill(`Wiki ${s.lang}`);
      await s.page.locator('#app-uris').fill('https://wiki.contoso.test/callback');
      await submit(s.page, 'form[action="/admin/apps"] button[type="submit"]');
    },
    shows: '#created-client',
  },
];

/** The server of one store and the set-password link made for it. */
interface Server {
  base: string;
  setPasswordPath: string;
}

/** GET routes that are not pages: machines' endpoints, files, the API. */
const NOT_PAGES = /^\/(api|static|auth)\/|^\/(healthz|readyz|metrics|\*)$/;

/** Page routes PAGES does not open, and why. */
/** Asserts that the elements `selectors` are wholly inside the viewport: what was just made is in sight. */
async function inView(page: Page, ...selectors: string[]) {
  for (const sel of selectors) {
    const r = await page.evaluate((q) => {
      const b = document.querySelector(q)?.getBoundingClientRect();
      return b ? { top: b.top, bottom: b.bottom, height: window.innerHeight } : undefined;
    }, sel);
    assert.ok(r, `${sel} is on the page`);
    assert.ok(r.top >= -1 && r.bottom <= r.height + 1, `${sel} is in view: ${JSON.stringify(r)}`);
  }
}

const NOT_TESTED: Record<string, string> = {
  '/': 'redirects to /signin or /account',
  '/favicon.ico': 'redirects to the icon, /static/favicon.svg',
  '/.well-known/autoconfig/mail/config-v1.1.xml': 'XML for mail apps, not a page (http/autoconfig.test.ts)',
  '/mail/config-v1.1.xml': 'XML for mail apps, not a page (http/autoconfig.test.ts)',
  '/autodiscover/autodiscover.xml': 'XML for Outlook, not a page (http/autoconfig.test.ts)',
  '/Autodiscover/Autodiscover.xml': 'XML for Outlook, not a page (http/autoconfig.test.ts)',
  '/admin/sign-ins/export.csv': 'a download',
  '/admin/sign-ins/export.jsonl': 'a download',
  '/apple-profile/:token/download': 'a download (a configuration profile), not a page',
  '/admin/users/app-passwords': "redirects to the user's page (a user's app passwords are listed there)",
  '/reset-password/flow':
    'needs a user with a verified alternate email; its steps use the renderer tested under /signin/mfa',
};

/**
 * Every page and state the walk visits, at both widths, in the walk's languages: full-page PNGs in
 * screenshots/ (not committed), named `<lang>-<width>-<step>.png`, so a reviewer can look at every
 * page after a change (#17, item 1). Made afresh by each run of the full suite.
 */
const SCREENSHOTS = path.join(ROOT, 'screenshots');
fs.rmSync(SCREENSHOTS, { recursive: true, force: true });
fs.mkdirSync(SCREENSHOTS, { recursive: true });
const shotName = (lang: string, width: number, step: string) =>
  path.join(
    SCREENSHOTS,
    `${lang}-${width}-${step
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')}.png`,
  );

// The stores run side by side (each its own server and browser); within a store, in order.
describe('accessibility in Chromium (axe-core, keyboard only)', { concurrency: STORE_KINDS.length }, () => {
  for (const kind of STORE_KINDS) {
    describe(`on ${kind}`, { concurrency: 1 }, () => {
      let store: TestStore | undefined;
      let server: StartedServer | undefined;
      let browser: Browser | undefined;
      let run: Server | undefined;
      const contexts = new Set<BrowserContext>();
      const sessions = new Map<string, Session>();
      /** The app's page routes (GET), and the paths the PAGES lines ended on. */
      let pageRoutes: string[] = [];
      const visited = new Set<string>();

      before(async () => {
        requireBuild();
        store = await makeTestStore(kind);
        const setPasswordPath = await seed(store);
        const port = await freePort();
        // The server listens on 127.0.0.1; the browser calls it localhost, a name a security key
        // accepts as its RP ID (an IP address is refused), so the security-key page is offered.
        const base = `http://localhost:${port}`;
        const outbox = path.join(store.dataDir, 'outbox.jsonl');
        server = await startServer({
          env: outboxEnv(store.dataDir, port, outbox, { SESAME_PUBLIC_URL: base, DATABASE_URL: store.databaseUrl }),
        });
        browser = await launchChromium();
        run = { base, setPasswordPath };
      });

      after(async () => {
        try {
          await teardown({ contexts, browser, server });
        } finally {
          await store?.dispose();
        }
      });

      /**
       * The organization and its users, made through the services as the operator (one process
       * instead of a CLI run per user): a user without MFA, one admin per language and the keyboard
       * user who must register MFA at their first sign-in, and a user who has only a set-password
       * link, whose path and query are returned. The server then opens the same store and secrets.
       */
      async function seed(s: TestStore): Promise<string> {
        const ctx = await createContext(s.config());
        try {
          const app = await buildApp(ctx, { logger: false });
          await app.ready();
          pageRoutes = routesOf(app)
            .filter((r) => r.method === 'GET' && !NOT_PAGES.test(r.url))
            .map((r) => r.url);
          await app.close();
          await ctx.accounts.addOrganization(OPERATOR, ORG, 'Contoso');
          await ctx.accounts.addUser(OPERATOR, {
            address: `bob@${ORG}`,
            name: 'Bob Builder',
            password: PASSWORD,
            role: 'user',
          });
          for (const lang of Object.keys(LOCALES)) {
            await ctx.accounts.addUser(OPERATOR, {
              address: `admin-${lang}@${ORG}`,
              name: `Admin ${lang}`,
              password: PASSWORD,
              role: 'admin',
            });
            await ctx.mfaAdmin.setUserState(OPERATOR, `admin-${lang}@${ORG}`, 'enabled');
          }
          await ctx.accounts.addUser(OPERATOR, {
            address: `kim@${ORG}`,
            name: 'Kim Keys',
            password: PASSWORD,
            role: 'user',
          });
          await ctx.mfaAdmin.setUserState(OPERATOR, `kim@${ORG}`, 'enabled');
          await ctx.accounts.addUser(OPERATOR, { address: `newbie@${ORG}`, name: 'Nora Newbie', role: 'user' });
          // One long name (no spaces to break at) must wrap, not stretch the Users page (#17, item 1).
          await ctx.accounts.addUser(OPERATOR, {
            address: `wolfeschlegelsteinhausenbergerdorff.hubert.blaine@${ORG}`,
            name: `Hubert Blaine ${'Wolfeschlegelsteinhausenbergerdorff'.repeat(4)} Sr.`,
            role: 'user',
          });
          const link = await ctx.accounts.issueSetPasswordToken(OPERATOR, `newbie@${ORG}`);
          return `/set-password?token=${encodeURIComponent(link.token)}`;
        } finally {
          await ctx.close();
        }
      }

      async function newPage(lang: Lang): Promise<{ context: BrowserContext; page: Page }> {
        assert.ok(browser && run, 'the browser or the server did not start');
        const context = await browser.newContext({
          locale: LOCALES[lang],
          baseURL: run.base,
          viewport: { width: 1280, height: 800 },
        });
        contexts.add(context);
        context.setDefaultTimeout(20_000);
        return { context, page: await context.newPage() };
      }

      /** The session `who` in `lang`, made on first use (the user signs in; the admin's steps sign in themselves). */
      async function session(who: Who, lang: Lang): Promise<Session> {
        const key = `${who}:${lang}`;
        let s = sessions.get(key);
        if (!s) {
          const { context, page } = await newPage(lang);
          s = {
            context,
            page,
            lang,
            admin: `admin-${lang}@${ORG}`,
            setPasswordPath: run!.setPasswordPath,
            recoveryCodes: [],
          };
          if (who === 'user') {
            await signInWith(page, `bob@${ORG}`, PASSWORD);
            assert.equal(new URL(page.url()).pathname, '/account', 'the user without MFA is signed in');
          }
          sessions.set(key, s);
        }
        return s;
      }

      for (const lang of LANGS[kind]) {
        for (const c of PAGES) {
          it(`${lang}, ${c.who}: ${c.name}`, async (t) => {
            const s = await session(c.who, lang);
            if (typeof c.open !== 'string')
              assert.equal(s.failed, undefined, `an earlier step of this session failed: ${s.failed}`);
            try {
              if (typeof c.open === 'string') {
                const res = await s.page.goto(c.open);
                assert.equal(res?.status(), c.status ?? 200, `${c.open} answered`);
              } else {
                await c.open(s);
              }
              await s.page.locator(c.shows).first().waitFor({ state: 'attached' });
            } catch (e) {
              // A path opens the same page from anywhere; steps build on each other.
              if (typeof c.open !== 'string') s.failed = c.name;
              throw e;
            }
            visited.add(new URL(s.page.url()).pathname);
            assert.equal(await s.page.locator('html').getAttribute('lang'), lang, 'the page says its language');
            const { serious, lesser } = await seriousViolations(s.page);
            // Reported (one line each, TAP diagnostics keep no line breaks) but not failing.
            for (const v of lesser)
              t.diagnostic(
                `${v.impact ?? '?'} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
              );
            assert.deepEqual(
              serious.map((v) => v.id),
              [],
              `axe-core on ${new URL(s.page.url()).pathname}:\n${formatViolations(serious)}`,
            );
            // A phone (390 px) and a laptop (1280 px): the page never scrolls sideways (#17, item 1).
            const wide: string[] = [];
            for (const width of [390, 1280]) {
              await s.page.setViewportSize({ width, height: 800 });
              const over = await s.page.evaluate(() => {
                const doc = document.documentElement;
                if (doc.scrollWidth <= doc.clientWidth) return '';
                // Name the widest element that sticks out, for the message.
                let worst = '';
                let right = doc.clientWidth;
                // Inside a box that scrolls or clips, sticking out is that box's business.
                const clipped = (el: Element) => {
                  for (let p = el.parentElement; p && p !== document.body; p = p.parentElement)
                    if (getComputedStyle(p).overflowX !== 'visible') return true;
                  return false;
                };
                for (const el of document.querySelectorAll('body *')) {
                  if (clipped(el)) continue;
                  const r = el.getBoundingClientRect();
                  if (r.right > right + 0.5) {
                    right = r.right;
                    worst = `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className && typeof el.className === 'string' ? `.${el.className.split(' ').join('.')}` : ''}`;
                  }
                }
                return `${doc.scrollWidth} px wide (widest: ${worst} to ${Math.round(right)} px)`;
              });
              if (over) wide.push(`at ${width} px: ${over}`);
              // On a phone a table with column headers is one card per row, each value led by its
              // column's name (src/web/stacked-tables.ts and table.stack in public/sesame.css).
              if (width === 390)
                wide.push(
                  ...(await s.page.evaluate(() =>
                    [...document.querySelectorAll('main table')].flatMap((table) => {
                      const heads = [...table.querySelectorAll('thead th')].map((th) =>
                        th.querySelector('.visually-hidden') ? '' : (th.textContent ?? '').replace(/\s+/g, ' ').trim(),
                      );
                      const row = table.querySelector('tbody tr');
                      if (!heads.length || !row) return [];
                      const name = table.id || table.className;
                      const bad: string[] = [];
                      if (getComputedStyle(row).display !== 'block') bad.push(`table ${name}: its rows are not cards`);
                      if (table.scrollWidth > table.clientWidth + 1) bad.push(`table ${name}: scrolls sideways inside`);
                      [...row.children].forEach((cell, i) => {
                        const shown = getComputedStyle(cell, '::before').content.replace(/^"|"$/g, '');
                        if (heads[i] && shown !== heads[i])
                          bad.push(`table ${name}: cell ${i + 1} is led by ${shown}, not "${heads[i]}"`);
                      });
                      return bad;
                    }),
                  )),
                );
              await s.page.screenshot({ path: shotName(lang, width, `${c.who}-${c.name}`), fullPage: true });
            }
            await s.page.setViewportSize({ width: 1280, height: 800 });
            assert.deepEqual(wide, [], `${new URL(s.page.url()).pathname} scrolls sideways`);
          });
        }
      }

      it(`${LANGS[kind][0]}, keyboard only: sign in, register, copy the app password, create another; focus visible at every stop`, async () => {
        const { context, page } = await newPage(LANGS[kind][0]!);
        await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: run!.base });
        const key = (k: string) => page.keyboard.press(k);
        /** Presses `k` on what has the focus and waits for the page that leads to. */
        const go = (k: string) => andLoad(page, () => key(k));
        const focused = (selector: string) =>
          page.evaluate((sel) => document.activeElement?.matches(sel) ?? false, selector);
        /**
         * Whether `selector` gets the focus a page gives on arrival (autofocus), within 5 s: the
         * browser applies autofocus at a rendering update after the load, which on a busy machine
         * (three test files on two cores) has come after the load event.
         */
        const focusedOnArrival = (selector: string) =>
          page
            .waitForFunction((sel) => document.activeElement?.matches(sel) ?? false, selector, { timeout: 5_000 })
            .then(
              () => true,
              () => false,
            );

        // Sign-in: the address field has the focus; back up to the skip link, which leads to the form.
        await page.goto('/signin');
        assert.ok(await focusedOnArrival('#email'), 'the address field has the focus on arrival');
        await assertVisibleFocus(page);
        const back = await tabTo(page, 'a.skip', { key: 'Shift+Tab', max: 10 });
        assert.ok(
          back.length >= 3,
          `the header's stops came before the form: ${back.map((s) => s.element).join(' | ')}`,
        );
        await key('Enter');
        await tabTo(page, '#email', { max: 1 });
        await page.keyboard.type(`kim@${ORG}`);
        await tabTo(page, '#password', { max: 1 });
        await page.keyboard.type(PASSWORD);
        await tabTo(page, 'form[action="/signin"] button[type="submit"]', { max: 1 });
        await go('Enter');

        // More information required -> Set it up now.
        await tabTo(page, 'form[action="/signin/mfa/setup"] button');
        await go('Space');

        // How should we contact you? Arrow keys move in the radio group; Authenticator app is first.
        await tabTo(page, 'input[name="kind"]');
        await key('ArrowDown');
        assert.ok(await focused('input[name="kind"]:checked:not([value="totp"])'), 'ArrowDown chose the next method');
        await key('ArrowUp');
        assert.ok(await focused('input[value="totp"]:checked'), 'ArrowUp chose Authenticator app again');
        await assertVisibleFocus(page);
        await tabTo(page, 'form[action$="/pick"] button[type="submit"]');
        await go('Enter');

        // The code field has the focus; the key is read off the page as a person would.
        assert.ok(await focusedOnArrival('#code'), 'the code field has the focus');
        await assertVisibleFocus(page);
        const secret = ((await page.locator('#totp-secret').textContent()) ?? '').replace(/\s/g, '');
        await page.keyboard.type(oathtoolTotp(secret, Date.now()));
        await go('Enter');
        await tabTo(page, 'button#next');
        await go('Enter');

        // The app password made at registration: Copy with Space puts exactly it on the clipboard.
        const shown = ((await page.locator('#app-password').textContent()) ?? '').trim();
        await tabTo(page, 'button.copy');
        await key('Space');
        await page.locator('.app-password .copied').filter({ hasText: /\S/ }).waitFor();
        assert.equal(
          await page.evaluate(() => navigator.clipboard.readText()),
          shown,
          'Copy copied the password shown',
        );
        await tabTo(page, 'button#next');
        await go('Enter');
        await tabTo(page, 'button#done');
        await go('Enter');
        assert.equal(new URL(page.url()).pathname, '/account', 'registered and signed in');

        // Security info through the navigation, then a new app password.
        await tabTo(page, 'nav a[href="/security-info"]');
        await go('Enter');
        await tabTo(page, '#ap-name', { max: 60 });
        await page.keyboard.type('Printer');
        // What it may be used for: a box per protocol, all ticked; the printer keeps SMTP only (Space unticks).
        const boxes = await page
          .locator('#ap-protocols input[type="checkbox"]')
          .evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value));
        assert.ok(boxes.length > 1 && boxes.includes('smtp'), boxes.join());
        for (const value of boxes) {
          await tabTo(page, `#ap-protocols input[value="${value}"]`, { max: 1 });
          if (value !== 'smtp') await key('Space');
        }
        // Then where it may be used from (issue #20): a box per named location of the organization
        // (the admin's steps above made some) and the network field, left as they are.
        const whereStops = await page.locator('#ap-where input').count();
        assert.ok(whereStops >= 2, `the locations and the network field: ${whereStops}`);
        await tabTo(page, 'form[action="/security-info/app-passwords#ap-created"] button[type="submit"]', {
          max: whereStops + 1,
        });
        await go('Enter');
        await page.locator('#app-password').waitFor();
        const printerRow = page.locator('#app-password-list tr').filter({ hasText: 'Printer' });
        assert.equal(((await printerRow.locator('td').nth(4).textContent()) ?? '').trim(), 'SMTP', 'SMTP only');
        const second = ((await page.locator('#app-password').textContent()) ?? '').trim();
        assert.notEqual(second, shown);
        await tabTo(page, 'button.copy');
        await key('Enter');
        await page.locator('.app-password .copied').filter({ hasText: /\S/ }).waitFor();
        assert.equal(await page.evaluate(() => navigator.clipboard.readText()), second, 'Copy copied the new password');
      });

      // Last: a page added to the app without a line in PAGES fails here.
      it('every page route of the app was opened by a line of PAGES (or is in NOT_TESTED)', () => {
        assert.ok(pageRoutes.length >= 15, `${pageRoutes.length} page routes read from the app`);
        const opened = (route: string) =>
          [...visited].some((p) => new RegExp(`^${route.replace(/:[^/]+/g, '[^/]+')}$`).test(p));
        assert.deepEqual(
          pageRoutes.filter((r) => !(r in NOT_TESTED) && !opened(r)),
          [],
          'page routes no line of PAGES opened',
        );
      });
    });
  }
});
