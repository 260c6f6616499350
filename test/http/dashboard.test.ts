/**
 * The admin dashboard and the sign-in log's filters and exports, on both stores: the numbers equal
 * what was seeded (hours bucketed the same way on SQLite and PostgreSQL), filters select exactly
 * the matching rows, CSV parses back (formula cells neutralised) and JSON lines are one event each,
 * exports stream past the store's page size in order, a bad filter is refused clearly and reads
 * nothing, and an admin of one organization never sees another's rows.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { SignInEvent } from '../../src/domain/audit/events.js';
import { eventId } from '../../src/domain/audit/event-id.js';
import { parseCsv, unguardField } from '../../src/lib/csv.js';
import { adminApiToken, signInAdminWithMfa } from '../support/admin-mfa.js';
import { STORE_KINDS } from '../support/stores.js';
import { ADMIN, Browser, FakeClock, makeWorld, OTHER_ADMIN, USER, type World } from '../support/world.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

for (const kind of STORE_KINDS) {
  describe(`dashboard and sign-in log export on ${kind}`, () => {
    // Half past an hour, so that "an hour ago" and "five hours ago" fall in whole, known hours.
    const clock = new FakeClock(Math.floor(Date.now() / HOUR) * HOUR + 30 * 60_000);
    let w: World;
    let adminToken: string;
    let otherToken: string;
    let contoso: string;
    let fabrikam: string;
    let bobId: string;
    let now: number;
    let admin: Browser;
    let bob: Browser;
    let bobToken: string;

    const api = (url: string, token = adminToken) =>
      w.app.inject({ method: 'GET', url: `/api/v1${url}`, headers: { authorization: `Bearer ${token}` } });
    const ev = (at: number, orgId: string, o: Partial<SignInEvent>): SignInEvent => ({
      id: eventId(at),
      at,
      orgId,
      userId: null,
      addressTyped: 'someone@contoso.test',
      outcome: 'success',
      reason: 'ok',
      protocol: 'web',
      ip: '198.51.100.1',
      userAgent: 'test',
      ...o,
    });

    before(async () => {
      w = await makeWorld(kind, {}, { clock });
      admin = new Browser(w.app);
      bob = new Browser(w.app);
      await bob.signIn(USER.address, USER.password);
      bobToken = (
        await w.app.inject({
          method: 'POST',
          url: '/api/v1/sessions',
          payload: { email: USER.address, password: USER.password },
        })
      ).json().token;
      // The admins sign in first (their own sign-ins land in the current hour, which the checks allow for).
      await signInAdminWithMfa(admin, ADMIN, { clock });
      adminToken = await adminApiToken(w.app, ADMIN, { clock });
      // Through the pages first: the helper registers a second factor there when this store has none yet.
      await signInAdminWithMfa(new Browser(w.app), OTHER_ADMIN, { clock });
      otherToken = await adminApiToken(w.app, OTHER_ADMIN, { clock });
      contoso = (await w.ctx.accounts.organizationByDomain('contoso.test')).id;
      fabrikam = (await w.ctx.accounts.organizationByDomain('fabrikam.test')).id;
      bobId = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!.id;
      now = clock.now();
    });
    after(async () => {
      await w?.close();
    });

    it('counts sign-ins per hour by outcome, legacy protocols, lockouts, MFA states and unused app passwords as seeded', async () => {
      const before = (await api('/dashboard')).json();
      const h1 = now - HOUR;
      const h5 = now - 5 * HOUR;
      await w.ctx.audit.recordSignIns([
        ...Array.from({ length: 3 }, () => ev(h1, contoso, { userId: bobId, addressTyped: USER.address })),
        ...Array.from({ length: 2 }, () =>
          ev(h1, contoso, { outcome: 'failure', reason: 'wrong_password', addressTyped: USER.address, userId: bobId }),
        ),
        ...Array.from({ length: 4 }, () => ev(h5, contoso, { protocol: 'imap' })),
        ev(h5, contoso, { protocol: 'imap', outcome: 'failure', reason: 'wrong_password' }),
        ev(h5, contoso, {
          protocol: 'smtp',
          outcome: 'throttled',
          reason: 'account_locked',
          addressTyped: 'Bob@Contoso.test',
        }),
        ev(h5, contoso, {
          protocol: 'smtp',
          outcome: 'throttled',
          reason: 'account_locked',
          addressTyped: 'bob@contoso.test',
        }),
        ev(h5, contoso, { outcome: 'throttled', reason: 'ip_locked', addressTyped: 'mallory@contoso.test' }),
        // Outside the window, and another organization's: neither counts.
        ...Array.from({ length: 5 }, () =>
          ev(now - 25 * HOUR, contoso, { protocol: 'imap', outcome: 'failure', reason: 'wrong_password' }),
        ),
        ...Array.from({ length: 7 }, () => ev(h1, fabrikam, { protocol: 'imap', addressTyped: 'x@fabrikam.test' })),
      ]);
      // MFA states of active users: ada as her sign-in left it; bob enabled; two more; a disabled account does not count.
      await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enabled');
      await w.ctx.accounts.addUser(OPERATOR, { address: 'carol@contoso.test', name: 'Carol' });
      await w.ctx.accounts.addUser(OPERATOR, { address: 'dave@contoso.test', name: 'Dave' });
      await w.ctx.mfaAdmin.setUserState(OPERATOR, 'carol@contoso.test', 'disabled');
      await w.ctx.mfaAdmin.setUserState(OPERATOR, 'dave@contoso.test', 'enforced');
      await w.ctx.accounts.addUser(OPERATOR, { address: 'gone@contoso.test', name: 'Gone' });
      await w.ctx.mfaAdmin.setUserState(OPERATOR, 'gone@contoso.test', 'enforced');
      await w.ctx.accounts.disableUser(OPERATOR, 'gone@contoso.test');
      const adaState = (await w.ctx.accounts.findUserByAddressOrNull(ADMIN.address))!.mfaState;
      const mfa = { disabled: 1, enabled: 1, enforced: 1 };
      mfa[adaState] += 1;
      // App passwords: used 10 days ago (recent), never used and made 100 days ago, last used 91 days
      // ago (both unused), expired (not counted), another organization's (not counted).
      const eve = (await w.ctx.accounts.findUserByAddressOrNull(OTHER_ADMIN.address))!.id;
      const ap = (id: string, user: string, created: number, used: number | null, expires: number | null = null) => ({
        id,
        user_id: user,
        name: id,
        hash: `h-${id}`,
        protocols: 'imap',
        created_at: created,
        created_ip: '198.51.100.1',
        expires_at: expires,
        last_used_at: used,
      });
      await w.ctx.store.db
        .insertInto('app_passwords')
        .values([
          ap('recent', bobId, now - 200 * DAY, now - 10 * DAY),
          ap('never', bobId, now - 100 * DAY, null),
          ap('old', bobId, now - 300 * DAY, now - 91 * DAY),
          ap('expired', bobId, now - 300 * DAY, null, now - DAY),
          ap('eves', eve, now - 300 * DAY, null),
        ])
        .execute();

      const res = await api('/dashboard');
      assert.equal(res.statusCode, 200, res.body);
      const d = res.json();
      assert.equal(d.hourly.length, 24);
      assert.equal(d.hourly[23].hour, new Date(Math.floor(now / HOUR) * HOUR).toISOString());
      assert.equal(d.since, d.hourly[0].hour);
      const at = (ago: number) => d.hourly[23 - ago];
      assert.deepEqual(at(1), {
        hour: new Date(Math.floor(now / HOUR) * HOUR - HOUR).toISOString(),
        success: 3,
        failure: 2,
        throttled: 0,
      });
      assert.deepEqual(at(5), {
        hour: new Date(Math.floor(now / HOUR) * HOUR - 5 * HOUR).toISOString(),
        success: 4,
        failure: 1,
        throttled: 3,
      });
      // The current hour holds only the admins' own sign-ins, as before the seeding.
      assert.deepEqual(at(0), before.hourly[23]);
      for (const ago of [2, 3, 4, 6, 7, 22, 23])
        assert.deepEqual(
          { ...at(ago), hour: '' },
          { hour: '', success: 0, failure: 0, throttled: 0 },
          `${ago} hours ago`,
        );
      assert.deepEqual(d.legacy, [
        { protocol: 'imap', success: 4, failure: 1, throttled: 0 },
        { protocol: 'smtp', success: 0, failure: 0, throttled: 2 },
      ]);
      assert.deepEqual(d.locked, [
        { reason: 'account_locked', count: 2 },
        { reason: 'ip_locked', count: 1 },
      ]);
      assert.equal(d.lockedAccounts, 2, 'bob (typed twice, in two cases) and mallory');
      assert.deepEqual(d.mfa, mfa);
      // Ada's registration at her first sign-in ended with an app password (admins are created with
      // MFA enforced, so the registration offers one): made now, so counted and not unused.
      assert.deepEqual(d.appPasswords, { total: 4, unused: 2, unusedDays: 90 });

      // The other organization's admin sees only its own numbers.
      const o = (await api('/dashboard', otherToken)).json();
      assert.deepEqual(o.legacy, [{ protocol: 'imap', success: 7, failure: 0, throttled: 0 }]);
      assert.deepEqual(o.locked, []);
      assert.deepEqual(o.appPasswords, { total: 2, unused: 1, unusedDays: 90 }, "eve's own registration made one too");
      assert.equal(o.hourly[22].success, 7);
    });

    it('draws the dashboard page: six charts with titles and tables, linked from the admin navigation', async () => {
      const r = await admin.get('/admin/dashboard');
      assert.equal(r.statusCode, 200, r.body.slice(0, 300));
      assert.equal((r.body.match(/<svg class="chart"/g) ?? []).length, 6);
      for (const id of ['hourly', 'legacy', 'countries', 'locked', 'mfa', 'app-passwords'])
        assert.match(r.body, new RegExp(`<title id="chart-${id}-title">`));
      assert.match(r.body, /<a href="\/admin\/dashboard"[^>]*>Dashboard<\/a>/);
      assert.match(r.body, /7 attempts from mail, calendar and other apps in the last 24 hours, over 2 protocols\./);
      const { mfa } = (await api('/dashboard')).json();
      assert.ok(
        r.body.includes(
          `Of 4 active users, ${mfa.enforced} have registered multi-factor authentication, ${mfa.enabled} must register at their next sign-in, and ${mfa.disabled} have it off.`,
        ),
      );
      assert.match(r.body, /2 of 4 app passwords have not been used for 90 days/);
      // Reasons in words, not codes (#17, item 3).
      assert.match(r.body, />Account locked \(unfamiliar location\)</);
      assert.match(r.body, />Address locked after too many failures</);
      assert.doesNotMatch(r.body, />(account_locked|ip_locked)</);
      assert.doesNotMatch(r.body, /style=|<script/);
      const nl = new Browser(w.app, { 'accept-language': 'nl' });
      nl.cookies = admin.cookies;
      const dutch = await nl.get('/admin/dashboard');
      assert.ok(
        dutch.body.includes(`Van 4 actieve gebruikers hebben er ${mfa.enforced} meervoudige verificatie geregistreerd`),
      );
      // A user who is not an admin is refused, on the page and on the API.
      assert.ok(bob.cookies.size > 0);
      assert.equal((await bob.get('/admin/dashboard')).statusCode, 403);
      assert.equal((await bob.get('/admin/sign-ins/export.csv')).statusCode, 403);
      // Rights come before the filter: a plain user learns nothing from how a filter is refused.
      for (const url of [
        '/dashboard',
        '/sign-ins/export',
        '/sign-ins/export?format=jsonl&outcome=nope',
        '/sign-ins?from=nonsense',
      ]) {
        const r = await api(url, bobToken);
        assert.equal(r.statusCode, 403, url);
        assert.equal(r.json().error.code, 'forbidden', url);
      }
    });

    it('filters the log by user, outcome, protocol, IP and time range, on the API and the page', async () => {
      const t0 = now - 3 * DAY;
      await w.ctx.audit.recordSignIns([
        ev(t0, contoso, {
          addressTyped: 'ZED@contoso.test',
          ip: '203.0.113.9',
          protocol: 'imap',
          outcome: 'failure',
          reason: 'wrong_password',
        }),
        ev(t0 + 1000, contoso, {
          addressTyped: 'zed@contoso.test',
          ip: '203.0.113.9',
          protocol: 'pop3',
          outcome: 'failure',
          reason: 'wrong_password',
        }),
        ev(t0 + 2000, contoso, {
          addressTyped: 'zed@contoso.test',
          ip: '203.0.113.10',
          protocol: 'imap',
          outcome: 'success',
        }),
        ev(t0 + 3000, fabrikam, {
          addressTyped: 'zed@contoso.test',
          ip: '203.0.113.9',
          protocol: 'imap',
          outcome: 'failure',
          reason: 'wrong_password',
        }),
      ]);
      const q = async (query: string, token = adminToken) => {
        const r = await api(`/sign-ins?limit=500&${query}`, token);
        assert.equal(r.statusCode, 200, r.body);
        return r.json() as {
          events: { at: string; addressTyped: string; protocol: string; ip: string; outcome: string }[];
          total: number;
        };
      };
      const zed = await q('user=zed@contoso.test');
      assert.equal(zed.total, 3, 'typed in any case; the other organization’s row is not there');
      assert.deepEqual(
        zed.events.map((e) => e.protocol),
        ['imap', 'pop3', 'imap'],
        'newest first',
      );
      assert.equal((await q('user=zed@contoso.test&outcome=failure')).total, 2);
      assert.equal((await q('user=zed@contoso.test&protocol=imap&outcome=failure')).total, 1);
      assert.equal((await q('ip=203.0.113.9')).total, 2);
      const from = new Date(t0 + 1000).toISOString();
      const to = new Date(t0 + 2000).toISOString();
      assert.deepEqual(
        (await q(`user=zed@contoso.test&from=${from}&to=${to}`)).events.map((e) => e.at),
        [from],
        'from inclusive, to exclusive',
      );
      // Bob's rows by user id: the five seeded for the dashboard (his two identical failures are one
      // aggregated row) and his own sign-in.
      assert.equal((await q(`user=${encodeURIComponent(USER.address)}&protocol=web`)).total, 5);
      // The other organization's admin filtering for contoso's user sees only what was logged under fabrikam.
      assert.equal((await q('user=zed@contoso.test', otherToken)).total, 1);
      // Bad filters: refused with the field named, nothing read.
      for (const bad of [
        'outcome=maybe',
        'from=yesterday',
        `from=${to}&to=${from}`,
        'ip=1.2.3.4%20or%201=1',
        'protocol=IMAP!',
      ]) {
        const r = await api(`/sign-ins?${bad}`);
        assert.equal(r.statusCode, 400, bad);
        assert.equal(r.json().error.code, 'invalid_filter', bad);
        assert.doesNotMatch(r.body, /"events"/);
      }
      // The page: the same filter as a GET form, kept by the export links; a bad one shows the error.
      const page = await admin.get('/admin/sign-ins?user=zed%40contoso.test&protocol=imap');
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /<p>2 attempts<\/p>/);
      assert.match(page.body, /href="\/admin\/sign-ins\/export.csv\?user=zed%40contoso.test&amp;protocol=imap"/);
      const badPage = await admin.get('/admin/sign-ins?from=nonsense');
      assert.equal(badPage.statusCode, 400);
      assert.match(badPage.body, /role="alert"[^>]*>The filter is not valid: check “from”/);
    });

    it('exports CSV and JSON lines, streamed in pages, newest first, formulas neutralised, own organization only', async () => {
      // More rows than one page of the scan (500), many at the same millisecond, to cross page boundaries on ties.
      const t = now - 2 * DAY;
      const bulk = Array.from({ length: 1203 }, (_, i) =>
        ev(t + Math.floor(i / 300), contoso, {
          protocol: 'dav',
          addressTyped: `bulk${i}@contoso.test`,
          ip: '192.0.2.77',
        }),
      );
      bulk.push(
        ev(t + 10, contoso, {
          protocol: 'dav',
          addressTyped: '=HYPERLINK("http://evil.test","x")',
          ip: '192.0.2.77',
          userAgent: '+cmd|calc',
        }),
      );
      await w.ctx.audit.recordSignIns(bulk);
      await w.ctx.audit.recordSignIns([
        ev(t, fabrikam, { protocol: 'dav', ip: '192.0.2.77', addressTyped: 'f@fabrikam.test' }),
      ]);

      const csv = await api('/sign-ins/export?format=csv&ip=192.0.2.77');
      assert.equal(csv.statusCode, 200, csv.body.slice(0, 300));
      assert.match(String(csv.headers['content-type']), /^text\/csv/);
      assert.match(String(csv.headers['content-disposition']), /^attachment; filename="sign-ins-\d{8}-\d{4}\.csv"$/);
      const records = parseCsv(csv.body);
      assert.deepEqual(records[0]!.fields, [
        'time',
        'account_typed',
        'outcome',
        'reason',
        'protocol',
        'ip',
        'user_agent',
        'app_password',
        'count',
        'last_time',
        'country',
      ]);
      const rows = records.slice(1).map((r) => r.fields);
      assert.equal(rows.length, 1204, 'every contoso row once, the fabrikam row not');
      assert.equal(new Set(rows.map((r) => r[1])).size, 1204);
      const times = rows.map((r) => Date.parse(r[0]!));
      assert.deepEqual(
        times,
        [...times].sort((a, b) => b - a),
        'newest first',
      );
      const evil = rows.find((r) => r[1]!.includes('HYPERLINK'))!;
      assert.equal(evil[1], `'=HYPERLINK("http://evil.test","x")`, 'a formula cell gets a leading apostrophe');
      assert.equal(evil[6], "'+cmd|calc");
      assert.equal(unguardField(evil[1]!), '=HYPERLINK("http://evil.test","x")');

      const jsonl = await api('/sign-ins/export?format=jsonl&ip=192.0.2.77&user=bulk7%40contoso.test');
      assert.equal(jsonl.statusCode, 200);
      assert.match(String(jsonl.headers['content-type']), /^application\/x-ndjson/);
      const lines = jsonl.body.split('\n');
      assert.equal(lines.pop(), '', 'each line ends with a newline');
      assert.deepEqual(
        lines.map((l) => JSON.parse(l)),
        [
          {
            id: bulk[7]!.id,
            at: new Date(bulk[7]!.at).toISOString(),
            addressTyped: 'bulk7@contoso.test',
            outcome: 'success',
            reason: 'ok',
            protocol: 'dav',
            ip: '192.0.2.77',
            userAgent: 'test',
            appPasswordName: null,
            count: 1,
            lastAt: new Date(bulk[7]!.at).toISOString(),
            country: null,
          },
        ],
      );
      const all = (await api('/sign-ins/export?format=jsonl&ip=192.0.2.77')).body.trim().split('\n');
      assert.equal(all.length, 1204);

      // The other organization's admin exports only its own row; the page's export link works the same.
      const other = (await api('/sign-ins/export?format=jsonl&ip=192.0.2.77', otherToken)).body
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.deepEqual(
        other.map((e) => e.addressTyped),
        ['f@fabrikam.test'],
      );
      const web = await admin.get('/admin/sign-ins/export.csv?ip=192.0.2.77&user=bulk8%40contoso.test');
      assert.equal(web.statusCode, 200);
      assert.deepEqual(
        parseCsv(web.body)
          .slice(1)
          .map((r) => r.fields[1]),
        ['bulk8@contoso.test'],
      );
      // A bad filter or format: a clear refusal, no download.
      assert.equal((await api('/sign-ins/export?format=xlsx')).statusCode, 400);
      const bad = await api('/sign-ins/export?format=csv&outcome=nope');
      assert.equal(bad.statusCode, 400);
      assert.equal(bad.json().error.code, 'invalid_filter');
      assert.equal((await admin.get('/admin/sign-ins/export.jsonl?to=soon')).statusCode, 400);
      // Documented in the OpenAPI document, with the filter and both file types.
      const doc = (await w.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json();
      assert.deepEqual(
        doc.paths['/api/v1/sign-ins/export'].get.parameters.map((p: { name: string }) => p.name).sort(),
        ['format', 'from', 'ip', 'outcome', 'protocol', 'to', 'user'],
      );
      assert.deepEqual(Object.keys(doc.paths['/api/v1/sign-ins/export'].get.responses['200'].content), [
        'text/csv',
        'application/x-ndjson',
      ]);
      assert.ok(
        doc.paths['/api/v1/dashboard'].get.responses['200'].content['application/json'].schema.properties.hourly,
      );
    });

    it('an aggregated row of repeated failures shows its count on the page, the API, the own history and the exports', async () => {
      // 25 identical failures in one aggregation window (15 minutes, from a window's start).
      const t = Math.floor((now - 3 * DAY) / (15 * 60_000)) * 15 * 60_000 + 1000;
      const ip = '203.0.113.99';
      const same = (i: number) =>
        ev(t + i * 10, contoso, {
          userId: bobId,
          addressTyped: USER.address,
          outcome: 'failure',
          reason: 'wrong_password',
          protocol: 'imap',
          ip,
        });
      await w.ctx.audit.recordSignIns(Array.from({ length: 20 }, (_, i) => same(i)));
      for (let i = 20; i < 25; i++) await w.ctx.audit.recordSignIn(same(i));
      const last = new Date(t + 240).toISOString();

      const listed = (await api(`/sign-ins?ip=${ip}`)).json();
      assert.equal(listed.total, 1, 'one row');
      assert.equal(listed.events[0].count, 25);
      assert.equal(listed.events[0].at, new Date(t).toISOString());
      assert.equal(listed.events[0].lastAt, last);

      const page = await admin.get(`/admin/sign-ins?ip=${ip}`);
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /<span class="repeated">25 identical attempts, the last at [^<]+<\/span>/);

      const mine = (await api('/me/sign-ins', bobToken)).json();
      const row = mine.events.find((e: { ip: string }) => e.ip === ip);
      assert.equal(row.count, 25);
      assert.equal(row.lastAt, last);
      const myPage = await bob.get('/account/sign-ins');
      assert.match(myPage.body, /25 identical attempts, the last at/);

      const csv = parseCsv((await api(`/sign-ins/export?format=csv&ip=${ip}`)).body);
      const header = csv[0]!.fields;
      assert.deepEqual(
        [csv[1]!.fields[header.indexOf('count')], csv[1]!.fields[header.indexOf('last_time')]],
        ['25', last],
      );
      const jsonl = (await api(`/sign-ins/export?format=jsonl&ip=${ip}`)).body.trim().split('\n');
      assert.equal(jsonl.length, 1);
      assert.equal(JSON.parse(jsonl[0]!).count, 25);
    });
  });
}
