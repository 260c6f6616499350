/**
 * Black-box probes of issue #15's scenarios about locks and costs, against a real server with the
 * default limits (nothing relaxed), over HTTP only, as an attacker, a mail server and a user would:
 * - the lock is a weapon: distinct wrong passwords with no credential, through /auth/basic, must
 *   not refuse the owner's good app password, nor the owner's main password from a familiar place;
 * - behind a proxy without SESAME_TRUSTED_PROXIES every DAV user shares one IP: one attacker
 *   locking that IP must not lock the users' good app passwords;
 * - a stale device retrying a deleted app password counts once;
 * - an admin's main password on IMAP, POP3, SMTP, DAV and Basic;
 * - `wachtwoord1` as a new password;
 * - successful sign-ins are limited per IP (Argon2 time is shared by everyone).
 * (SMS pumping: probes-budgets; the log flood: probes-log-flood; timing of unknown addresses:
 * probes-timing; trickling bodies, nested JSON, aborts, unknown service names: probes-transport.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { generateAppPassword, groupAppPassword } from '../../src/domain/app-passwords/format.js';
import { adminApiToken } from '../support/admin-mfa.js';
import {
  apiToken,
  basic,
  bearer,
  call,
  registerTotp,
  signInLog,
  startInstance,
  tallyAttempts,
  type ProbeServer,
  type Registered,
} from '../support/probes.js';

const ADMIN = { address: 'ada@contoso.test', password: 'violet-harbour-lantern-42' };
/** MFA enabled, nothing registered yet: her main password still works on mail protocols. */
const DORA = { address: 'dora@contoso.test', password: 'cobalt-willow-sparrow-48' };
/** Registers an authenticator app: MFA enforced, app passwords only. */
const IVY = { address: 'ivy@contoso.test', password: 'quiet-meadow-copper-77' };
const JUNE = { address: 'june@contoso.test', password: 'harbor-lantern-quartz-35' };
/** MFA off: a password alone signs in on the API. */
const CARL = { address: 'carl@contoso.test', password: 'pebble-orchard-silver-25' };

describe('probes: locks that strangers cannot turn against the owner, and sign-ins that cost', () => {
  let server: ProbeServer;
  let key = '';
  let ivy: Registered;
  let june: Registered;
  let adminToken = '';
  const base = () => server.base;
  const dav = async (user: string, password: string) =>
    (await call(base(), 'GET', '/auth/basic', undefined, basic(user, password))).status;
  const dovecot = async (user: string, password: string, remoteIp: string, service = 'imap') =>
    (await call(base(), 'POST', '/auth/mail', { user, password, service, remoteIp }, bearer(key))).status;
  const nginx = async (user: string, password: string, protocol: string) =>
    (
      await call(base(), 'GET', '/auth/nginx-mail', undefined, {
        ...bearer(key),
        'auth-method': 'plain',
        'auth-user': user,
        'auth-pass': encodeURIComponent(password),
        'auth-protocol': protocol,
        'auth-login-attempt': '1',
        'client-ip': '192.0.2.77',
      })
    ).headers.get('auth-status');
  const reasonsOf = async (address: string) =>
    tallyAttempts(
      (await signInLog(base(), adminToken)).filter((r) => r.addressTyped === address),
      (r) => `${r.outcome}/${r.reason}`,
    );

  before(async () => {
    const started = await startInstance(
      'lockout',
      {
        SESAME_MAIL_BACKEND_IMAP: '127.0.0.1:1143',
        SESAME_MAIL_BACKEND_POP3: '127.0.0.1:1110',
        SESAME_MAIL_BACKEND_SMTP: '127.0.0.1:1587',
      },
      async (ctx) => {
        await ctx.accounts.addOrganization(OPERATOR, 'contoso.test', 'Contoso');
        await ctx.accounts.addUser(OPERATOR, { ...ADMIN, role: 'admin' });
        for (const u of [DORA, IVY, JUNE]) {
          await ctx.accounts.addUser(OPERATOR, u);
          await ctx.mfaAdmin.setUserState(OPERATOR, u.address, 'enabled');
        }
        await ctx.accounts.addUser(OPERATOR, CARL);
        await ctx.mfaAdmin.setUserState(OPERATOR, CARL.address, 'disabled');
        return (await ctx.integrations.add('dovecot')).key;
      },
    );
    server = started.probe;
    key = started.setupResult;
    ivy = await registerTotp(base(), IVY.address, IVY.password);
    june = await registerTotp(base(), JUNE.address, JUNE.password);
    assert.ok(ivy.appPassword && june.appPassword);
    adminToken = await adminApiToken(base(), ADMIN);
  });
  after(async () => server?.stop());

  it("probe: the lock is a weapon? Twelve distinct wrong passwords with no credential lock the main password from there only; the owner's good app password and the owner at the office still get in", async () => {
    // Dora's main password is right from the office once (as her mail app logs in there): familiar.
    assert.equal(await dovecot(DORA.address, DORA.password, '198.51.100.10'), 200);
    for (let i = 0; i < 12; i++) assert.equal(await dav(DORA.address, `Summer2026-${i}`), 401);
    for (let i = 0; i < 12; i++) assert.equal(await dav(IVY.address, `Summer2026-${i}`), 401);
    assert.equal(await dav(DORA.address, DORA.password), 401, 'from the guesser, even the right password waits');
    assert.equal(await dovecot(DORA.address, DORA.password, '192.0.2.50'), 401, 'from anywhere unfamiliar too');
    assert.equal(await dovecot(DORA.address, DORA.password, '198.51.100.23'), 200, 'the office is not locked');
    assert.equal(await dav(IVY.address, ivy.appPassword!), 200, "Ivy's app password works even from the guesser");
    assert.equal(await dovecot(IVY.address, ivy.appPassword!, '192.0.2.51'), 200, 'and from her phone');
    assert.equal(await nginx(IVY.address, ivy.appPassword!, 'imap'), 'OK', 'and through nginx');
    const dora = await reasonsOf(DORA.address);
    assert.ok((dora['throttled/account_locked'] ?? 0) >= 2, JSON.stringify(dora));
  });

  it('probe: behind a proxy without SESAME_TRUSTED_PROXIES (every DAV user is one IP), a spray locks the IP, not the users with good app passwords', async () => {
    // 101 distinct wrong app-password-shaped guesses across made-up and real accounts, one source.
    for (let i = 0; i < 101; i++)
      await dav(i % 3 === 0 ? JUNE.address : `someone${i}@contoso.test`, groupAppPassword(generateAppPassword()));
    assert.equal(await dav(CARL.address, CARL.password), 401, 'the IP is locked: a main password from it waits');
    assert.equal(await dav(IVY.address, ivy.appPassword!), 200, "Ivy's good app password still passes");
    assert.equal(await dav(JUNE.address, june.appPassword!), 200, "so does June's, whose account was sprayed");
    assert.equal((await reasonsOf(CARL.address))['throttled/ip_locked'], 1);
  });

  it('probe: a stale device retrying a deleted app password 120 times counts once; its IP is not locked', async () => {
    const made = await call(base(), 'POST', '/api/v1/me/app-passwords', { name: 'Old phone' }, bearer(june.token));
    assert.equal(made.status, 201, made.text);
    const stale = made.body.password as string;
    const id = (made.body.appPassword as { id: string }).id;
    assert.equal(
      (await call(base(), 'DELETE', `/api/v1/me/app-passwords/${id}`, undefined, bearer(june.token))).status,
      204,
    );
    for (let i = 0; i < 120; i++) assert.equal(await dovecot(JUNE.address, stale, '192.0.2.120'), 401);
    const log = await reasonsOf(JUNE.address);
    assert.equal(log['failure/repeated_wrong_password'], 119, JSON.stringify(log));
    assert.equal(await dovecot(JUNE.address, groupAppPassword(generateAppPassword()), '192.0.2.120'), 401);
    const fromPhone = (await signInLog(base(), adminToken)).filter((r) => r.ip === '192.0.2.120');
    assert.deepEqual(
      tallyAttempts(fromPhone, (r) => `${r.outcome}/${r.reason}`),
      { 'failure/wrong_password': 2, 'failure/repeated_wrong_password': 119 },
      "the old phone's IP took 2 failures, not 121 (the IP limit is 100): never locked",
    );
    assert.equal(await dovecot(JUNE.address, june.appPassword!, '192.0.2.120'), 200, 'the new phone next to it works');
  });

  it("probe: an admin's main password is refused on IMAP, POP3, SMTP, DAV and Basic", async () => {
    for (const service of ['imap', 'pop3', 'submission'])
      assert.notEqual(await dovecot(ADMIN.address, ADMIN.password, '192.0.2.90', service), 200, service);
    assert.equal(await dav(ADMIN.address, ADMIN.password), 401, 'Basic (DAV)');
    for (const protocol of ['imap', 'pop3', 'smtp'])
      assert.notEqual(await nginx(ADMIN.address, ADMIN.password, protocol), 'OK', protocol);
    const log = await reasonsOf(ADMIN.address);
    assert.ok((log['failure/main_password_refused'] ?? 0) >= 1, JSON.stringify(log));
    assert.equal(log['success/ok'] ?? 0, 1, 'only the admin API sign-in of this test suite succeeded');
  });

  it('probe: `wachtwoord1` (and `welkom2024!`) are refused as new passwords', async () => {
    const token = await apiToken(base(), CARL.address, CARL.password);
    for (const password of ['wachtwoord1', 'welkom2024!', 'password1']) {
      const r = await call(base(), 'PUT', '/api/v1/me/password', { current: CARL.password, password }, bearer(token));
      assert.equal(r.status, 400, `${password}: ${r.text}`);
      assert.equal((r.body.error as { code: string }).code, 'password_common');
    }
  });

  it('probe: successful sign-ins are limited per IP: one client cannot keep Argon2 busy for everyone', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 70; i++)
      statuses.push(
        (await call(base(), 'POST', '/api/v1/sessions', { email: CARL.address, password: CARL.password })).status,
      );
    const ok = statuses.filter((s) => s === 201).length;
    assert.ok(ok > 0 && ok <= 60, `at most 60 checks a minute per IP: ${ok} signed in`);
    assert.ok(statuses.includes(429));
    const last = await call(base(), 'POST', '/api/v1/sessions', { email: CARL.address, password: CARL.password });
    assert.equal(last.status, 429);
    assert.ok(Number(last.headers.get('retry-after')) > 0);
    assert.ok(((await reasonsOf(CARL.address))['throttled/ip_rate_limited'] ?? 0) >= 1);
    // Another client (a mail server reporting its user's IP) is not affected.
    assert.equal(await dovecot(DORA.address, DORA.password, '198.51.100.10'), 200);
  });
});
