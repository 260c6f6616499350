/**
 * Smart lockout (issue #15, item 1; docs/security.md "Smart lockout"), on both stores, through the
 * HTTP endpoints mail servers and browsers use, each IP given as the server sees it:
 * - guesses from elsewhere never refuse the owner's good app password, nor the owner's browser
 *   sign-in from a network the account is known at;
 * - a stale app password polled by an old device counts once a day, however often it polls;
 * - per-IP throttling still stops one source, across accounts, and refuses even a right main
 *   password from there; a good app password still passes (a proxy without SESAME_TRUSTED_PROXIES
 *   shows every DAV user as one IP);
 * - an app password's success never gives a main password more tries;
 * - the sign-in log says which lock refused (`ip_locked`, `account_locked`, `account_locked_familiar`,
 *   `ip_rate_limited`), and an admin lifts an account's and an IP's locks (pages and JSON API);
 * - successful main-password checks are limited per IP too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { User } from '../../src/domain/accounts/model.js';
import { adminApiToken, signInAdminWithMfa } from '../support/admin-mfa.js';
import { STORE_KINDS } from '../support/stores.js';
import { ADMIN, Browser, hiddenFields, makeWorld, type World } from '../support/world.js';

const LIMIT = 5;
const IP_LIMIT = 12;
const ATTACKER = '203.0.113.66';
const OFFICE = '198.51.100.10';

for (const kind of STORE_KINDS) {
  describe(`smart lockout on ${kind}`, () => {
    let w: World;
    let key = '';
    const basic = (user: string, password: string, ip: string) =>
      w.app.inject({
        method: 'GET',
        url: '/auth/basic',
        remoteAddress: ip,
        headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
      });
    const mail = (user: string, password: string, ip: string, service = 'imap') =>
      w.app.inject({
        method: 'POST',
        url: '/auth/mail',
        headers: { authorization: `Bearer ${key}` },
        payload: { user, password, service, remoteIp: ip },
      });
    const web = (email: string, password: string, ip: string) =>
      w.app.inject({ method: 'POST', url: '/api/v1/sessions', remoteAddress: ip, payload: { email, password } });
    const reasons = async (address: string) => {
      await w.ctx.flush();
      return (
        (
          await w.ctx.store.db
            .selectFrom('sign_in_events')
            .select(['reason', 'outcome', 'ip', 'attempts'])
            .where('address_typed', '=', address)
            .orderBy('at')
            .execute()
        )
          // Identical failures are one row with a count (issue #15, item 4): one entry per attempt here.
          .flatMap((r) => Array<string>(Number(r.attempts)).fill(`${r.outcome}/${r.reason}@${r.ip}`))
      );
    };
    /** A user with MFA enabled (main password still allowed on mail protocols) and one app password. */
    async function person(address: string, password: string): Promise<{ user: User; app: string }> {
      const user = (await w.ctx.accounts.addUser(OPERATOR, { address, password }))!;
      await w.ctx.mfaAdmin.setUserState(OPERATOR, address, 'enabled');
      const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: OFFICE, userAgent: 't' }, Date.now()))
        .session;
      const app = (await w.ctx.appPasswords.create(user, s, 'Phone', { ip: OFFICE, locale: 'en' })).password;
      return { user, app };
    }

    before(async () => {
      w = await makeWorld(kind, {
        accountFailureLimit: LIMIT,
        ipFailureLimit: IP_LIMIT,
        ipPasswordChecksPerMinute: 1000,
      });
      key = (await w.ctx.integrations.add('dovecot')).key;
    });
    after(async () => w.close());

    it("guesses from elsewhere lock the main password there, never the owner's good app password nor the owner at a familiar network", async () => {
      const { app } = await person('dana@contoso.test', 'slate-orchard-violin-33');
      assert.equal((await web('dana@contoso.test', 'slate-orchard-violin-33', OFFICE)).statusCode, 200);
      // Ten distinct wrong passwords, no credential of the owner's, through Basic (DAV) from one place.
      for (let i = 0; i < 10; i++)
        assert.equal((await basic('dana@contoso.test', `guess-${i}-not-it`, ATTACKER)).statusCode, 401);
      assert.equal((await basic('dana@contoso.test', app, '192.0.2.200')).statusCode, 200, 'the phone elsewhere');
      assert.equal((await basic('dana@contoso.test', app, ATTACKER)).statusCode, 200, 'even from the guesser');
      assert.equal((await mail('dana@contoso.test', app, '192.0.2.201', 'imap')).statusCode, 200, 'on IMAP');
      assert.equal(
        (await basic('dana@contoso.test', 'slate-orchard-violin-33', '192.0.2.202')).statusCode,
        401,
        'the main password from unfamiliar places is locked, even the right one',
      );
      assert.equal(
        (await web('dana@contoso.test', 'slate-orchard-violin-33', '198.51.100.77')).statusCode,
        200,
        'the owner at the familiar network (another address in the office /24) signs in',
      );
      const log = await reasons('dana@contoso.test');
      assert.ok(log.includes(`throttled/account_locked@192.0.2.202`), log.join(' '));
    });

    it('a familiar network has its own counter: guessing there locks it too (account_locked_familiar)', async () => {
      await person('finn@contoso.test', 'maple-tunnel-oyster-58');
      assert.equal((await web('finn@contoso.test', 'maple-tunnel-oyster-58', OFFICE)).statusCode, 200);
      for (let i = 0; i < LIMIT; i++)
        assert.equal((await web('finn@contoso.test', `office-guess-${i}`, OFFICE)).statusCode, 401);
      assert.equal((await web('finn@contoso.test', 'maple-tunnel-oyster-58', OFFICE)).statusCode, 429);
      assert.equal(
        (await web('finn@contoso.test', 'maple-tunnel-oyster-58', '192.0.2.90')).statusCode,
        200,
        'from elsewhere the other counter still lets the right password in',
      );
      assert.ok((await reasons('finn@contoso.test')).includes(`throttled/account_locked_familiar@${OFFICE}`));
    });

    it('a stale app password polled 40 times counts once: the IP is not locked and the log says repeated', async () => {
      const { user, app } = await person('gus@contoso.test', 'copper-lagoon-fable-12');
      const old = (await w.ctx.appPasswords.list(user)).find((p) => p.name === 'Phone')!;
      await w.ctx.appPasswords.remove(user, old.id);
      for (let i = 0; i < 40; i++) assert.equal((await basic('gus@contoso.test', app, '192.0.2.150')).statusCode, 401);
      const log = await reasons('gus@contoso.test');
      assert.equal(log.filter((r) => r.startsWith('failure/wrong_password')).length, 1, log.join(' '));
      assert.equal(log.filter((r) => r.startsWith('failure/repeated_wrong_password')).length, 39);
      assert.equal(
        (await basic('gus@contoso.test', 'copper-lagoon-fable-12', '192.0.2.150')).statusCode,
        200,
        "the old phone's IP was never locked (40 polls > IP limit): the right main password passes",
      );
    });

    it('per-IP throttling stops one source across accounts; a good app password from it still passes (one proxy IP for every DAV user)', async () => {
      const a = await person('hana@contoso.test', 'willow-canyon-ember-20');
      const b = await person('ivan@contoso.test', 'harbor-silk-meadow-64');
      const proxy = '10.9.9.9';
      // A password spray: one wrong password for many accounts (real and made up) from one IP.
      for (let i = 0; i < IP_LIMIT; i++) await basic(`user${i}@contoso.test`, 'Spring2026!', proxy);
      assert.equal((await basic('hana@contoso.test', 'willow-canyon-ember-20', proxy)).statusCode, 401);
      assert.equal((await basic('hana@contoso.test', a.app, proxy)).statusCode, 200);
      assert.equal((await basic('ivan@contoso.test', b.app, proxy)).statusCode, 200);
      assert.equal(
        (await basic('hana@contoso.test', 'willow-canyon-ember-20', '192.0.2.33')).statusCode,
        200,
        "the lock is the IP's, not the account's",
      );
      assert.ok((await reasons('hana@contoso.test')).includes(`throttled/ip_locked@${proxy}`));
    });

    it("an app password's success never gives the main password more tries", async () => {
      const { app } = await person('jo@contoso.test', 'ivory-pebble-garden-71');
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 2; i++) await mail('jo@contoso.test', `r${round}-guess-${i}`, '192.0.2.60');
        assert.equal((await mail('jo@contoso.test', app, '192.0.2.61')).statusCode, 200);
      }
      assert.equal(
        (await mail('jo@contoso.test', 'ivory-pebble-garden-71', '192.0.2.60')).statusCode,
        401,
        '6 failures: locked at 5 although the app password worked in between',
      );
    });

    it("an admin sees and lifts an account's locks and an IP's locks (pages and JSON API), in the audit log", async () => {
      await person('kim@contoso.test', 'lemon-brook-falcon-39');
      for (let i = 0; i < LIMIT; i++) await web('kim@contoso.test', `kim-guess-${i}`, '192.0.2.70');
      assert.equal((await web('kim@contoso.test', 'lemon-brook-falcon-39', '192.0.2.71')).statusCode, 429);
      const token = await adminApiToken(w.app, ADMIN);
      const auth = { authorization: `Bearer ${token}` };
      const locks = await w.app.inject({ method: 'GET', url: '/api/v1/users/kim@contoso.test/locks', headers: auth });
      assert.equal(locks.statusCode, 200, locks.body);
      assert.ok(locks.json().mainPassword.unfamiliar > 0);
      assert.equal(locks.json().mainPassword.familiar, 0);
      // The button on the user's page, which says the account is locked.
      const b = new Browser(w.app);
      await signInAdminWithMfa(b, ADMIN);
      const users = await b.get('/admin/users/user?address=kim%40contoso.test');
      assert.match(users.body, /<dd id="user-locks">Locked for \d+ more minutes?<\/dd>/);
      const lifted = await b.post('/admin/users/lift-locks', {
        ...hiddenFields(users.body, '/admin/users/lift-locks'),
        address: 'kim@contoso.test',
      });
      assert.equal(lifted.statusCode, 303);
      assert.match(
        (await b.get(lifted.headers.location as string)).body,
        /sign-in locks of kim@contoso.test are lifted/,
      );
      assert.equal((await web('kim@contoso.test', 'lemon-brook-falcon-39', '192.0.2.71')).statusCode, 200);

      // An IP lock, seen on the Sign-in log page and lifted there.
      const ip = '192.0.2.222';
      for (let i = 0; i < IP_LIMIT; i++) await web(`nobody${i}@contoso.test`, 'Winter2026!', ip);
      assert.equal((await web('kim@contoso.test', 'lemon-brook-falcon-39', ip)).statusCode, 429);
      const listed = await w.app.inject({ method: 'GET', url: '/api/v1/locks/ips', headers: auth });
      assert.ok(
        listed.json().ips.some((l: { ip: string; seconds: number }) => l.ip === ip && l.seconds > 0),
        listed.body,
      );
      const log = await b.get('/admin/sign-ins');
      assert.match(log.body, new RegExp(`Lift the lock of ${ip.replaceAll('.', '\\.')}`));
      const done = await b.post('/admin/locks/ip', { ...hiddenFields(log.body, '/admin/locks/ip'), ip });
      assert.equal(done.statusCode, 303);
      assert.match((await b.get(done.headers.location as string)).body, /The locks of 192\.0\.2\.222 are lifted/);
      assert.equal((await web('kim@contoso.test', 'lemon-brook-falcon-39', ip)).statusCode, 200);
      // An IP no lock refused in this organization cannot be lifted by its admin (IP locks are shared).
      const other = await w.app.inject({
        method: 'POST',
        url: '/api/v1/locks/ips/lift',
        headers: auth,
        payload: { ip: '192.0.2.250' },
      });
      assert.equal(other.statusCode, 404);
      const audit = await w.ctx.store.db
        .selectFrom('audit_events')
        .select('action')
        .where('action', 'in', ['user.locks_lifted', 'ip.locks_lifted'])
        .execute();
      assert.deepEqual(audit.map((a) => a.action).sort(), ['ip.locks_lifted', 'user.locks_lifted']);
    });
  });
}

for (const kind of STORE_KINDS) {
  describe(`password checks per client IP on ${kind}`, () => {
    let w: World;
    let key = '';
    before(async () => {
      w = await makeWorld(kind, { ipPasswordChecksPerMinute: 4 });
      key = (await w.ctx.integrations.add('dovecot')).key;
    });
    after(async () => w.close());

    it('counts successful sign-ins too, on the browser, the API and the mail apps, and refuses beyond the rate (ip_rate_limited)', async () => {
      await w.ctx.accounts.addUser(OPERATOR, { address: 'lee@contoso.test', password: 'pine-cobalt-river-81' });
      const web = (ip: string) =>
        w.app.inject({
          method: 'POST',
          url: '/api/v1/sessions',
          remoteAddress: ip,
          payload: { email: 'lee@contoso.test', password: 'pine-cobalt-river-81' },
        });
      const ip = '192.0.2.40';
      for (let i = 0; i < 3; i++) assert.equal((await web(ip)).statusCode, 201, `success ${i + 1}`);
      const imap = await w.app.inject({
        method: 'POST',
        url: '/auth/mail',
        headers: { authorization: `Bearer ${key}` },
        payload: { user: 'lee@contoso.test', password: 'pine-cobalt-river-81', service: 'imap', remoteIp: ip },
      });
      assert.equal(imap.statusCode, 200, 'the fourth, on IMAP, shares the rate');
      const refused = await web(ip);
      assert.equal(refused.statusCode, 429, 'the fifth success within a minute is refused');
      assert.ok(Number(refused.headers['retry-after']) > 0);
      assert.equal((await web('192.0.2.41')).statusCode, 201, 'another IP is not affected');
      await w.ctx.flush();
      const rows = await w.ctx.store.db
        .selectFrom('sign_in_events')
        .select(['reason'])
        .where('reason', '=', 'ip_rate_limited')
        .execute();
      assert.equal(rows.length, 1);
    });
  });
}
