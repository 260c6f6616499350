/**
 * Every word a page shows comes from the message catalogues (#17, item 3). Each message is wrapped
 * in invisible markers before the app is built; the pages are then fetched in both languages, and
 * what is left once the marked text, the data (names, addresses, app-password names, IPs, codes)
 * and the machine-made parts (`<time>`, Intl's names of countries and zones) are taken out must
 * hold no letters. A word written into a template instead of the catalogue fails here, in the
 * language that would have shown it untranslated.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { en } from '../../src/i18n/en.js';
import { nl } from '../../src/i18n/nl.js';

const OPEN = '\u2045';
const CLOSE = '\u2046';
for (const cat of [en, nl] as Record<string, string>[])
  for (const id of Object.keys(cat)) cat[id] = `${OPEN}${cat[id]}${CLOSE}`;

const { ADMIN, Browser, makeWorld, USER } = await import('../support/world.js');
const { signInAdminWithMfa } = await import('../support/admin-mfa.js');
const { OPERATOR } = await import('../../src/domain/accounts/actor.js');
const CAROL = { address: 'carol@contoso.test', password: 'plum-harbor-violin-58', name: 'Carol Chen' };

/** Text no catalogue holds and no page should translate: data, names of languages in their own language, codes. */
const DATA = [
  ADMIN.address,
  ADMIN.name,
  USER.address,
  USER.name,
  CAROL.address,
  CAROL.name,
  'eve@fabrikam.test',
  'Eve Other',
  'Contoso',
  'Fabrikam',
  'Phone',
  // The name of the group made in before().
  'Staff',
  // The named location made in before().
  'Office',
  'English',
  'Nederlands',
  'lightMyRequest',
  'IMAP',
  'POP3',
  'SMTP',
  'DAV',
  'HTTP',
  'RADIUS',
  'LDAP',
  'CSV',
  'JSON',
  'UTC',
];

/** The words of `page` that did not come from a catalogue, nor are data. */
function strayWords(page: string): string[] {
  let s = page
    .replace(/<script\b[\s\S]*?<\/script>/g, ' ')
    .replace(/<style\b[\s\S]*?<\/style>/g, ' ')
    .replace(/<time\b[\s\S]*?<\/time>/g, ' ')
    .replace(/<code\b[\s\S]*?<\/code>/g, ' ')
    // Intl's names of time zones and countries (the policy's regional settings, the named locations).
    .replace(/<select id="(?:time-zone|default-country)"[\s\S]*?<\/select>/g, ' ')
    .replace(/<span class="country-name">[^<]*<\/span>/g, ' ')
    // What a text box holds is data (a named location's networks and country codes).
    .replace(/<textarea\b[^>]*>[^<]*<\/textarea>/g, ' ')
    // Intl's names of the countries of addresses (web/countries.ts).
    .replace(/<span class="country">[^<]*<\/span>/g, ' ')
    .replace(/<[^>]*>/g, ' ');
  for (let prev = ''; prev !== s; ) {
    prev = s;
    s = s.replace(new RegExp(`${OPEN}[^${OPEN}${CLOSE}]*${CLOSE}`, 'g'), ' ');
  }
  s = s
    .replace(/&nbsp;/g, ' ')
    .replace(/&(?:amp|lt|gt|quot|#39);/g, ' ')
    .replace(/\b\d{1,3}(?:\.\d{1,3}){3}\b/g, ' ');
  for (const d of DATA) s = s.split(d).join(' ');
  return [...new Set(s.match(/\p{L}[\p{L}\p{M}'’-]*/gu) ?? [])];
}

/** Pages every visitor, user and admin sees, with lists that have rows. */
/** The per-app help: general steps signed out, the organization's values (set below) signed in. */
const HELP_PAGES = [
  '/help/apps',
  ...[
    'outlook',
    'apple-mail-ios',
    'apple-mail-mac',
    'android',
    'thunderbird',
    'calendars-contacts',
    'printers',
    'wifi',
    'ldap',
  ].map((app) => `/help/apps/${app}`),
];
const NOBODY_PAGES = [
  '/signin',
  '/signin?m=signedout',
  '/forgot-password',
  '/help/app-passwords',
  '/no-such-page',
  ...HELP_PAGES,
];
const USER_PAGES = [
  '/account',
  '/security-info',
  '/account/sessions',
  '/account/sign-ins',
  '/account/password',
  ...HELP_PAGES,
];
const ADMIN_PAGES = [
  '/account',
  '/security-info',
  '/admin/users',
  '/admin/policy',
  '/admin/mail-settings',
  '/admin/groups',
  '/admin/locations',
  // "Check an address": one the location holds (a documentation address: no country), one outside it.
  '/admin/locations?ip=192.0.2.7',
  '/admin/locations?ip=193.0.6.139',
  '/admin/sign-ins',
  '/admin/apps',
  '/admin/integrations',
  '/admin/dashboard',
  `/admin/users/user?address=${encodeURIComponent(ADMIN.address)}`,
  `/admin/users/user?address=${encodeURIComponent(USER.address)}`,
];

describe('every word on the pages comes from the catalogue (#17, item 3)', () => {
  let w: Awaited<ReturnType<typeof makeWorld>>;
  before(async () => {
    // LDAP on both ports, so the LDAP help shows its values (the files are read only at the listener's start).
    w = await makeWorld('sqlite', { ldapPort: 389, ldapsPort: 636, ldapTlsCertFile: '/n/a', ldapTlsKeyFile: '/n/a' });
    // Rows in the lists: an admin with a second factor and an app password, sign-ins of both kinds.
    const admin = new Browser(w.app);
    await signInAdminWithMfa(admin, ADMIN);
    const made = await admin.submitForm('/security-info', '/security-info/app-passwords', { name: 'Phone' });
    assert.ok(made.statusCode === 200 || made.statusCode === 303, `${made.statusCode} ${made.headers.location}`);
    await new Browser(w.app).signIn(USER.address, 'not-the-password');
    await w.ctx.accounts.addUser(OPERATOR, { ...CAROL, role: 'user' });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, CAROL.address, 'enabled');
    // Mail settings saved, so their page shows its check and remove forms too.
    const org = await w.ctx.accounts.organizationByDomain('contoso.test');
    await w.ctx.mailSettings.set({ kind: 'operator' }, org.id, {
      imap: { host: 'mail.contoso.test', port: 993, security: 'tls' },
      carddav: { host: 'dav.contoso.test', port: 443, security: 'tls', path: '/dav/' },
    });
    // A group with a member that app passwords require, so its page shows the members table and
    // "Required for", and the user's page lists the group.
    // LDAP and RADIUS allowed, so the Wi-Fi and LDAP help show their values too.
    await w.ctx.mfaAdmin.setPolicy(OPERATOR, org.id, {
      appPasswords: { protocols: ['imap', 'pop3', 'smtp', 'dav', 'http', 'ldap', 'radius'] },
    });
    const group = await w.ctx.groups.create({ kind: 'operator' }, org.id, 'Staff');
    await w.ctx.groups.addMember({ kind: 'operator' }, org.id, group.id, USER.address);
    await w.ctx.groups.setLimit({ kind: 'operator' }, org.id, 'ldap', group.id);
    ADMIN_PAGES.push(`/admin/groups/group?id=${group.id}`);
    // A named location with a network and countries, so the list, its page and the check show them.
    const office = await w.ctx.locations.create(OPERATOR, org.id, {
      name: 'Office',
      networks: ['192.0.2.0/24'],
      countries: ['NL', 'BE'],
    });
    ADMIN_PAGES.push(`/admin/locations/location?id=${office.id}`);
  });
  after(() => w.close());

  for (const lang of ['en', 'nl'] as const) {
    it(`${lang}: the pages of nobody, a user and an admin`, async () => {
      const headers = { 'accept-language': lang };
      const user = new Browser(w.app, headers);
      await user.signIn(USER.address, USER.password);
      const admin = new Browser(w.app, headers);
      await signInAdminWithMfa(admin, ADMIN);
      const found: string[] = [];
      for (const [b, pages] of [
        [new Browser(w.app, headers), NOBODY_PAGES],
        [user, USER_PAGES],
        [admin, ADMIN_PAGES],
      ] as const) {
        for (const url of pages) {
          const res = await b.get(url);
          assert.ok(res.statusCode === 200 || res.statusCode === 404, `${url}: ${res.statusCode}`);
          assert.match(res.body, new RegExp(OPEN), `${url}: the markers reached the page`);
          const stray = strayWords(res.body);
          if (stray.length) found.push(`${url}: ${stray.join(', ')}`);
        }
      }
      // The registration steps: More information required, the choice of method, a method's own
      // field, a refused number beside its field, and the authenticator app's key.
      const carol = new Browser(w.app, headers);
      await carol.signIn(CAROL.address, CAROL.password);
      const steps: [string, () => Promise<{ body: string }>][] = [
        ['more information required', () => carol.get('/signin/mfa')],
        ['choose a method', () => carol.submit('/signin/mfa', '/signin/mfa/setup', {})],
        ['text message: its number', () => carol.submit('/signin/mfa', '/signin/mfa/pick', { kind: 'sms' })],
        ['a refused number', () => carol.submit('/signin/mfa', '/signin/mfa/method', { kind: 'sms', phone: '12' })],
        ['another method', () => carol.submit('/signin/mfa', '/signin/mfa/pick', { kind: 'totp' })],
      ];
      for (const [name, step] of steps) {
        await step();
        const page = await carol.get('/signin/mfa');
        const stray = strayWords(page.body);
        if (stray.length) found.push(`/signin/mfa (${name}): ${stray.join(', ')}`);
      }
      // A new app password with its configuration profile link (#18, item 2); the link's page on a
      // device with no session; the page of a link that no longer works.
      const made = await admin.submitForm('/security-info', '/security-info/app-passwords', { name: 'Phone' });
      const shown = await admin.get(String(made.headers.location));
      const link = /id="profile-download" href="(\/apple-profile\/[\w-]+)\/download"/.exec(shown.body);
      assert.ok(link, 'the new app password comes with a profile link');
      const phone = new Browser(w.app, headers);
      for (const [name, res] of [
        ['a new app password and its profile', shown],
        ['the profile link', await phone.get(link[1]!)],
        ['a link that no longer works', await phone.get('/apple-profile/gone')],
      ] as const) {
        const stray = strayWords(res.body);
        if (stray.length) found.push(`${name}: ${stray.join(', ')}`);
      }
      assert.deepEqual(found, [], 'words on the pages that no catalogue holds');
    });
  }
});
