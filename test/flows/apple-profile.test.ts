/**
 * Apple configuration profiles for a new app password (issue #18, items 2 and 5), through the pages
 * as a user meets them, on both stores: the page that shows a new app password offers a one-time
 * link (a button and a QR code); the profile is read by an independent parser (Python's plistlib)
 * and checked field by field against the organization's mail settings, and its app password signs
 * in; the link works once, then never again, expires, and is refused to another signed-in session
 * (without being used up) while a device with no session (the phone that scanned the code) gets
 * the profile; a profile for an app password limited to IMAP holds no SMTP login and no CalDAV or
 * CardDAV account; and every neighbour that should end a link does (deleting the app password,
 * signing out, a disabled user, removed settings, a narrowed policy).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadProfileSigner } from '../../src/adapters/profile-signer.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { MailSettingsInput } from '../../src/domain/mail-settings/model.js';
import { signInAdminWithMfa } from '../support/admin-mfa.js';
import { payloads, type Plist, readPlist } from '../support/plist.js';
import { STORE_KINDS } from '../support/stores.js';
import {
  ADMIN,
  Browser,
  FakeClock,
  makeWorld,
  oathtoolTotp,
  registerTotpAtSignIn,
  secretFrom,
  USER,
  type World,
} from '../support/world.js';

const SETTINGS: MailSettingsInput = {
  imap: { host: 'imap.contoso.test', port: 993, security: 'tls' },
  pop3: { host: 'pop.contoso.test', port: 995, security: 'tls' },
  smtp: { host: 'smtp.contoso.test', port: 587, security: 'starttls' },
  caldav: { host: 'dav.contoso.test', port: 8443, security: 'tls', path: '/cal/' },
  carddav: { host: 'dav.contoso.test', port: 443, security: 'tls', path: '/card/' },
  userName: 'address',
};
const ALL = ['imap', 'pop3', 'smtp', 'dav', 'http'];

const linkOf = (page: string) => {
  const download =
    /<a class="button" id="profile-download" href="(\/apple-profile\/([A-Za-z0-9_-]{43})\/download)">/.exec(page);
  assert.ok(download, 'the page offers the profile download');
  return { download: download[1]!, landing: `/apple-profile/${download[2]}`, token: download[2]! };
};
const passwordOf = (page: string) => /<code id="app-password" class="secret">([^<]+)<\/code>/.exec(page)![1]!;

for (const kind of STORE_KINDS) {
  describe(`Apple configuration profiles on ${kind}`, () => {
    let w: World;
    const clock = new FakeClock(Date.UTC(2026, 11, 9, 9, 0, 0));
    let bob: Browser;
    let orgId = '';

    let bobSecret = '';
    /** A second browser signed in as `address` (password and an authenticator code): another session. */
    async function signInAgain(address: string, password: string, secret: string): Promise<Browser> {
      clock.advance(30_000); // a code is accepted once per time step
      const b = new Browser(w.app);
      await b.signIn(address, password);
      const r = await b.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(secret, clock.now()) });
      assert.equal(r.statusCode, 303);
      assert.equal((await b.get('/security-info')).statusCode, 200);
      return b;
    }
    const secrets = new Map<string, string>();
    async function enrol(address: string, password: string): Promise<Browser> {
      await w.ctx.mfaAdmin.setUserState(OPERATOR, address, 'enabled');
      const b = new Browser(w.app);
      secrets.set(address, (await registerTotpAtSignIn(b, clock, address, password)).secret);
      return b;
    }
    /** Creates an app password on Security info and returns the page that shows it. */
    async function create(b: Browser, name: string): Promise<string> {
      const made = await b.submitForm('/security-info', '/security-info/app-passwords', { name });
      assert.equal(made.statusCode, 303);
      return (await b.get(made.headers.location as string)).body;
    }
    const protocols = (list: string[]) =>
      w.ctx.mfaAdmin.setPolicy(OPERATOR, orgId, { appPasswords: { protocols: list } });

    before(async () => {
      w = await makeWorld(kind, {}, { clock });
      orgId = (await w.ctx.accounts.organizationByDomain('contoso.test')).id;
      await w.ctx.mailSettings.set(OPERATOR, orgId, SETTINGS);
      bob = await enrol(USER.address, USER.password);
      bobSecret = secrets.get(USER.address)!;
    });
    after(() => w.close());

    it('offers the profile with a new app password: a button for this device and a QR code for a phone, once, for 10 minutes', async () => {
      const page = await create(bob, 'iPhone');
      assert.match(page, /<section class="device-profile card" id="apple-profile"/);
      assert.match(
        page,
        /<img id="profile-qr" src="data:image\/png;base64,[A-Za-z0-9+/=]+" width="200" height="200" alt="QR code that opens the profile link">/,
      );
      assert.match(page, /sets up mail, calendars, and contacts for bob@contoso\.test with this app password/);
      assert.match(page, /The link works once, until 09:10\./);
      assert.match(page, /not signed, so your device will show it as &quot;Not Verified&quot;/);
      // What Sesame keeps: the token's keyed hash and the app password sealed under the token, never either in clear.
      const { token } = linkOf(page);
      const password = passwordOf(page).replace(/ /g, '');
      const rows = await w.ctx.store.db.selectFrom('profile_links').selectAll().execute();
      assert.ok(rows.length >= 1);
      for (const r of rows) {
        assert.ok(!JSON.stringify(r).includes(token), 'the token is not stored');
        assert.ok(!JSON.stringify(r).includes(password), 'the app password is not stored in clear');
      }
    });

    it('gives this device a profile that an independent parser reads as the settings say, and whose app password signs in', async () => {
      const page = await create(bob, 'Mac mail');
      const { download } = linkOf(page);
      const res = await bob.get(download);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-type'], 'application/x-apple-aspen-config');
      assert.equal(res.headers['content-disposition'], 'attachment; filename="contoso.mobileconfig"');
      assert.equal(res.headers['cache-control'], 'no-store');
      const p = readPlist(res.rawPayload);
      assert.equal(p.PayloadType, 'Configuration');
      assert.equal(p.PayloadVersion, 1);
      assert.equal(p.PayloadOrganization, 'Contoso');
      assert.equal(p.PayloadDisplayName, 'Contoso: Mac mail');
      assert.match(p.PayloadIdentifier as string, /^sesame\.app-password\.[\w-]+$/);
      assert.match(p.PayloadUUID as string, /^[0-9A-F]{8}-[0-9A-F]{4}-5[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
      const content = p.PayloadContent as Plist[];
      assert.deepEqual(
        content.map((c) => c.PayloadType),
        ['com.apple.mail.managed', 'com.apple.caldav.account', 'com.apple.carddav.account'],
      );
      const password = passwordOf(page).replace(/ /g, '');
      const [mail] = payloads(p, 'com.apple.mail.managed');
      assert.deepEqual(
        {
          ...mail,
          PayloadUUID: undefined,
          PayloadIdentifier: undefined,
        },
        {
          PayloadType: 'com.apple.mail.managed',
          PayloadVersion: 1,
          PayloadIdentifier: undefined,
          PayloadUUID: undefined,
          PayloadDisplayName: 'Contoso mail',
          EmailAccountDescription: 'Contoso mail',
          EmailAccountName: USER.name,
          EmailAccountType: 'EmailTypeIMAP',
          EmailAddress: USER.address,
          IncomingMailServerAuthentication: 'EmailAuthPassword',
          IncomingMailServerHostName: 'imap.contoso.test',
          IncomingMailServerPortNumber: 993,
          IncomingMailServerUseSSL: true,
          IncomingMailServerUsername: USER.address,
          IncomingPassword: password,
          OutgoingMailServerHostName: 'smtp.contoso.test',
          OutgoingMailServerPortNumber: 587,
          OutgoingMailServerUseSSL: true,
          OutgoingMailServerAuthentication: 'EmailAuthPassword',
          OutgoingMailServerUsername: USER.address,
          OutgoingPassword: password,
          OutgoingPasswordSameAsIncomingPassword: true,
        },
      );
      const [cal] = payloads(p, 'com.apple.caldav.account');
      assert.equal(cal!.CalDAVHostName, 'dav.contoso.test');
      assert.equal(cal!.CalDAVPort, 8443);
      assert.equal(cal!.CalDAVUseSSL, true);
      assert.equal(cal!.CalDAVPrincipalURL, 'https://dav.contoso.test:8443/cal/');
      assert.equal(cal!.CalDAVUsername, USER.address);
      assert.equal(cal!.CalDAVPassword, password);
      assert.equal(cal!.CalDAVAccountDescription, 'Contoso calendars');
      const [card] = payloads(p, 'com.apple.carddav.account');
      assert.equal(card!.CardDAVHostName, 'dav.contoso.test');
      assert.equal(card!.CardDAVPort, 443);
      assert.equal(card!.CardDAVPrincipalURL, 'https://dav.contoso.test/card/');
      assert.equal(card!.CardDAVUsername, USER.address);
      assert.equal(card!.CardDAVPassword, password);
      // Every payload has its own identifier and UUID.
      const ids = new Set([p, ...content].map((c) => c.PayloadUUID));
      assert.equal(ids.size, 4);
      // The password in the profile is the app password, and it works where the profile says.
      const ok = await w.ctx.legacy.verify({
        user: mail!.IncomingMailServerUsername as string,
        password: mail!.IncomingPassword as string,
        protocol: 'imap',
        ip: '127.0.0.1',
      });
      assert.equal(ok.outcome, 'ok');
      // The download is on the audit log, without the secret.
      const audit = await w.ctx.store.db
        .selectFrom('audit_events')
        .select(['action', 'detail'])
        .where('action', '=', 'app_password.profile')
        .execute();
      assert.ok(
        audit.some((a) =>
          /Mac mail: configuration profile downloaded from .* \(unsigned\), in the session that made the link/.test(
            a.detail,
          ),
        ),
      );
      assert.ok(audit.every((a) => !a.detail.includes(password)));
    });

    it('works once: the second download and the landing page say the link no longer works', async () => {
      const { download, landing } = linkOf(await create(bob, 'Once'));
      assert.equal((await bob.get(download)).statusCode, 200);
      for (const url of [download, landing]) {
        const again = await bob.get(url);
        assert.equal(again.statusCode, 410, url);
        assert.match(again.body, /This link no longer works/);
        assert.match(again.body, /has been used, has expired/);
      }
      // Nor from another device.
      assert.equal((await new Browser(w.app).get(download)).statusCode, 410);
    });

    it('is refused to another signed-in session (another user, or the same user elsewhere) without being used up; a device with no session gets it once', async () => {
      const { download, landing } = linkOf(await create(bob, 'Phone'));
      const ada = await enrol(ADMIN.address, ADMIN.password);
      const bobElsewhere = await signInAgain(USER.address, USER.password, bobSecret);
      for (const other of [ada, bobElsewhere]) {
        for (const url of [landing, download]) {
          const r = await other.get(url);
          assert.equal(r.statusCode, 403, url);
          assert.match(r.body, /This link belongs to another sign-in/);
          assert.doesNotMatch(r.body, /Phone|dav\.contoso/, 'nothing of the link is shown to another session');
        }
      }
      // The phone that scanned the QR code: no Sesame session.
      const phone = new Browser(w.app, { 'accept-language': 'nl' });
      const look = await phone.get(landing);
      assert.equal(look.statusCode, 200);
      assert.match(
        look.body,
        /Dit profiel stelt e-mail, agenda&#39;s en contacten in voor bob@contoso\.test \(Contoso\) met het app-wachtwoord &quot;Phone&quot;\./,
      );
      assert.match(
        look.body,
        /<a class="button primary" id="profile-download" href="\/apple-profile\/[\w-]{43}\/download">Download het profiel<\/a>/,
      );
      const got = await phone.get(download);
      assert.equal(got.statusCode, 200);
      const p = readPlist(got.rawPayload);
      assert.equal(p.PayloadDisplayName, 'Contoso: Phone');
      assert.equal(payloads(p, 'com.apple.mail.managed')[0]!.EmailAccountDescription, 'Contoso e-mail');
      assert.equal((await phone.get(download)).statusCode, 410);
    });

    it('a profile for an app password limited to IMAP holds no SMTP login and no CalDAV or CardDAV account', async () => {
      await protocols(['imap']);
      try {
        const page = await create(bob, 'Reader');
        assert.match(page, /sets up mail \(reading only: this app password may not send\) for bob@contoso\.test/);
        const p = readPlist((await bob.get(linkOf(page).download)).rawPayload);
        assert.deepEqual(
          (p.PayloadContent as Plist[]).map((c) => c.PayloadType),
          ['com.apple.mail.managed'],
        );
        const mail = payloads(p, 'com.apple.mail.managed')[0]!;
        assert.equal(mail.EmailAccountType, 'EmailTypeIMAP');
        assert.equal(mail.IncomingPassword, passwordOf(page).replace(/ /g, ''));
        // Apple requires an outgoing server in a mail account: named, with no login (EmailAuthNone).
        assert.equal(mail.OutgoingMailServerAuthentication, 'EmailAuthNone');
        for (const key of ['OutgoingPassword', 'OutgoingMailServerUsername', 'OutgoingPasswordSameAsIncomingPassword'])
          assert.ok(!(key in mail), `${key} is absent`);
        assert.ok(!JSON.stringify(p).includes('CalDAV') && !JSON.stringify(p).includes('CardDAV'));
      } finally {
        await protocols(ALL);
      }
    });

    it('POP3 when the app password may use POP3 but not IMAP; calendars and contacts alone for one limited to DAV', async () => {
      await protocols(['pop3', 'smtp']);
      let p = readPlist((await bob.get(linkOf(await create(bob, 'Old phone')).download)).rawPayload);
      const mail = payloads(p, 'com.apple.mail.managed')[0]!;
      assert.equal(mail.EmailAccountType, 'EmailTypePOP');
      assert.equal(mail.IncomingMailServerHostName, 'pop.contoso.test');
      assert.equal(mail.IncomingMailServerPortNumber, 995);
      assert.equal(mail.OutgoingMailServerAuthentication, 'EmailAuthPassword');
      await protocols(['dav']);
      p = readPlist((await bob.get(linkOf(await create(bob, 'Calendar')).download)).rawPayload);
      assert.deepEqual(
        (p.PayloadContent as Plist[]).map((c) => c.PayloadType),
        ['com.apple.caldav.account', 'com.apple.carddav.account'],
      );
      await protocols(ALL);
    });

    it('offers nothing for an app password a profile could not use (SMTP only: a printer), nor before the admin has entered mail settings', async () => {
      await protocols(['smtp']);
      assert.doesNotMatch(await create(bob, 'Printer'), /id="apple-profile"/);
      await protocols(ALL);
      await w.ctx.mailSettings.clear(OPERATOR, orgId);
      try {
        const page = await create(bob, 'No settings');
        assert.match(page, /id="app-password"/);
        assert.doesNotMatch(page, /id="apple-profile"/);
      } finally {
        await w.ctx.mailSettings.set(OPERATOR, orgId, SETTINGS);
      }
    });

    it('expires after 10 minutes', async () => {
      const { download, landing } = linkOf(await create(bob, 'Slow'));
      clock.advance(10 * 60_000 - 1000);
      assert.equal((await new Browser(w.app).get(landing)).statusCode, 200);
      clock.advance(1000);
      assert.equal((await bob.get(landing)).statusCode, 410);
      assert.equal((await bob.get(download)).statusCode, 410);
    });

    it('ends with what it was for: the app password deleted, the session signed out, the user disabled, the settings removed, the protocols narrowed away', async () => {
      const phone = () => new Browser(w.app);
      bob = await signInAgain(USER.address, USER.password, bobSecret); // a fresh second factor, to make app passwords
      // Deleted app password.
      let page = await create(bob, 'Deleted');
      let link = linkOf(page);
      const id = (
        await w.ctx.store.db
          .selectFrom('app_passwords')
          .select('id')
          .where('name', '=', 'Deleted')
          .executeTakeFirstOrThrow()
      ).id;
      await bob.submitForm('/security-info', '/security-info/app-passwords/delete', { id, confirm: '1' });
      assert.equal(
        (await w.ctx.store.db.selectFrom('app_passwords').select('id').where('id', '=', id).execute()).length,
        0,
        'deleted',
      );
      assert.equal((await phone().get(link.download)).statusCode, 410);
      // Settings removed, then back: the link made before still works once they are back (judged at use).
      link = linkOf(await create(bob, 'Settings'));
      await w.ctx.mailSettings.clear(OPERATOR, orgId);
      assert.equal((await phone().get(link.landing)).statusCode, 410);
      await w.ctx.mailSettings.set(OPERATOR, orgId, SETTINGS);
      assert.equal((await phone().get(link.landing)).statusCode, 200);
      // Protocols narrowed to SMTP by the admin after the link was made: nothing left to set up.
      link = linkOf(await create(bob, 'Narrowed'));
      await protocols(['smtp']);
      assert.equal((await phone().get(link.download)).statusCode, 410);
      await protocols(ALL);
      // Disabled user.
      link = linkOf(await create(bob, 'Disabled'));
      await w.ctx.accounts.disableUser(OPERATOR, USER.address);
      assert.equal((await phone().get(link.download)).statusCode, 410);
      await w.ctx.accounts.enableUser(OPERATOR, USER.address);
      // Signed out: the session that made it has ended, so has the link (even for a device without a session).
      bob = await signInAgain(USER.address, USER.password, bobSecret);
      page = await create(bob, 'Signed out');
      link = linkOf(page);
      await bob.submit('/security-info', '/signout', {});
      assert.equal((await phone().get(link.landing)).statusCode, 410);
      bob = await signInAgain(USER.address, USER.password, bobSecret);
    });

    it('two devices racing for one link: exactly one gets the profile', async () => {
      bob = await signInAgain(USER.address, USER.password, bobSecret);
      const { download } = linkOf(await create(bob, 'Race'));
      const results = await Promise.all(Array.from({ length: 6 }, () => new Browser(w.app).get(download)));
      assert.deepEqual(results.map((r) => r.statusCode).sort(), [200, 410, 410, 410, 410, 410]);
    });

    it('is offered in the first sign-in registration flow too, before any session exists, and a device with no session gets it', async () => {
      await w.ctx.accounts.addUser(OPERATOR, {
        address: 'cy@contoso.test',
        password: 'copper-lantern-meadow-31',
        name: 'Cy',
        role: 'user',
      });
      await w.ctx.mfaAdmin.setUserState(OPERATOR, 'cy@contoso.test', 'enabled');
      const b = new Browser(w.app);
      await b.signIn('cy@contoso.test', 'copper-lantern-meadow-31');
      await b.submit('/signin/mfa', '/signin/mfa/setup', {});
      await b.submit('/signin/mfa', '/signin/mfa/method', { kind: 'totp' });
      const s = secretFrom((await b.get('/signin/mfa')).body);
      await b.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(s, clock.now()) });
      await b.submit('/signin/mfa', '/signin/mfa/next', {});
      const page = (await b.get('/signin/mfa')).body;
      assert.match(page, /id="app-password"/);
      const link = linkOf(page);
      const row = await w.ctx.store.db
        .selectFrom('profile_links')
        .innerJoin('users', 'users.id', 'profile_links.user_id')
        .select('session_id')
        .where('users.address', '=', 'cy@contoso.test')
        .executeTakeFirstOrThrow();
      assert.equal(row.session_id, null, 'no session yet');
      const p = readPlist((await new Browser(w.app).get(link.download)).rawPayload);
      assert.equal(payloads(p, 'com.apple.mail.managed')[0]!.IncomingMailServerUsername, 'cy@contoso.test');
    });

    it('tells nothing apart: unknown, malformed, used and expired links get the same 410 page; nothing is cached or sent on as a referrer', async () => {
      const used = linkOf(await create(bob, 'Probe used'));
      assert.equal((await bob.get(used.download)).statusCode, 200);
      const expired = linkOf(await create(bob, 'Probe expired'));
      const fresh = linkOf(await create(bob, 'Probe fresh'));
      const landing = await new Browser(w.app).get(fresh.landing);
      assert.equal(landing.statusCode, 200);
      for (const r of [landing, await new Browser(w.app).get(fresh.download)]) {
        assert.equal(r.headers['cache-control'], 'no-store');
        assert.equal(r.headers['referrer-policy'], 'no-referrer', 'the token in the URL goes nowhere else');
      }
      clock.advance(10 * 60_000);
      const bodies = new Set<string>();
      for (const url of [
        used.landing,
        expired.landing,
        `/apple-profile/${'A'.repeat(43)}`,
        '/apple-profile/short',
        `/apple-profile/${'A'.repeat(43)}/download`,
        `${expired.landing}/download`,
      ]) {
        const r = await new Browser(w.app).get(url);
        assert.equal(r.statusCode, 410, url);
        // Alike but for the CSRF token and the language switch's way back (this URL).
        bodies.add(r.body.replace(/name="(_csrf|back)" value="[^"]*"/g, ''));
      }
      assert.equal(bodies.size, 1, 'one page for every refused link');
    });
  });
}

describe('Apple configuration profiles, signed (SESAME_PROFILE_SIGNING_CERT_FILE / _KEY_FILE)', () => {
  let w: World;
  let dir = '';
  const clock = new FakeClock(Date.now());
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });

  before(async () => {
    // A CA of this run, and a certificate for the mail host it signs (a fullchain: leaf, then CA).
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-profile-sign-'));
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    openssl([
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=Profile test CA',
    ]);
    openssl(['req', '-new', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=mail.contoso.test']);
    fs.writeFileSync(path.join(dir, 'ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n');
    openssl([
      'x509',
      '-req',
      '-in',
      'leaf.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      'ext',
      '-out',
      'leaf.pem',
    ]);
    fs.writeFileSync(path.join(dir, 'fullchain.pem'), fs.readFileSync(path.join(dir, 'leaf.pem')));
    const profileSigner = await loadProfileSigner(path.join(dir, 'fullchain.pem'), path.join(dir, 'leaf.key'));
    w = await makeWorld('sqlite', {}, { clock, profileSigner });
    const orgId = (await w.ctx.accounts.organizationByDomain('contoso.test')).id;
    await w.ctx.mailSettings.set(OPERATOR, orgId, SETTINGS);
  });
  after(async () => {
    await w?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('says so on the page, and the download is a CMS signature OpenSSL verifies against the CA, holding the profile', async () => {
    await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enabled');
    const b = new Browser(w.app);
    await b.signIn(USER.address, USER.password);
    await b.submit('/signin/mfa', '/signin/mfa/setup', {});
    await b.submit('/signin/mfa', '/signin/mfa/method', { kind: 'totp' });
    const secret = secretFrom((await b.get('/signin/mfa')).body);
    await b.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(secret, clock.now()) });
    await b.submit('/signin/mfa', '/signin/mfa/next', {});
    const page = (await b.get('/signin/mfa')).body;
    assert.match(page, /This profile is signed, so your device will show it as &quot;Verified&quot;\./);
    const res = await new Browser(w.app).get(linkOf(page).download);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/x-apple-aspen-config');
    const der = path.join(dir, 'profile.der');
    fs.writeFileSync(der, res.rawPayload);
    assert.ok(!res.rawPayload.subarray(0, 16).toString().startsWith('<?xml'), 'not the bare plist');
    const content = openssl(['cms', '-verify', '-inform', 'DER', '-in', der, '-CAfile', 'ca.pem', '-purpose', 'any']);
    const p = readPlist(content);
    assert.equal(payloads(p, 'com.apple.mail.managed')[0]!.IncomingPassword, passwordOf(page).replace(/ /g, ''));
    // A byte changed in the signed profile: OpenSSL refuses it.
    const bad = Buffer.from(res.rawPayload);
    const at = bad.indexOf('imap.contoso.test');
    bad[at] = 'x'.charCodeAt(0);
    fs.writeFileSync(der, bad);
    assert.throws(() =>
      openssl(['cms', '-verify', '-inform', 'DER', '-in', der, '-CAfile', 'ca.pem', '-purpose', 'any']),
    );
    const audit = await w.ctx.store.db
      .selectFrom('audit_events')
      .select('detail')
      .where('action', '=', 'app_password.profile')
      .execute();
    assert.ok(audit.some((a) => a.detail.includes('(signed)')));
    // The admin's Mail settings page names the certificate.
    const admin = new Browser(w.app);
    await signInAdminWithMfa(admin, ADMIN, { clock });
    const settings = await admin.get('/admin/mail-settings');
    assert.match(
      settings.body,
      /are signed by CN=mail\.contoso\.test \(valid until [^)]+\): devices that trust its issuer show them as &quot;Verified&quot;/,
    );
  });
});
