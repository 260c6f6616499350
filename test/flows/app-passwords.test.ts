/**
 * App passwords through the pages and the JSON API: create (fresh second factor, name, cap), list,
 * delete, delete all, admin view and "Delete all existing app passwords", policy switches,
 * notices by email, revocation on password change and when MFA is turned off.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { normalizeAppPassword } from '../../src/domain/app-passwords/format.js';
import { parseMessage, startSmtp } from '../support/sinks.js';
import { adminApiToken, signInAdminWithMfa } from '../support/admin-mfa.js';
import {
  ADMIN,
  Browser,
  csrfFrom,
  FakeClock,
  makeWorld,
  oathtoolTotp,
  secretFrom,
  USER,
  type World,
} from '../support/world.js';

/** A fresh one-time form nonce, as the create form carries. */
const NONCE = () => randomBytes(18).toString('base64url');

/** Creates an app password through Security info's form, as the browser posts it (its CSRF token and nonce). */
const create = (b: Browser, name: string) => b.submitForm('/security-info', '/security-info/app-passwords', { name });

describe('app passwords', () => {
  let w: World;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  const clock = new FakeClock(Date.UTC(2026, 10, 27, 10, 0, 0));
  let secret = '';
  let bob: Browser;
  const userId = async (address: string) =>
    (await w.ctx.store.db.selectFrom('users').select('id').where('address', '=', address).executeTakeFirstOrThrow()).id;
  const count = async (address: string) =>
    (
      await w.ctx.store.db
        .selectFrom('app_passwords')
        .select('id')
        .where('user_id', '=', await userId(address))
        .execute()
    ).length;

  /** Registers TOTP for `address` through the pages and returns a signed-in browser. */
  async function enrol(address: string, password: string): Promise<{ b: Browser; secret: string }> {
    await w.ctx.mfaAdmin.setUserState(OPERATOR, address, 'enabled');
    const b = new Browser(w.app);
    await b.signIn(address, password);
    await b.submit('/signin/mfa', '/signin/mfa/setup', {});
    await b.submit('/signin/mfa', '/signin/mfa/method', { kind: 'totp' });
    const s = secretFrom((await b.get('/signin/mfa')).body);
    await b.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(s, clock.now()) });
    await b.submit('/signin/mfa', '/signin/mfa/next', {});
    await b.submit('/signin/mfa', '/signin/mfa/next', {});
    await b.submit('/signin/mfa', '/signin/mfa/done', {});
    return { b, secret: s };
  }

  before(async () => {
    smtp = await startSmtp();
    w = await makeWorld('sqlite', { smtpUrl: `smtp://127.0.0.1:${smtp.port}` }, { clock });
    ({ b: bob, secret } = await enrol(USER.address, USER.password));
  });
  after(async () => {
    await w.close();
    await smtp.stop();
  });

  it('made one at registration, named for the existing applications, and emailed the user', async () => {
    const list = await bob.get('/security-info');
    assert.match(list.body, /<td[^>]*class="ap-name">Existing applications<\/td>/);
    const mail = smtp.received.find((r) => r.to.includes(USER.address) && /app password/.test(r.raw));
    assert.ok(mail, 'a notice was emailed');
    assert.match(
      parseMessage(mail.raw).body,
      /named "Existing applications" was made for your account at .* from 127\.0\.0\.1/,
    );
  });

  it('creates one with a name, shows it once with Copy, and never stores it in clear', async () => {
    // How many there are against the organization's cap, before the cap is hit (#17, item 4).
    const page = (await bob.get('/security-info')).body;
    const inUse = Number(/<p id="ap-count">(\d+) of 40 app passwords in use\.<\/p>/.exec(page)?.[1]);
    assert.equal(inUse, (page.match(/<td[^>]*class="ap-name">/g) ?? []).length, 'the count is the list');
    const made = await create(bob, 'Outlook on my laptop');
    assert.equal(made.statusCode, 303, 'post/redirect/get: the POST shows no secret');
    assert.doesNotMatch(made.body, /class="secret"/);
    const at = String(made.headers.location);
    assert.match(at, /^\/security-info\/app-passwords\/new\/[0-9a-f-]{36}$/);
    const res = await bob.get(at);
    assert.equal(res.statusCode, 200);
    const shown = /<code id="app-password" class="secret">([a-z ]+)<\/code>/.exec(res.body)![1]!;
    assert.ok(normalizeAppPassword(shown));
    assert.ok(!at.includes(shown.replace(/ /g, '')), 'never in the URL');
    assert.match(res.body, /Copy<\/button>/);
    // Said where it is shown: this is the only time (#17, item 4), once (the notice says it here).
    assert.match(res.body, /it is shown only this once/);
    assert.doesNotMatch(res.body, /id="app-password-once"/);
    assert.match(res.body, new RegExp(`<p id="ap-count">${inUse + 1} of 40 app passwords in use\\.</p>`));
    assert.equal(res.headers['cache-control'], 'no-store');
    const again = await bob.get('/security-info');
    assert.ok(!again.body.includes(shown), 'shown only once');
    const reload = await bob.get(at);
    assert.ok(!reload.body.includes(shown), 'a reload of the page that showed it shows it no more');
    assert.match(reload.body, /was shown once and cannot be shown again/);
    const rows = await w.ctx.store.db.selectFrom('app_passwords').selectAll().execute();
    const canonical = shown.replace(/ /g, '');
    assert.ok(!JSON.stringify(rows).includes(canonical));
    assert.ok(
      rows.every((r) => /^[0-9a-f]{64}$/.test(r.hash)),
      'stored as HMAC-SHA-256',
    );
    assert.equal((await create(bob, '   ')).statusCode, 400, 'a name is required');
  });

  it('asks for a fresh second factor when the last one is older than 10 minutes', async () => {
    clock.advance(11 * 60_000);
    const stale = await bob.get('/security-info');
    assert.doesNotMatch(stale.body, /action="\/security-info\/app-passwords" class="card"/);
    const refused = await bob.post('/security-info/app-passwords', {
      _csrf: csrfFrom(stale.body),
      name: 'Phone',
      nonce: NONCE(),
    });
    assert.equal(refused.statusCode, 403);
    assert.match(refused.body, /Confirm it is you with your second factor first/);
    await bob.submit('/security-info', '/security-info/confirm', {});
    clock.advance(30_000);
    const ok = await bob.submit('/security-info/flow', '/security-info/flow/verify', {
      code: oathtoolTotp(secret, clock.now()),
    });
    assert.equal(ok.headers.location, '/security-info?m=confirmed');
    assert.equal((await create(bob, 'Phone')).statusCode, 303);
  });

  it('refuses a cross-site POST that creates an app password', async () => {
    const before = await count(USER.address);
    assert.equal((await bob.post('/security-info/app-passwords', { name: 'Evil' })).statusCode, 403);
    assert.equal((await bob.post('/security-info/app-passwords', { name: 'Evil', _csrf: 'forged' })).statusCode, 403);
    assert.equal(await count(USER.address), before);
  });

  it('stops at the cap with a clear message', async () => {
    const admin = {
      kind: 'user' as const,
      amr: ['pwd', 'otp'],
      user: (await w.ctx.accounts.findUserById(await userId(ADMIN.address)))!,
    };
    await w.ctx.mfaAdmin.setPolicy(admin, admin.user.orgId, { appPasswords: { cap: 4 } });
    assert.equal((await create(bob, 'Printer')).statusCode, 303);
    assert.equal(await count(USER.address), 4);
    const full = await create(bob, 'One too many');
    assert.equal(full.statusCode, 409);
    assert.match(full.body, /You have 4 app passwords, the most allowed\. Delete one first\./);
    // 10 parallel creations never pass the cap.
    await w.ctx.mfaAdmin.setPolicy(admin, admin.user.orgId, { appPasswords: { cap: 6 } });
    const user = (await w.ctx.accounts.findUserById(await userId(USER.address)))!;
    const session = (
      await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, clock.now())
    ).session;
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        w.ctx.appPasswords.create(user, session, `Burst ${i}`, { ip: '127.0.0.1', locale: 'en' }),
      ),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 2);
    assert.equal(await count(USER.address), 6);
    await w.ctx.mfaAdmin.setPolicy(admin, admin.user.orgId, { appPasswords: { cap: 40 } });
  });

  it('deletes one, then all', async () => {
    const page = await bob.get('/security-info');
    const id = /name="id" value="([^"]+)"/.exec(page.body)![1]!;
    const asked = await bob.post('/security-info/app-passwords/delete', { _csrf: csrfFrom(page.body), id });
    assert.equal(asked.statusCode, 200, 'the first POST only asks');
    assert.equal(await count(USER.address), 6);
    const del = await bob.post('/security-info/app-passwords/delete', { _csrf: csrfFrom(page.body), id, confirm: '1' });
    assert.equal(del.headers.location, '/security-info?m=ap_deleted#app-passwords');
    assert.equal(await count(USER.address), 5);
    assert.equal(
      (await bob.post('/security-info/app-passwords/delete', { _csrf: csrfFrom(page.body), id, confirm: '1' }))
        .statusCode,
      404,
    );
    await bob.submit('/security-info', '/security-info/app-passwords/delete-all', {});
    assert.equal(await count(USER.address), 5, 'Delete all only asks first');
    await bob.submit('/security-info', '/security-info/app-passwords/delete-all', { confirm: '1' });
    assert.equal(await count(USER.address), 0);
  });

  it('lets an admin see a user’s app passwords, never a secret, and delete them all; not in another organization', async () => {
    await create(bob, '<svg onload=alert(1)>');
    const admin = new Browser(w.app);
    await signInAdminWithMfa(admin, ADMIN, { clock });
    const users = await admin.get('/admin/users');
    // The user's app passwords are on their page, which their name in the Users table opens.
    assert.match(users.body, /<a href="\/admin\/users\/user\?address=bob%40contoso\.test"[^>]*>Bob Builder<\/a>/);
    const view = await admin.get('/admin/users/user?address=bob%40contoso.test');
    assert.equal(view.statusCode, 200);
    assert.match(view.body, /<td[^>]*class="ap-name">&lt;svg onload=alert\(1\)&gt;<\/td>/);
    assert.doesNotMatch(view.body, /<svg/);
    assert.doesNotMatch(view.body, /class="secret"/);
    const foreign = await admin.get('/admin/users/user?address=eve%40fabrikam.test');
    assert.equal(foreign.statusCode, 403);
    const revoke = await admin.submit(
      '/admin/users/user?address=bob%40contoso.test',
      '/admin/users/app-passwords/revoke-all',
      { address: USER.address, confirm: '1' },
    );
    assert.equal(revoke.statusCode, 303);
    assert.match(
      (await admin.get(revoke.headers.location as string)).body,
      /1 app password of bob@contoso\.test was deleted\./,
    );
    assert.equal(await count(USER.address), 0);
    const audit = await w.ctx.store.db
      .selectFrom('audit_events')
      .select(['action', 'actor_label'])
      .where('action', '=', 'app_password.revoke_all')
      .execute();
    assert.ok(audit.some((a) => a.actor_label === ADMIN.address));
  });

  it('explains why creation is gone when the policy turns it off', async () => {
    const admin = {
      kind: 'user' as const,
      amr: ['pwd', 'otp'],
      user: (await w.ctx.accounts.findUserById(await userId(ADMIN.address)))!,
    };
    await w.ctx.mfaAdmin.setPolicy(admin, admin.user.orgId, { appPasswords: { allowed: false } });
    const page = await bob.get('/security-info');
    assert.match(page.body, /Your organization does not allow new app passwords/);
    assert.match(page.body, /App passwords you already have keep working\./);
    assert.doesNotMatch(page.body, /action="\/security-info\/app-passwords" class="card"/);
    assert.equal(
      (await bob.post('/security-info/app-passwords', { _csrf: csrfFrom(page.body), name: 'x', nonce: NONCE() }))
        .statusCode,
      403,
    );
    await w.ctx.mfaAdmin.setPolicy(admin, admin.user.orgId, { appPasswords: { allowed: true } });
  });

  it('revokes them when the main password is reset, and when the user’s MFA is turned off', async () => {
    const user = (await w.ctx.accounts.findUserById(await userId(USER.address)))!;
    const session = (
      await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, clock.now())
    ).session;
    await w.ctx.appPasswords.create(user, session, 'Tablet', { ip: '127.0.0.1', locale: 'en' });
    await w.ctx.accounts.setPassword(OPERATOR, USER.address, 'brand-new-copper-meadow-3');
    assert.equal(await count(USER.address), 0, 'a main-password change revokes them (default policy)');
    await w.ctx.appPasswords.create(user, session, 'Tablet', { ip: '127.0.0.1', locale: 'en' }).catch(() => undefined);
    const s2 = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, clock.now()))
      .session;
    await w.ctx.appPasswords.create(user, s2, 'Tablet', { ip: '127.0.0.1', locale: 'en' });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'disabled');
    assert.equal(await count(USER.address), 0, 'app passwords exist only while MFA is on');
    await assert.rejects(
      w.ctx.appPasswords.create({ ...user, mfaState: 'disabled' }, s2, 'x', { ip: '127.0.0.1', locale: 'en' }),
      { code: 'app_passwords_need_mfa' },
    );
    await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enforced');
  });

  it('keeps them on a password change when the policy says so', async () => {
    const admin = {
      kind: 'user' as const,
      amr: ['pwd', 'otp'],
      user: (await w.ctx.accounts.findUserById(await userId(ADMIN.address)))!,
    };
    await w.ctx.mfaAdmin.setPolicy(admin, admin.user.orgId, {
      appPasswords: { revokeOnPasswordChange: false, maxLifetimeDays: 30 },
    });
    const user = (await w.ctx.accounts.findUserById(await userId(USER.address)))!;
    const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, clock.now()))
      .session;
    const made = await w.ctx.appPasswords.create(user, s, 'Kept', { ip: '127.0.0.1', locale: 'en' });
    assert.equal(made.appPassword.expiresAt, clock.now() + 30 * 86_400_000, 'the maximum lifetime sets the expiry');
    await w.ctx.accounts.setPassword(OPERATOR, USER.address, 'another-copper-meadow-4');
    assert.equal(await count(USER.address), 1);
    await w.ctx.mfaAdmin.setPolicy(admin, admin.user.orgId, {
      appPasswords: { revokeOnPasswordChange: true, maxLifetimeDays: null },
    });
  });

  it('renames one from Security info, without scripts: the new name is shown and audited, a bad name is kept with its reason', async () => {
    // Renaming needs no recent second factor (a name opens nothing), unlike creating.
    const owner = (await w.ctx.accounts.findUserById(await userId(USER.address)))!;
    await w.ctx.appPasswords.create(owner, null, 'Old laptop', { ip: '127.0.0.1', locale: 'en' });
    // Bob's earlier browser went with the password changes above: he signs in again.
    const bob = new Browser(w.app);
    await bob.signIn(USER.address, 'another-copper-meadow-4');
    clock.advance(30_000);
    await bob.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(secret, clock.now()) });
    const page = await bob.get('/security-info');
    const link =
      /<a href="(\/security-info\/app-passwords\/rename\/[^"]+)" class="rename">Rename<span class="visually-hidden"> Old laptop<\/span><\/a>/.exec(
        page.body,
      );
    assert.ok(link, 'a Rename link beside the app password');
    const id = decodeURIComponent(link[1]!.split('/').pop()!);
    const form = await bob.get(link[1]!);
    assert.equal(form.statusCode, 200);
    assert.match(form.body, /<h1>Rename the app password &quot;Old laptop&quot;<\/h1>/);
    assert.match(form.body, /<form method="post" action="\/security-info\/app-passwords\/rename"/);
    assert.match(form.body, /<input id="ap-name" name="name" type="text"[^>]* value="Old laptop"/);

    const rename = (name: string, body = form.body) =>
      bob.post('/security-info/app-passwords/rename', { _csrf: csrfFrom(body), id, name });
    assert.equal((await bob.post('/security-info/app-passwords/rename', { id, name: 'Evil' })).statusCode, 403);
    const long = 'L'.repeat(101);
    const bad = await rename(long);
    assert.equal(bad.statusCode, 400);
    assert.match(bad.body, /<p class="error" role="alert" id="page-error">/);
    assert.match(bad.body, /<p class="field-error" id="ap-name-error"><span class="visually-hidden">Error:<\/span> /);
    const input = /<input id="ap-name"[^>]*>/.exec(bad.body)?.[0] ?? '';
    assert.match(input, new RegExp(`value="${long}"`), 'what was typed stays');
    assert.match(input, /aria-describedby="ap-name-error ap-name-hint" aria-invalid="true"/);

    const ok = await rename('New laptop');
    assert.equal(ok.statusCode, 303);
    assert.equal(ok.headers.location, '/security-info?m=ap_renamed#app-passwords');
    const after = await bob.get('/security-info?m=ap_renamed');
    assert.match(after.body, /The app password was renamed\. The apps that use it keep working\./);
    assert.match(after.body, /<td[^>]*class="ap-name">New laptop<\/td>/);
    assert.doesNotMatch(after.body, /<td[^>]*class="ap-name">Old laptop<\/td>/);
    const audited = await w.ctx.store.db
      .selectFrom('audit_events')
      .select('detail')
      .where('action', '=', 'app_password.rename')
      .execute();
    assert.ok(audited.some((a) => a.detail.includes('"Old laptop" -> "New laptop"')));
    // Not another user's, nor one that does not exist.
    assert.equal((await rename('Mine now', after.body)).statusCode, 303);
    const other = await bob.post('/security-info/app-passwords/rename', {
      _csrf: csrfFrom(after.body),
      id: 'not-an-app-password',
      name: 'X',
    });
    assert.equal(other.statusCode, 404);
    assert.equal((await bob.get('/security-info/app-passwords/rename/not-an-app-password')).statusCode, 303);
  });

  it('is never a way into the browser pages or a JSON API session, and the log says so', async () => {
    const user = (await w.ctx.accounts.findUserById(await userId(USER.address)))!;
    const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, clock.now()))
      .session;
    const { password } = await w.ctx.appPasswords.create(user, s, 'Mail app', { ip: '127.0.0.1', locale: 'en' });
    const web = await new Browser(w.app).signIn(USER.address, password);
    assert.equal(web.statusCode, 401);
    assert.match(web.body, /Your account or password is incorrect\./);
    // What app passwords are for, said on the shape of what was typed alone (#17, task C): for this
    // real one, for a made-up one (no valid check letter) and for an address that does not exist
    // alike, so the sentence tells nothing of the account or the app password.
    const hint =
      /<p class="error" role="alert" id="page-error">Your account or password is incorrect\. That looks like an app password: app passwords are for mail and other apps, not for signing in here\. Use the password of your account\.<\/p>/;
    assert.match(web.body, hint);
    const madeUp = 'abcd abcd abcd abcd abcd';
    assert.equal(normalizeAppPassword(madeUp), undefined, 'not a well-formed app password');
    const known = await new Browser(w.app).signIn(USER.address, madeUp);
    const unknown = await new Browser(w.app).signIn(
      'nobody-here@contoso.test',
      password.replace(/ /g, '').toUpperCase(),
    );
    for (const r of [known, unknown]) {
      assert.equal(r.statusCode, 401);
      assert.match(r.body, hint);
    }
    const page = (r: { body: string }, address: string) =>
      r.body.replaceAll(csrfFrom(r.body), 'CSRF').replaceAll(address, 'ADDRESS');
    assert.equal(page(known, USER.address), page(unknown, 'nobody-here@contoso.test'), 'the same page, known or not');
    const ordinary = await new Browser(w.app).signIn(USER.address, 'not-the-password');
    assert.match(ordinary.body, /Your account or password is incorrect\./);
    assert.doesNotMatch(ordinary.body, /app password/, 'no hint for an ordinary wrong password');
    const nl = await new Browser(w.app, { 'accept-language': 'nl' }).signIn('nobody-here@contoso.test', madeUp);
    assert.match(nl.body, /Dat lijkt op een app-wachtwoord: app-wachtwoorden zijn voor e-mail en andere apps/);
    const api = await w.app.inject({
      method: 'POST',
      url: '/api/v1/sessions',
      payload: { email: USER.address, password },
    });
    assert.equal(api.statusCode, 401);
    assert.equal(api.json().error.code, 'sign_in_failed', 'the same code for API clients');
    assert.match(api.json().error.message, /not for signing in here/);
    const reasons = await w.ctx.store.db
      .selectFrom('sign_in_events')
      .select(['reason', 'protocol'])
      .where('reason', '=', 'app_password_refused')
      .execute();
    // Only the real one is logged as an app password; the made-up one and the unknown address are not.
    assert.deepEqual(reasons.map((r) => r.protocol).sort(), ['api', 'web']);
  });

  it('works through the JSON API, with the same rules', async () => {
    const start = await w.app.inject({
      method: 'POST',
      url: '/api/v1/sessions',
      payload: { email: USER.address, password: 'another-copper-meadow-4' },
    });
    const flow = start.json().token as string;
    clock.advance(30_000);
    const done = await w.app.inject({
      method: 'POST',
      url: '/api/v1/flow/verify',
      headers: { 'x-sesame-flow': flow },
      payload: { code: oathtoolTotp(secret, clock.now()) },
    });
    const token = done.json().token as string;
    const auth = { authorization: `Bearer ${token}` };
    const made = await w.app.inject({
      method: 'POST',
      url: '/api/v1/me/app-passwords',
      headers: auth,
      payload: { name: 'Thunderbird' },
    });
    assert.equal(made.statusCode, 201);
    assert.ok(normalizeAppPassword(made.json().password));
    assert.equal(made.json().appPassword.name, 'Thunderbird');
    const list = await w.app.inject({ method: 'GET', url: '/api/v1/me/app-passwords', headers: auth });
    assert.ok(list.json().appPasswords.some((p: { name: string }) => p.name === 'Thunderbird'));
    assert.ok(!list.body.includes(made.json().password.replace(/ /g, '')));
    // Rename (PATCH): the same app password under a new name; the name rules of creation.
    const id0 = made.json().appPassword.id as string;
    const patch = (name: unknown, id = id0) =>
      w.app.inject({ method: 'PATCH', url: `/api/v1/me/app-passwords/${id}`, headers: auth, payload: { name } });
    const renamed = await patch(' Thunderbird at home ');
    assert.equal(renamed.statusCode, 200);
    assert.deepEqual(
      { id: renamed.json().appPassword.id, name: renamed.json().appPassword.name },
      { id: id0, name: 'Thunderbird at home' },
    );
    assert.equal((await patch('   ')).json().error.code, 'invalid_name');
    assert.equal((await patch('x'.repeat(101))).statusCode, 400);
    assert.equal((await patch('Other', 'not-an-app-password')).statusCode, 404);
    assert.equal(
      (
        await w.app.inject({
          method: 'PATCH',
          url: `/api/v1/me/app-passwords/${id0}`,
          payload: { name: 'No token' },
        })
      ).statusCode,
      401,
    );
    const listed = await w.app.inject({ method: 'GET', url: '/api/v1/me/app-passwords', headers: auth });
    assert.ok(listed.json().appPasswords.some((p: { name: string }) => p.name === 'Thunderbird at home'));
    const spec = (await w.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json();
    assert.ok(spec.paths?.['/api/v1/me/app-passwords/{id}']?.patch, 'the OpenAPI document has the rename');
    clock.advance(11 * 60_000);
    const stale = await w.app.inject({
      method: 'POST',
      url: '/api/v1/me/app-passwords',
      headers: auth,
      payload: { name: 'Late' },
    });
    assert.equal(stale.statusCode, 403);
    assert.equal(stale.json().error.code, 'fresh_mfa_required');
    const id = made.json().appPassword.id as string;
    assert.equal(
      (await w.app.inject({ method: 'DELETE', url: `/api/v1/me/app-passwords/${id}`, headers: auth })).statusCode,
      204,
    );
    const adminToken = await adminApiToken(w.app, ADMIN, { clock });
    const adminList = await w.app.inject({
      method: 'GET',
      url: `/api/v1/users/${USER.address}/app-passwords`,
      headers: { authorization: `Bearer ${adminToken}` },
    });
    assert.equal(adminList.statusCode, 200);
    const revoked = await w.app.inject({
      method: 'DELETE',
      url: `/api/v1/users/${USER.address}/app-passwords`,
      headers: { authorization: `Bearer ${adminToken}` },
    });
    assert.equal(revoked.statusCode, 200);
    assert.equal(await count(USER.address), 0);
  });

  it('has a help page in both languages, linked from the app-password pages', async () => {
    const en = await new Browser(w.app).get('/help/app-passwords');
    assert.equal(en.statusCode, 200);
    assert.match(en.body, /<h1>App passwords<\/h1>/);
    assert.match(en.body, /Choose Set it up now\./);
    const nl = await new Browser(w.app, { 'accept-language': 'nl' }).get('/help/app-passwords');
    assert.match(nl.body, /<h1>App-wachtwoorden<\/h1>/);
    assert.match(nl.body, /Kies Nu instellen\./);
    assert.match(nl.body, /Kies Kopiëren om het wachtwoord te kopiëren/);
    const b = new Browser(w.app);
    await b.signIn(USER.address, 'another-copper-meadow-4');
    clock.advance(30_000);
    await b.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(secret, clock.now()) });
    assert.match((await b.get('/security-info')).body, /href="\/help\/app-passwords"/);
  });
});
