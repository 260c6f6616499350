/**
 * Countries of addresses (issue #20, item 3), on both stores: the sign-in logs (admin, a user's
 * page, My sign-ins), app passwords' last use, the export and the API show the country of a public
 * address from the shipped data and a dash for a documentation address, with DB-IP's credit; the
 * owner's "new address" mail says "new country" for a first use from a second country and not for
 * a second address in the same country; admins are mailed only while the policy asks; the
 * dashboard counts legacy attempts by country.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GeoIpCountries } from '../../src/adapters/geoip/countries.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { parseCsv } from '../../src/lib/csv.js';
import { adminApiToken, signInAdminWithMfa } from '../support/admin-mfa.js';
import { parseMessage, startSmtp } from '../support/sinks.js';
import { STORE_KINDS } from '../support/stores.js';
import { ADMIN, Browser, FakeClock, makeWorld, USER, type World } from '../support/world.js';

/** Public addresses: two in one country, three in three others (checked against the data before use). */
const NL1 = '145.100.0.1';
const NL2 = '145.100.0.2';
const NL3 = '145.100.0.3';
const US = '8.8.8.8';
const GB = '81.2.69.142';
const AU = '1.1.1.1';
/** A documentation address: no country. */
const DOC = '192.0.2.1';

const POLICY_FORM = {
  mfaDefault: 'disabled',
  methods: 'totp',
  rememberDays: '0',
  apCap: '40',
  apProtocols: 'imap',
  apAllowed: '1',
  apKeep: '1',
};

/** What a page has around the first `needle`, for a failure's message. */
const around = (body: string, needle: string) =>
  body.slice(Math.max(0, body.indexOf(needle) - 200), body.indexOf(needle) + 300);

/** `text` as a regular expression that matches it literally. */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const en = new Intl.DisplayNames(['en'], { type: 'region' });
const nlNames = new Intl.DisplayNames(['nl'], { type: 'region' });

for (const kind of STORE_KINDS) {
  describe(`countries of addresses and the new-country notice on ${kind}`, () => {
    const clock = new FakeClock(Date.now());
    let w: World;
    let smtp: Awaited<ReturnType<typeof startSmtp>>;
    let admin: Browser;
    let bob: Browser;
    let adminToken: string;
    let bobToken: string;
    let password = '';
    const code: Record<string, string> = {};
    const named = (ip: string, names = en) => `${names.of(code[ip]!)} (${code[ip]})`;
    const api = (url: string, init: { method?: 'GET' | 'PUT'; payload?: object } = {}) =>
      w.app.inject({
        method: init.method ?? 'GET',
        url: `/api/v1${url}`,
        headers: { authorization: `Bearer ${adminToken}` },
        ...(init.payload ? { payload: init.payload } : {}),
      });
    const use = (ip: string, pw = password) =>
      w.ctx.legacy.verify({ user: USER.address, password: pw, protocol: 'imap', ip });
    // Bodies decoded first: quoted-printable may break a line inside an address.
    const mailsTo = (to: string, ip: string) =>
      smtp.received
        .filter((r) => r.to.includes(to))
        .map((r) => parseMessage(r.raw))
        .filter((m) => m.body.includes(ip));
    /** The mails are sent after the answer: wait for `n` of them (a loaded machine may take a while). */
    const waitFor = async (to: string, ip: string, n = 1) => {
      for (let i = 0; i < 200 && mailsTo(to, ip).length < n; i++) await new Promise((r) => setTimeout(r, 25));
      return mailsTo(to, ip);
    };

    before(async () => {
      // The shipped data, as the server reads it: the expectations below follow from it.
      const table = await new GeoIpCountries().table();
      for (const ip of [NL1, NL2, NL3, US, GB, AU]) {
        const c = table.country(ip);
        assert.ok(c, `the shipped data places ${ip}`);
        code[ip] = c;
      }
      assert.equal(code[NL2], code[NL1], 'three addresses of one country');
      assert.equal(code[NL3], code[NL1], 'three addresses of one country');
      assert.equal(new Set([code[NL1], code[US], code[GB], code[AU]]).size, 4, 'four countries');
      assert.equal(table.country(DOC), undefined);

      smtp = await startSmtp();
      w = await makeWorld(kind, { smtpUrl: `smtp://127.0.0.1:${smtp.port}` }, { clock });
      bob = new Browser(w.app);
      assert.equal((await bob.signIn(USER.address, USER.password)).statusCode, 303);
      // A token while bob's MFA is still off (then the API signs him in with his password alone).
      bobToken = (
        await w.app.inject({
          method: 'POST',
          url: '/api/v1/sessions',
          payload: { email: USER.address, password: USER.password },
        })
      ).json().token;
      assert.ok(bobToken);
      await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enabled');
      const user = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
      const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, clock.now()))
        .session;
      password = (await w.ctx.appPasswords.create(user, s, 'iPhone Mail', { ip: '127.0.0.1', locale: 'en' })).password;
      admin = new Browser(w.app);
      await signInAdminWithMfa(admin, ADMIN, { clock });
      adminToken = await adminApiToken(w.app, ADMIN, { clock });
    });
    after(async () => {
      await w?.close();
      await smtp?.stop();
    });

    it('tells the owner of a new country, not of a second address in the same country; admins only when asked', async () => {
      assert.equal((await use(NL1)).outcome, 'ok');
      const [first] = await waitFor(USER.address, NL1);
      assert.ok(first, 'the first use is mailed as a new address');
      assert.equal(first.headers.get('subject'), 'Your app password was used from a new address');
      assert.match(first.body, new RegExp(literal(`new address, ${NL1} in ${named(NL1)},`)));
      assert.doesNotMatch(
        first.body,
        /new country|never been used from/,
        "the account's first country is its baseline",
      );

      assert.equal((await use(NL2)).outcome, 'ok');
      const [second] = await waitFor(USER.address, NL2);
      assert.ok(second);
      assert.equal(second.headers.get('subject'), 'Your app password was used from a new address');
      assert.doesNotMatch(second.body, /new country|never been used from/, 'the same country');

      assert.equal((await use(US)).outcome, 'ok');
      const [third] = await waitFor(USER.address, US);
      assert.ok(third);
      assert.equal(third.headers.get('subject'), 'Warning: your app password was used from a new country');
      assert.match(
        third.body,
        new RegExp(
          literal(`"iPhone Mail" was used from ${named(US)}, a country your account has never been used from before`),
        ),
      );
      assert.match(third.body, /IP geolocation by DB-IP/);
      assert.equal(mailsTo(ADMIN.address, US).length, 0, 'the policy does not ask: no admin is told');

      // On, from the policy page.
      const page = await admin.get('/admin/policy');
      assert.match(
        page.body,
        /<input type="checkbox" name="apNotifyNewCountry" value="1" > Email admins when an app password is used from a new country/,
      );
      const saved = await admin.submit('/admin/policy', '/admin/policy', { ...POLICY_FORM, apNotifyNewCountry: '1' });
      assert.equal(saved.statusCode, 303, saved.body.slice(0, 300));
      assert.match((await admin.get('/admin/policy')).body, /name="apNotifyNewCountry" value="1" checked>/);
      assert.equal((await api('/policy')).json().appPasswords.notifyAdminsNewCountry, true);

      assert.equal((await use(GB)).outcome, 'ok');
      const [toAdmin] = await waitFor(ADMIN.address, GB);
      assert.ok(toAdmin, 'the admin is told');
      assert.equal(toAdmin.headers.get('subject'), `An app password of ${USER.address} was used from a new country`);
      assert.match(
        toAdmin.body,
        new RegExp(
          literal(
            `"iPhone Mail" of ${USER.name} (${USER.address}) was used from ${named(GB)}, a country this account has never been used from before. Address ${GB},`,
          ),
        ),
      );
      assert.equal(
        (await waitFor(USER.address, GB))[0]?.headers.get('subject'),
        'Warning: your app password was used from a new country',
      );
      // A known country again (another address there) tells no admin.
      await use(NL1);
      assert.equal((await use(NL3)).outcome, 'ok');
      await waitFor(USER.address, NL3);
      assert.equal(mailsTo(ADMIN.address, NL3).length, 0);

      // Off again, from the JSON API.
      const off = await api('/policy', { method: 'PUT', payload: { appPasswords: { notifyAdminsNewCountry: false } } });
      assert.equal(off.statusCode, 200, off.body);
      assert.equal(off.json().appPasswords.notifyAdminsNewCountry, false);
      assert.equal((await use(AU)).outcome, 'ok');
      const [toOwner] = await waitFor(USER.address, AU);
      assert.equal(toOwner?.headers.get('subject'), 'Warning: your app password was used from a new country');
      await w.ctx.flush();
      assert.equal(mailsTo(ADMIN.address, AU).length, 0, 'off: no admin is told');
      assert.equal(
        smtp.received.filter(
          (r) => r.to.includes(ADMIN.address) && /new country/.test(parseMessage(r.raw).headers.get('subject') ?? ''),
        ).length,
        1,
        'one admin mail in all',
      );
    });

    it('shows the country beside each address, a dash where none is known, and credits DB-IP', async () => {
      assert.equal((await use(DOC, 'not-the-password')).outcome, 'wrong');
      await w.ctx.flush();
      // Cells carry their column's name (data-label, for narrow screens): any attributes.
      const nlCell = (names = en) =>
        new RegExp(
          `<td[^>]*>${literal(NL1)}</td><td[^>]*><span class="country">${literal(named(NL1, names))}</span></td>`,
        );
      const dash = new RegExp(
        `<td[^>]*>${literal(DOC)}</td><td[^>]*><span class="country none" title="[^"]+">—</span></td>`,
      );
      const credit =
        /<footer class="credit"><p class="hint"><a href="https:\/\/db-ip\.com">IP geolocation by DB-IP<\/a><\/p><\/footer>/;

      const log = await admin.get('/admin/sign-ins');
      assert.equal(log.statusCode, 200);
      assert.match(log.body, nlCell(), `the admin sign-in log: ${around(log.body, NL1)}`);
      assert.match(log.body, dash);
      assert.match(log.body, /<th scope="col">Country<\/th>/);
      assert.match(log.body, credit);
      const dutch = new Browser(w.app, { 'accept-language': 'nl' });
      dutch.cookies = admin.cookies;
      const nlLog = await dutch.get('/admin/sign-ins');
      assert.match(nlLog.body, nlCell(nlNames), 'in the reader’s language');
      assert.match(nlLog.body, /<th scope="col">Land<\/th>/);
      assert.match(nlLog.body, />IP-geolocatie door DB-IP<\/a>/);

      const userPage = await admin.get(`/admin/users/user?address=${encodeURIComponent(USER.address)}`);
      assert.match(userPage.body, nlCell(), "the user's page: sign-ins");
      assert.match(userPage.body, dash);
      assert.ok(userPage.body.includes(` · ${AU} · ${named(AU)}`), "the user's page: the app password's last use");
      assert.match(userPage.body, credit);

      const mine = await bob.get('/account/sign-ins');
      assert.equal(mine.statusCode, 200);
      assert.match(mine.body, nlCell(), 'My sign-ins');
      assert.match(mine.body, dash);
      assert.match(mine.body, credit);
      // A session from a public address (as if bob signed in from there too): My sessions and his page.
      const bobUser = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
      await w.ctx.sessions.start(bobUser.id, ['pwd'], { ip: US, userAgent: 't' }, clock.now());
      const sessionLine = `<span class="hint">${US} · <span class="country">${named(US)}</span></span>`;
      const sessions = await bob.get('/account/sessions');
      assert.ok(sessions.body.includes(sessionLine), `My sessions: ${around(sessions.body, US)}`);
      assert.match(sessions.body, credit);
      assert.ok(
        (await admin.get(`/admin/users/user?address=${encodeURIComponent(USER.address)}`)).body.includes(sessionLine),
        "the user's page: sessions",
      );
      const security = await bob.get('/security-info');
      assert.ok(security.body.includes(` · ${AU} · ${named(AU)}`), 'Security info: the last use');
      assert.match(security.body, credit);
      assert.doesNotMatch((await bob.get('/account')).body, /db-ip/, 'no credit where no country shows');

      const csv = parseCsv((await admin.get('/admin/sign-ins/export.csv')).body).map((r) => r.fields);
      const header = csv[0]!;
      assert.equal(header.at(-1), 'country');
      const byIp = (ip: string) => csv.find((r) => r[header.indexOf('ip')] === ip)!;
      assert.equal(byIp(NL1)[header.indexOf('country')], code[NL1]);
      assert.equal(byIp(DOC)[header.indexOf('country')], '');
      const lines = (await api('/sign-ins/export?format=jsonl')).body
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.equal(lines.find((e) => e.ip === US).country, code[US]);
      assert.equal(lines.find((e) => e.ip === DOC).country, null);
      const own = (
        await w.app.inject({
          method: 'GET',
          url: '/api/v1/me/sign-ins',
          headers: { authorization: `Bearer ${bobToken}` },
        })
      ).json().events as { ip: string; country: string | null }[];
      assert.equal(own.find((e) => e.ip === NL1)?.country, code[NL1], 'GET /me/sign-ins');
      assert.equal(own.find((e) => e.ip === DOC)?.country, null);
      const listed = (await api('/sign-ins')).json().events as { ip: string; country: string | null }[];
      assert.equal(listed.find((e) => e.ip === GB)?.country, code[GB]);
      assert.equal(listed.find((e) => e.ip === DOC)?.country, null);
    });

    it('counts legacy attempts by country on the dashboard', async () => {
      const d = (await api('/dashboard')).json();
      const row = (c: string | null) => d.legacyByCountry.find((r: { country: string | null }) => r.country === c);
      // NL1 twice, NL2 and NL3 (one country); one each elsewhere; the wrong one from DOC.
      assert.deepEqual(row(code[NL1]!), { country: code[NL1], success: 4, failure: 0, throttled: 0 });
      for (const ip of [US, GB, AU])
        assert.deepEqual(row(code[ip]!), { country: code[ip], success: 1, failure: 0, throttled: 0 });
      assert.deepEqual(row(null), { country: null, success: 0, failure: 1, throttled: 0 });
      assert.equal(d.legacyByCountry.length, 5);
      assert.equal(d.legacyByCountry[0].country, code[NL1], 'most attempts first');
      const page = await admin.get('/admin/dashboard');
      assert.match(
        page.body,
        /<title id="chart-countries-title">Mail and calendar apps \(app passwords\) by country<\/title>/,
      );
      const tableRow = (name: string, n: number[]) =>
        new RegExp(`<th[^>]*scope="row"[^>]*>${literal(name)}</th>${n.map((x) => `<td[^>]*>${x}</td>`).join('')}`);
      assert.match(page.body, tableRow(named(NL1), [4, 0, 0, 4]));
      assert.match(page.body, tableRow('No country known', [0, 1, 0, 1]));
      assert.match(page.body, /from 4 countries, by the country/);
      assert.match(page.body, /IP geolocation by DB-IP/);
    });
  });
}
