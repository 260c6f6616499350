/**
 * Per-app help (issue #18, item 4), on both stores: /help/apps and a page per app, in English and
 * Dutch. A signed-in user sees their organization's servers, ports, security in the words of that
 * app, DAV addresses and their own user name (in the organization's form); a service the
 * organization did not set is neither listed nor asked for; without settings the page says the
 * administrator has not entered them; signed out it asks to sign in and shows nobody's values,
 * whatever the query says. The pages are linked from Security info, the app-password help and
 * the registration's app-password step.
 *
 * Wi-Fi and LDAP (issue #19, item 6): settings only where the organization allows app passwords
 * for RADIUS or LDAP (and the user is in the group it requires), and, for LDAP, this server runs
 * the interface; the LDAP server's name only when the public URL is https and the LDAP certificate
 * is made out to it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_PROTOCOLS } from '../../src/domain/app-passwords/model.js';
import { ldapServiceOf } from '../../src/features/app-help/ldap-service.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { MailSettingsInput } from '../../src/domain/mail-settings/model.js';
import { STORE_KINDS } from '../support/stores.js';
import { Browser, FakeClock, makeWorld, oathtoolTotp, secretFrom, USER, type World } from '../support/world.js';

const CONTOSO: MailSettingsInput = {
  imap: { host: 'imap.contoso.test', port: 993, security: 'tls' },
  smtp: { host: 'smtp.contoso.test', port: 587, security: 'starttls' },
  caldav: { host: 'dav.contoso.test', port: 443, security: 'tls', path: '/dav/' },
  carddav: { host: 'card.contoso.test', port: 8443, security: 'tls', path: '/card/' },
  userName: 'address',
};
const FABRIKAM: MailSettingsInput = {
  imap: { host: 'mail.fabrikam.test', port: 143, security: 'starttls' },
  pop3: { host: 'pop.fabrikam.test', port: 995, security: 'tls' },
  smtp: { host: 'out.fabrikam.test', port: 465, security: 'tls' },
  userName: 'localpart',
};
/** Calendars only: no mail, no contacts. */
const TAILSPIN: MailSettingsInput = {
  caldav: { host: 'cal.tailspin.test', port: 443, security: 'tls', path: '/' },
};
const FAY = { address: 'fay@fabrikam.test', password: 'copper-lantern-meadow-31', name: 'Fay Field' };
const NICK = { address: 'nick@northwind.test', password: 'harbour-violet-quiet-64', name: 'Nick North' };
const TESS = { address: 'tess@tailspin.test', password: 'glacier-amber-plum-88', name: 'Tess Tail' };

const MAIL_APPS = ['outlook', 'apple-mail-ios', 'apple-mail-mac', 'android', 'thunderbird'] as const;
const APPS = [...MAIL_APPS, 'calendars-contacts', 'printers'] as const;
type Lang = 'en' | 'nl';

/** What each app calls the two kinds of security, as the page must say them (written out here, not read from the catalogue). */
const PLAIN = { tls: { en: 'SSL/TLS', nl: 'SSL/TLS' }, starttls: { en: 'STARTTLS', nl: 'STARTTLS' } };
const WORDS: Record<(typeof MAIL_APPS)[number] | 'printers', typeof PLAIN> = {
  outlook: {
    tls: { en: 'SSL/TLS (in Outlook 2016: SSL)', nl: 'SSL/TLS (in Outlook 2016: SSL)' },
    starttls: { en: 'STARTTLS (in Outlook 2016: TLS)', nl: 'STARTTLS (in Outlook 2016: TLS)' },
  },
  'apple-mail-ios': {
    tls: { en: 'Use SSL on', nl: 'Gebruik SSL aan' },
    starttls: {
      en: 'Use SSL on; Mail uses STARTTLS on this port',
      nl: 'Gebruik SSL aan; Mail gebruikt STARTTLS op deze poort',
    },
  },
  'apple-mail-mac': {
    tls: { en: 'Use TLS/SSL on', nl: 'Gebruik TLS/SSL aan' },
    starttls: {
      en: 'Use TLS/SSL on; Mail uses STARTTLS on this port',
      nl: 'Gebruik TLS/SSL aan; Mail gebruikt STARTTLS op deze poort',
    },
  },
  android: PLAIN,
  thunderbird: PLAIN,
  printers: PLAIN,
};
/** A menu path each page must give in each language, so a page in the wrong language or without its steps fails. */
const MENU: Record<(typeof APPS)[number], Record<Lang, string>> = {
  outlook: { en: 'File › Add Account', nl: 'Bestand › Account toevoegen' },
  'apple-mail-ios': {
    en: 'Settings › Apps › Mail › Mail Accounts › Add Account › Other',
    nl: 'Instellingen › Apps › Mail › E-mailaccounts › Voeg account toe › Anders',
  },
  'apple-mail-mac': { en: 'Mail › Add Account', nl: 'Mail › Account toevoegen' },
  android: { en: 'Add another account › Other', nl: 'Een ander account toevoegen › Overig' },
  thunderbird: { en: 'File › New › Existing Mail Account', nl: 'Bestand › Nieuw › Bestaande e-mailaccount' },
  'calendars-contacts': { en: 'Login with URL and user name', nl: 'Inloggen met URL en gebruikersnaam' },
  printers: { en: 'limited to SMTP', nl: 'alleen voor SMTP' },
};
const NOT_SET_UP: Record<Lang, string> = {
  en: 'has not entered the server details yet',
  nl: 'heeft de servergegevens nog niet ingevuld',
};

const UNAVAILABLE: Record<Lang, string> = { en: 'LDAP is not turned on', nl: 'LDAP staat niet aan' };
const NOT_OFFERED: Record<Lang, string> = { en: 'does not offer', nl: 'biedt geen' };
const NOT_IN_GROUP: Record<Lang, string> = { en: 'members of a group', nl: 'leden van een groep' };
/** Words each page must give in each language (what the devices call the fields). */
const ACCESS_MENU: Record<'wifi' | 'ldap', Record<Lang, string>> = {
  wifi: { en: 'Unencrypted password (PAP)', nl: 'Niet-versleuteld wachtwoord (PAP)' },
  ldap: {
    en: 'Control Panel › Domain/LDAP › LDAP › Join',
    nl: 'Configuratiescherm › Domein/LDAP › LDAP › Deelnemen',
  },
};
const EXAMPLE: Record<'wifi' | 'ldap', Record<Lang, string>> = {
  wifi: { en: 'Wi-Fi on my laptop', nl: 'Wifi op mijn laptop' },
  ldap: { en: 'Address book on the office printer', nl: 'Adresboek op de kantoorprinter' },
};

/** The text of the element with `id` (its markup included), or undefined when the page has none. */
function part(body: string, id: string): string | undefined {
  const m = new RegExp(`<(\\w+)[^>]* id="${id}"[^>]*>([\\s\\S]*?)</\\1>`).exec(body);
  return m?.[2];
}
const code = (v: string | number) => `<code>${v}</code>`;

for (const kind of STORE_KINDS) {
  describe(`per-app help on ${kind}`, () => {
    let w: World;
    const clock = new FakeClock(Date.UTC(2026, 10, 27, 12, 0, 0));
    before(async () => {
      w = await makeWorld(kind, {}, { clock });
      await w.ctx.accounts.addOrganization(OPERATOR, 'northwind.test', 'Northwind');
      await w.ctx.accounts.addOrganization(OPERATOR, 'tailspin.test', 'Tailspin');
      for (const u of [FAY, NICK, TESS]) await w.ctx.accounts.addUser(OPERATOR, { ...u, role: 'user' });
      for (const [domain, s] of [
        ['contoso.test', CONTOSO],
        ['fabrikam.test', FABRIKAM],
        ['tailspin.test', TAILSPIN],
      ] as const)
        await w.ctx.mailSettings.set(OPERATOR, (await w.ctx.accounts.organizationByDomain(domain)).id, s);
    });
    after(() => w.close());

    const browser = async (lang: Lang, who?: { address: string; password: string }) => {
      const b = new Browser(w.app, { 'accept-language': lang });
      if (who) {
        const res = await b.signIn(who.address, who.password);
        assert.equal(res.statusCode, 303, `${who.address} signs in`);
      }
      return b;
    };
    const page = async (b: Browser, app: string) => {
      const res = await b.get(`/help/apps/${app}`);
      assert.equal(res.statusCode, 200, `/help/apps/${app}`);
      return res.body;
    };

    for (const lang of ['en', 'nl'] as const) {
      it(`${lang}: each mail app shows the organization's IMAP and SMTP in its own words, the whole address as user name, and no POP3`, async () => {
        const b = await browser(lang, USER);
        for (const app of MAIL_APPS) {
          const body = await page(b, app);
          assert.match(body, new RegExp(`<html lang="${lang}">`));
          assert.ok(body.includes(MENU[app][lang]), `${app}: the ${lang} steps`);
          const imap = part(body, 'setting-imap') ?? '';
          assert.ok(imap.includes(code('imap.contoso.test')) && imap.includes(code(993)), `${app}: IMAP ${imap}`);
          assert.ok(imap.includes(WORDS[app].tls[lang]), `${app}: IMAP's security in ${lang}: ${imap}`);
          const smtp = part(body, 'setting-smtp') ?? '';
          assert.ok(smtp.includes(code('smtp.contoso.test')) && smtp.includes(code(587)), `${app}: SMTP ${smtp}`);
          assert.ok(smtp.includes(WORDS[app].starttls[lang]), `${app}: SMTP's security in ${lang}: ${smtp}`);
          assert.equal(part(body, 'setting-user-name'), code(USER.address), app);
          assert.ok(part(body, 'setting-password'), `${app}: what the password is`);
          assert.equal(part(body, 'setting-pop3'), undefined, `${app}: POP3 is not set`);
          assert.doesNotMatch(body, /POP3/, `${app}: POP3 is not offered anywhere on the page`);
          assert.ok(!body.includes(USER.password), `${app}: no secret`);
          assert.doesNotMatch(body, /fabrikam|tailspin/, `${app}: no other organization's values`);
          assert.doesNotMatch(body, /id="(?:no-settings|sign-in-to-see|not-offered)"/, app);
        }
      });

      it(`${lang}: POP3 and TLS on every port, the user name as the part before the @, and no calendars where none are set`, async () => {
        const b = await browser(lang, FAY);
        for (const app of MAIL_APPS) {
          const body = await page(b, app);
          const imap = part(body, 'setting-imap') ?? '';
          assert.ok(imap.includes(code('mail.fabrikam.test')) && imap.includes(code(143)), `${app}: ${imap}`);
          assert.ok(imap.includes(WORDS[app].starttls[lang]), `${app}: ${imap}`);
          const pop3 = part(body, 'setting-pop3') ?? '';
          assert.ok(pop3.includes(code('pop.fabrikam.test')) && pop3.includes(code(995)), `${app}: ${pop3}`);
          assert.ok(pop3.includes(WORDS[app].tls[lang]), `${app}: ${pop3}`);
          const smtp = part(body, 'setting-smtp') ?? '';
          assert.ok(smtp.includes(code('out.fabrikam.test')) && smtp.includes(code(465)), `${app}: ${smtp}`);
          assert.ok(smtp.includes(WORDS[app].tls[lang]), `${app}: ${smtp}`);
          assert.equal(part(body, 'setting-user-name'), code('fay'), `${app}: the localpart`);
          assert.doesNotMatch(body, /fay@fabrikam\.test/, `${app}: never the whole address`);
          assert.doesNotMatch(body, /href="\/help\/apps\/calendars-contacts"/, `${app}: calendars are not offered`);
        }
        const cal = await page(b, 'calendars-contacts');
        assert.ok(part(cal, 'not-offered'), 'the calendars page says they are not offered');
        assert.doesNotMatch(cal, /id="app-settings"|class="steps"/, 'and has no values or steps');
        const index = (await b.get('/help/apps')).body;
        assert.ok(part(index, 'help-app-calendars-contacts')?.includes('<strong>'), 'the list marks calendars');
        assert.ok(!part(index, 'help-app-outlook')?.includes('<strong>'), 'but not mail');
      });

      it(`${lang}: calendars and contacts show both DAV addresses, with the port only when it is not 443`, async () => {
        const body = await page(await browser(lang, USER), 'calendars-contacts');
        assert.equal(part(body, 'setting-caldav'), code('https://dav.contoso.test/dav/'));
        assert.equal(part(body, 'setting-carddav'), code('https://card.contoso.test:8443/card/'));
        assert.equal(part(body, 'setting-user-name'), code(USER.address));
        assert.ok(body.includes(MENU['calendars-contacts'][lang]));
        assert.match(body, lang === 'en' ? /Add CalDAV Account/ : /Voeg CalDAV-account toe/);
        assert.match(body, lang === 'en' ? /Add CardDAV Account/ : /Voeg CardDAV-account toe/);
        assert.doesNotMatch(body, /id="setting-(?:imap|smtp)"/, 'no mail servers on the calendars page');
      });

      it(`${lang}: calendars only: no contacts steps, and the mail pages say mail is not offered`, async () => {
        const b = await browser(lang, TESS);
        const cal = await page(b, 'calendars-contacts');
        assert.equal(part(cal, 'setting-caldav'), code('https://cal.tailspin.test/'));
        assert.equal(part(cal, 'setting-carddav'), undefined);
        assert.doesNotMatch(cal, /CardDAV[ -][Aa]ccount|CardDAV-adresboek|CardDAV Address Book/);
        for (const app of [...MAIL_APPS, 'printers'] as const) {
          const body = await page(b, app);
          assert.ok(part(body, 'not-offered'), `${app}: not offered`);
          assert.doesNotMatch(body, /id="app-settings"|class="steps"/, app);
        }
      });

      it(`${lang}: printers: SMTP only, their own app password limited to SMTP`, async () => {
        const body = await page(await browser(lang, USER), 'printers');
        const smtp = part(body, 'setting-smtp') ?? '';
        assert.ok(smtp.includes(code('smtp.contoso.test')) && smtp.includes(code(587)), smtp);
        assert.ok(smtp.includes(WORDS.printers.starttls[lang]));
        assert.doesNotMatch(body, /id="setting-(?:imap|pop3|caldav|carddav)"/, 'only SMTP');
        assert.ok(part(body, 'app-tip')?.includes(MENU.printers[lang]), 'its own app password, SMTP only');
        assert.match(body, /<a href="\/help\/apps\/ldap">/, 'the address book: the LDAP page');
      });

      it(`${lang}: signed in without mail settings: the administrator has not entered them yet`, async () => {
        const b = await browser(lang, NICK);
        for (const app of APPS) {
          const body = await page(b, app);
          assert.ok(part(body, 'no-settings')?.includes(NOT_SET_UP[lang]), app);
          assert.doesNotMatch(body, /id="app-settings"|<code>/, `${app}: no values`);
          assert.ok(body.includes(MENU[app][lang]), `${app}: the general steps`);
        }
        assert.ok(part((await b.get('/help/apps')).body, 'no-settings')?.includes(NOT_SET_UP[lang]));
      });

      it(`${lang}: signed out: the general steps and a link to sign in, whatever the query names`, async () => {
        const b = await browser(lang);
        for (const app of APPS) {
          for (const query of ['', `?email=${encodeURIComponent(USER.address)}`, '?domain=contoso.test']) {
            const res = await b.get(`/help/apps/${app}${query}`);
            assert.equal(res.statusCode, 200);
            assert.match(res.body, /<p id="sign-in-to-see">[^<]+<a href="\/signin\?next=%2Fhelp%2Fapps%2F/);
            assert.doesNotMatch(res.body, /id="app-settings"|contoso\.test<|<code>/, `${app}${query}: no values`);
            assert.ok(res.body.includes(MENU[app][lang]), `${app}: the general steps`);
          }
        }
        const index = await b.get('/help/apps');
        assert.ok(part(index.body, 'sign-in-to-see'));
        for (const app of [...APPS, 'wifi', 'ldap'])
          assert.match(index.body, new RegExp(`<a href="/help/apps/${app}">`));
      });

      it(`${lang}: no LDAP interface: the LDAP page says so, signed in or out; Wi-Fi, not in the default protocols, is not offered`, async () => {
        for (const b of [await browser(lang), await browser(lang, USER)]) {
          const body = await page(b, 'ldap');
          assert.ok(part(body, 'not-offered')?.includes(UNAVAILABLE[lang]), body);
          assert.doesNotMatch(body, /id="(?:app-settings|which-app-password|sign-in-to-see)"|class="steps"|<code>/);
        }
        const b = await browser(lang, USER);
        const wifi = await page(b, 'wifi');
        assert.ok(part(wifi, 'not-offered')?.includes(NOT_OFFERED[lang]), wifi);
        assert.doesNotMatch(wifi, /id="(?:app-settings|which-app-password)"|class="steps"|<code>/);
        const index = (await b.get('/help/apps')).body;
        for (const app of ['wifi', 'ldap'])
          assert.ok(part(index, `help-app-${app}`)?.includes('<strong>'), `the list marks ${app}`);
      });

      it(`${lang}: an unknown app is the page-not-found page`, async () => {
        for (const b of [await browser(lang), await browser(lang, USER)]) {
          const res = await b.get('/help/apps/blackberry');
          assert.equal(res.statusCode, 404);
          assert.match(res.body, lang === 'en' ? /<h1>Page not found<\/h1>/ : /<h1>Pagina niet gevonden<\/h1>/);
        }
      });
    }

    it('linked from Security info, the app-password help and the registration’s app-password step', async () => {
      const link = /<a href="\/help\/apps" id="help-apps-link">/;
      assert.match((await new Browser(w.app).get('/help/app-passwords')).body, link);
      assert.match((await (await browser('en', USER)).get('/security-info')).body, link);
      const kim = { address: 'kim@contoso.test', password: 'lantern-copper-quiet-13', name: 'Kim Keys' };
      await w.ctx.accounts.addUser(OPERATOR, { ...kim, role: 'user' });
      await w.ctx.mfaAdmin.setUserState(OPERATOR, kim.address, 'enabled');
      // Stop at the app-password step: its page is the one after the method is confirmed.
      const b = new Browser(w.app);
      await b.signIn(kim.address, kim.password);
      await b.submit('/signin/mfa', '/signin/mfa/setup', {});
      await b.submit('/signin/mfa', '/signin/mfa/method', { kind: 'totp' });
      const secret = secretFrom((await b.get('/signin/mfa')).body);
      await b.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(secret, clock.now()) });
      const keep = await b.submit('/signin/mfa', '/signin/mfa/next', {});
      const body = keep.statusCode === 303 ? (await b.get('/signin/mfa')).body : keep.body;
      assert.match(body, /id="app-password"/, 'the app-password step');
      assert.match(body, link);
    });
  });
}

/** A self-signed certificate (and its key) made out to `name`, as SESAME_LDAP_TLS_CERT_FILE would be. */
function certificateFor(dir: string, name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      `subjectAltName=DNS:${name}`,
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'pipe' },
  );
  return { cert, key };
}

const certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'app-help-ldap-'));
after(() => fs.rmSync(certDir, { recursive: true, force: true }));
const SESAME_CERT = certificateFor(certDir, 'sesame.contoso.test');

describe('the LDAP server name the help gives', () => {
  const base = {
    publicUrl: 'https://sesame.contoso.test',
    ldapPort: 389,
    ldapsPort: 636,
    ldapTlsCertFile: SESAME_CERT.cert,
  };
  it('is the public URL’s host when it is https and the LDAP certificate is made out to it', () => {
    assert.deepEqual(ldapServiceOf(base), { host: 'sesame.contoso.test', ldapsPort: 636, starttlsPort: 389 });
    assert.deepEqual(
      ldapServiceOf({ ...base, publicUrl: 'https://sesame.contoso.test:8443/sso/' })?.host,
      'sesame.contoso.test',
    );
  });
  it('is unknown for another name, plain http, or a certificate it cannot read; no ports: no LDAP', () => {
    for (const c of [
      { ...base, publicUrl: 'https://id.contoso.test' },
      { ...base, publicUrl: 'http://sesame.contoso.test' },
      { ...base, ldapTlsCertFile: path.join(certDir, 'missing.pem') },
      { ...base, ldapTlsCertFile: SESAME_CERT.key },
    ])
      assert.equal(ldapServiceOf(c)?.host, undefined, JSON.stringify(c));
    assert.deepEqual(ldapServiceOf({ ...base, ldapsPort: 0, publicUrl: 'http://127.0.0.1:3000' }), {
      starttlsPort: 389,
    });
    assert.equal(ldapServiceOf({ ...base, ldapPort: 0, ldapsPort: 0 }), undefined);
  });
});

for (const kind of STORE_KINDS) {
  describe(`Wi-Fi and LDAP help on ${kind}`, () => {
    /** LDAP on both ports under the public URL's name; and on STARTTLS only, without a name it can give. */
    let named: World;
    let unnamed: World;
    const NED = { address: 'ned@northwind.test', password: 'ember-walnut-harbour-42', name: 'Ned North' };
    before(async () => {
      const tls = { ldapTlsCertFile: SESAME_CERT.cert, ldapTlsKeyFile: SESAME_CERT.key };
      named = await makeWorld(kind, {
        publicUrl: 'https://sesame.contoso.test',
        ldapPort: 389,
        ldapsPort: 636,
        ...tls,
      });
      unnamed = await makeWorld(kind, { ldapPort: 3389, ...tls });
      for (const w of [named, unnamed]) {
        const contoso = await w.ctx.accounts.organizationByDomain('contoso.test');
        await w.ctx.mfaAdmin.setPolicy(OPERATOR, contoso.id, {
          appPasswords: { protocols: [...DEFAULT_PROTOCOLS, 'ldap', 'radius'] },
        });
      }
      // Fabrikam keeps the default protocols (no LDAP, no RADIUS). Northwind allows both, RADIUS only to a group without Ned.
      const northwind = await named.ctx.accounts.addOrganization(OPERATOR, 'northwind.test', 'Northwind');
      await named.ctx.accounts.addUser(OPERATOR, { ...FAY, role: 'user' });
      await named.ctx.accounts.addUser(OPERATOR, { ...NED, role: 'user' });
      await named.ctx.mfaAdmin.setPolicy(OPERATOR, northwind.id, {
        appPasswords: { protocols: [...DEFAULT_PROTOCOLS, 'ldap', 'radius'] },
      });
      const group = await named.ctx.groups.create(OPERATOR, northwind.id, 'Wireless');
      await named.ctx.groups.setLimit(OPERATOR, northwind.id, 'radius', group.id);
    });
    after(async () => {
      await named.close();
      await unnamed.close();
    });

    const browser = async (w: World, lang: Lang, who?: { address: string; password: string }) => {
      const b = new Browser(w.app, { 'accept-language': lang });
      if (who) assert.equal((await b.signIn(who.address, who.password)).statusCode, 303, `${who.address} signs in`);
      return b;
    };
    const page = async (b: Browser, app: string) => {
      const res = await b.get(`/help/apps/${app}`);
      assert.equal(res.statusCode, 200, `/help/apps/${app}`);
      assert.match(res.body, /<html lang="(?:en|nl)">/);
      return res.body;
    };

    for (const lang of ['en', 'nl'] as const) {
      it(`${lang}: Wi-Fi: TTLS with PAP, the address as identity, not PEAP, and which app password to make`, async () => {
        const body = await page(await browser(named, lang, USER), 'wifi');
        assert.match(body, new RegExp(`<html lang="${lang}">`));
        assert.ok(part(body, 'setting-eap')?.includes('TTLS'));
        assert.ok(part(body, 'setting-inner')?.startsWith('PAP'));
        assert.equal(part(body, 'setting-identity'), code(USER.address));
        assert.ok(part(body, 'setting-password'), 'what the password is');
        assert.ok(part(body, 'setting-certificate'), 'where the certificate comes from');
        const tip = part(body, 'app-tip') ?? '';
        assert.ok(tip.includes('PEAP') && tip.includes(lang === 'en' ? 'not PEAP' : 'niet PEAP'), tip);
        const which = part(body, 'which-app-password') ?? '';
        assert.ok(which.includes('RADIUS') && which.includes(EXAMPLE.wifi[lang]), which);
        assert.ok(body.includes(ACCESS_MENU.wifi[lang]), 'the steps in this language');
        assert.doesNotMatch(body, /id="not-offered"|sign-in-to-see/);
        assert.ok(!body.includes(USER.password), 'no secret');
      });

      it(`${lang}: LDAP: the server by the public URL's name, both ports, the base DN and the bind name`, async () => {
        const body = await page(await browser(named, lang, USER), 'ldap');
        assert.equal(part(body, 'setting-server'), code('sesame.contoso.test'));
        const port = part(body, 'setting-port') ?? '';
        assert.ok(port.includes(code(636)) && port.includes('SSL/TLS'), port);
        assert.ok(port.includes(code(389)) && port.includes('STARTTLS'), port);
        assert.equal(part(body, 'setting-base-dn'), code('ou=people,dc=contoso,dc=test'));
        const bind = part(body, 'setting-bind') ?? '';
        assert.ok(bind.includes(code(USER.address)), bind);
        assert.ok(bind.includes(code('uid=bob,ou=people,dc=contoso,dc=test')), bind);
        const which = part(body, 'which-app-password') ?? '';
        assert.ok(which.includes('LDAP') && which.includes(EXAMPLE.ldap[lang]), which);
        assert.ok(body.includes(ACCESS_MENU.ldap[lang]), 'the steps in this language');
        assert.ok(part(body, 'app-tip'), 'never without encryption');
        const index = (await (await browser(named, lang, USER)).get('/help/apps')).body;
        for (const app of ['wifi', 'ldap'])
          assert.ok(!part(index, `help-app-${app}`)?.includes('<strong>'), `${app} is offered`);
      });

      it(`${lang}: LDAP on STARTTLS only, under a name Sesame cannot vouch for: only that port, and ask the administrator`, async () => {
        const body = await page(await browser(unnamed, lang, USER), 'ldap');
        const server = part(body, 'setting-server') ?? '';
        assert.ok(!server.includes('<code>') && server.includes(lang === 'en' ? 'administrator' : 'beheerder'), server);
        const port = part(body, 'setting-port') ?? '';
        assert.ok(port.includes(code(3389)) && port.includes('STARTTLS'), port);
        assert.ok(!port.includes('SSL/TLS'), `no LDAPS port: ${port}`);
        assert.equal(part(body, 'setting-base-dn'), code('ou=people,dc=contoso,dc=test'));
      });

      it(`${lang}: an organization that does not allow RADIUS or LDAP gets no settings, and the list marks both`, async () => {
        const b = await browser(named, lang, FAY);
        for (const app of ['wifi', 'ldap']) {
          const body = await page(b, app);
          assert.ok(part(body, 'not-offered')?.includes(NOT_OFFERED[lang]), `${app}: ${body}`);
          assert.doesNotMatch(body, /id="(?:app-settings|which-app-password)"|class="steps"|<code>/, app);
          assert.doesNotMatch(body, /fay@fabrikam|dc=fabrikam/, app);
        }
        const index = (await b.get('/help/apps')).body;
        for (const app of ['wifi', 'ldap'])
          assert.ok(part(index, `help-app-${app}`)?.includes('<strong>'), `the list marks ${app}`);
      });

      it(`${lang}: RADIUS only for a group the user is not in: Wi-Fi says so; LDAP, for everyone, has the settings`, async () => {
        const b = await browser(named, lang, NED);
        const wifi = await page(b, 'wifi');
        assert.ok(part(wifi, 'not-offered')?.includes(NOT_IN_GROUP[lang]), wifi);
        assert.doesNotMatch(wifi, /id="app-settings"|class="steps"/);
        const ldap = await page(b, 'ldap');
        assert.equal(part(ldap, 'setting-base-dn'), code('ou=people,dc=northwind,dc=test'));
        assert.equal(part(ldap, 'setting-identity'), undefined, 'no Wi-Fi values on the LDAP page');
      });

      it(`${lang}: signed out: the general steps and a link to sign in, and nobody's values`, async () => {
        const b = await browser(named, lang);
        for (const app of ['wifi', 'ldap'] as const) {
          const body = await page(b, app);
          assert.match(body, /<p id="sign-in-to-see">[^<]+<a href="\/signin\?next=%2Fhelp%2Fapps%2F/);
          assert.doesNotMatch(body, /id="(?:app-settings|not-offered)"|<code>|contoso/, app);
          assert.ok(body.includes(ACCESS_MENU[app][lang]), `${app}: the general steps`);
          assert.ok(part(body, 'which-app-password')?.includes(EXAMPLE[app][lang]), `${app}: which app password`);
        }
      });
    }
  });
}
