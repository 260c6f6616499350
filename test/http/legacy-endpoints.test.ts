/**
 * The endpoints mail servers and proxies ask, through inject(): integration keys, the contract of
 * each endpoint, clean refusal of hostile input, smart lockout, and revocation seen at once by a
 * second instance on the same PostgreSQL store.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createContext, type AppContext } from '../../src/app/context.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { User } from '../../src/domain/accounts/model.js';
import { buildApp } from '../../src/app/server.js';
import { adminApiToken } from '../support/admin-mfa.js';
import { storeOr } from '../support/stores.js';
import { ADMIN, makeWorld, USER, type World } from '../support/world.js';
import { testContextOptions } from '../support/hasher.js';

describe('legacy-protocol endpoints', () => {
  let w: World;
  let key = '';
  let user: User;
  let appPassword = '';
  let smtpOnly = '';
  let second: { ctx: AppContext; app: Awaited<ReturnType<typeof buildApp>> };
  const bearer = () => ({ authorization: `Bearer ${key}` });
  const mail = (body: object, headers: Record<string, string> = bearer()) =>
    w.app.inject({ method: 'POST', url: '/auth/mail', headers, payload: body });
  const nginx = (h: Record<string, string>, app = w.app) =>
    app.inject({
      method: 'GET',
      url: '/auth/nginx-mail',
      headers: { ...bearer(), 'auth-method': 'plain', 'auth-login-attempt': '1', 'client-ip': '203.0.113.5', ...h },
    });
  const basic = (user: string, password: string, extra: Record<string, string> = {}) =>
    w.app.inject({
      method: 'GET',
      url: '/auth/basic',
      headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`, ...extra },
    });
  const events = async () => {
    await w.ctx.flush();
    return (await w.ctx.store.db.selectFrom('sign_in_events').select(['id']).execute()).length;
  };

  before(async () => {
    w = await makeWorld(storeOr('postgres'), {
      mailBackendImap: '127.0.0.1:10143',
      mailBackendPop3: '127.0.0.1:10110',
      mailBackendSmtp: '127.0.0.1:10587',
      accountFailureLimit: 10,
      ipFailureLimit: 1000,
    });
    key = (await w.ctx.integrations.add('dovecot')).key;
    await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enforced');
    user = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
    const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, Date.now()))
      .session;
    appPassword = (await w.ctx.appPasswords.create(user, s, 'Outlook', { ip: '127.0.0.1', locale: 'en' })).password;
    await w.ctx.mfaAdmin.setPolicy(OPERATOR, user.orgId, { appPasswords: { protocols: ['smtp'] } });
    smtpOnly = (await w.ctx.appPasswords.create(user, s, 'Scanner', { ip: '127.0.0.1', locale: 'en' })).password;
    await w.ctx.mfaAdmin.setPolicy(OPERATOR, user.orgId, {
      appPasswords: { protocols: ['imap', 'pop3', 'smtp', 'dav', 'http'] },
    });
    const ctx2 = await createContext(
      w.store.config({ accountFailureLimit: 10, ipFailureLimit: 1000 }),
      testContextOptions(),
    );
    second = { ctx: ctx2, app: await buildApp(ctx2, { logger: false }) };
  });
  after(async () => {
    await second.app.close();
    await second.ctx.close();
    await w.close();
  });

  it('answers only registered integrations, and checks nothing without a key', async () => {
    const before = await events();
    for (const headers of [
      {},
      { authorization: 'Bearer nope' },
      { authorization: `Bearer ${key.slice(0, -1)}x` },
      { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` },
    ] as Record<string, string>[]) {
      assert.equal(
        (await mail({ user: USER.address, password: appPassword, service: 'imap' }, headers)).statusCode,
        401,
      );
      assert.equal(
        (
          await w.app.inject({
            method: 'GET',
            url: '/auth/nginx-mail',
            headers: { ...headers, 'auth-user': USER.address, 'auth-pass': appPassword, 'auth-protocol': 'imap' },
          })
        ).statusCode,
        401,
      );
      assert.equal(
        (
          await w.app.inject({
            method: 'POST',
            url: '/oauth2/introspect',
            headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
            payload: 'token=x',
          })
        ).statusCode,
        401,
      );
    }
    assert.equal(await events(), before, 'nothing was checked or logged');
  });

  it('/auth/mail: 200 for the app password, 401 wrong, 403 refused by policy; the integration’s client IP is believed', async () => {
    const ok = await mail({ user: USER.address, password: appPassword, service: 'imap', remoteIp: '198.51.100.20' });
    assert.equal(ok.statusCode, 200);
    assert.equal(
      (await mail({ user: USER.address, password: appPassword.replace(/ /g, ''), service: 'submission' })).statusCode,
      200,
      'submission is smtp',
    );
    assert.equal((await mail({ user: USER.address, password: 'wrong wrong wrong', service: 'imap' })).statusCode, 401);
    assert.equal(
      (await mail({ user: USER.address, password: USER.password, service: 'imap' })).statusCode,
      403,
      'main password of an enforced user',
    );
    assert.equal(
      (await mail({ user: USER.address, password: smtpOnly, service: 'imap' })).statusCode,
      403,
      'scoped to smtp',
    );
    assert.equal((await mail({ user: USER.address, password: smtpOnly, service: 'smtp' })).statusCode, 200);
    await w.ctx.flush();
    const logged = await w.ctx.store.db
      .selectFrom('sign_in_events')
      .select(['ip', 'app_password_id', 'outcome'])
      .where('ip', '=', '198.51.100.20')
      .executeTakeFirstOrThrow();
    assert.equal(logged.outcome, 'success');
    assert.ok(logged.app_password_id);
    const adminToken = await adminApiToken(w.app, ADMIN);
    const log = await w.app.inject({
      method: 'GET',
      url: '/api/v1/sign-ins?limit=50',
      headers: { authorization: `Bearer ${adminToken}` },
    });
    const row = (log.json().events as { ip: string; appPasswordName: string | null; protocol: string }[]).find(
      (e) => e.ip === '198.51.100.20',
    )!;
    assert.deepEqual([row.protocol, row.appPasswordName], ['imap', 'Outlook'], 'the log names the app password');
  });

  it('/auth/mail: an app password the user limited to SMTP, where the organization allows more, works for SMTP only', async () => {
    const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, Date.now()))
      .session;
    const made = await w.ctx.appPasswords.create(user, s, 'Printer', { ip: '127.0.0.1', locale: 'en' }, ['smtp']);
    assert.ok((await w.ctx.appPasswords.policyFor(user.orgId)).appPasswords.protocols.includes('imap'), 'IMAP allowed');
    const printer = made.password;
    assert.equal((await mail({ user: USER.address, password: printer, service: 'smtp' })).statusCode, 200);
    assert.equal((await mail({ user: USER.address, password: printer, service: 'submission' })).statusCode, 200);
    for (const service of ['imap', 'pop3'])
      assert.equal((await mail({ user: USER.address, password: printer, service })).statusCode, 403, service);
    assert.notEqual((await basic(USER.address, printer)).statusCode, 200, 'not HTTP Basic either');
    await w.ctx.appPasswords.remove(user, made.appPassword.id);
  });

  it('refuses CR, LF, NUL and oversized fields cleanly (401, logged), and keeps answering', async () => {
    for (const body of [
      { user: `${USER.address}\r\n`, password: appPassword, service: 'imap' },
      { user: USER.address, password: `${appPassword}\n`, service: 'imap' },
      { user: USER.address, password: `a\u0000b`, service: 'imap' },
      { user: USER.address, password: 'x'.repeat(10_000), service: 'imap' },
      { user: 'u'.repeat(400), password: appPassword, service: 'imap' },
      { user: 42, password: [], service: 'imap' },
    ]) {
      assert.equal((await mail(body)).statusCode, 401, JSON.stringify(body).slice(0, 80));
    }
    assert.equal((await mail({ user: USER.address, password: appPassword, service: 'imap' })).statusCode, 200);
  });

  it('/auth/nginx-mail: OK with the backend for each protocol; failures with Auth-Wait and the SMTP error code', async () => {
    const enc = encodeURIComponent;
    const ok = await nginx({ 'auth-user': enc(USER.address), 'auth-pass': enc(appPassword), 'auth-protocol': 'imap' });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.headers['auth-status'], 'OK');
    assert.equal(ok.headers['auth-server'], '127.0.0.1');
    assert.equal(ok.headers['auth-port'], '10143');
    assert.equal(
      (await nginx({ 'auth-user': enc(USER.address), 'auth-pass': enc(smtpOnly), 'auth-protocol': 'smtp' })).headers[
        'auth-port'
      ],
      '10587',
    );
    const bad = await nginx({ 'auth-user': enc(USER.address), 'auth-pass': enc('nope nope'), 'auth-protocol': 'smtp' });
    assert.equal(bad.statusCode, 200);
    assert.equal(bad.headers['auth-status'], 'Invalid login or password');
    assert.equal(bad.headers['auth-wait'], '3');
    assert.equal(bad.headers['auth-error-code'], '535 5.7.8');
    const refused = await nginx({
      'auth-user': enc(USER.address),
      'auth-pass': enc(USER.password),
      'auth-protocol': 'imap',
    });
    assert.equal(refused.headers['auth-status'], 'Invalid login or password', 'refused looks exactly like wrong');
    assert.equal(
      (await nginx({ 'auth-user': '%E0%A4%A', 'auth-pass': 'x', 'auth-protocol': 'imap' })).headers['auth-status'],
      'Invalid login or password',
      'bad percent-encoding',
    );
    assert.equal(
      (await nginx({ 'auth-user': enc(USER.address), 'auth-pass': enc(`${appPassword}\r\n`), 'auth-protocol': 'imap' }))
        .headers['auth-status'],
      'Invalid login or password',
    );
  });

  it('/auth/basic: forward auth with Remote-User, Remote-Name, Remote-Email; 401 with a Basic challenge otherwise', async () => {
    const ok = await basic(USER.address, appPassword);
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.headers['remote-user'], USER.address);
    assert.equal(ok.headers['remote-email'], USER.address);
    assert.equal(decodeURIComponent(String(ok.headers['remote-name'])), 'Bob Builder');
    for (const [u, p] of [
      [USER.address, 'wrong'],
      [`bob:x@contoso.test`, appPassword],
      [USER.address, `${appPassword}\u0000`],
      ['', appPassword],
    ] as const) {
      const r = await basic(u, p);
      assert.equal(r.statusCode, 401, `${u}`);
      assert.equal(r.headers['www-authenticate'], 'Basic realm="Sesame", charset="UTF-8"');
    }
    assert.equal(
      (await w.app.inject({ method: 'GET', url: '/auth/basic', headers: { authorization: 'Basic !!!' } })).statusCode,
      401,
    );
    assert.equal((await w.app.inject({ method: 'GET', url: '/auth/basic' })).statusCode, 401);
    const spoof = await basic(USER.address, appPassword, { 'x-forwarded-for': '6.6.6.6' });
    assert.equal(spoof.statusCode, 200);
    await w.ctx.flush();
    assert.equal(
      await w.ctx.store.db.selectFrom('sign_in_events').select('id').where('ip', '=', '6.6.6.6').executeTakeFirst(),
      undefined,
      'a client cannot choose its logged IP',
    );
  });

  it('/oauth2/introspect: active with the owner’s name for a good app password, inactive otherwise', async () => {
    const form = (token: string, extra = '') =>
      w.app.inject({
        method: 'POST',
        url: '/oauth2/introspect',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: `token=${encodeURIComponent(token)}&client_id=imap&client_secret=${key}${extra}`,
      });
    assert.deepEqual((await form(appPassword)).json(), { active: true, username: USER.address });
    assert.deepEqual((await form('not an app password')).json(), { active: false });
    assert.deepEqual((await form(USER.password)).json(), { active: false }, 'never the main password');
    const scoped = await w.app.inject({
      method: 'POST',
      url: '/oauth2/introspect',
      headers: { ...bearer(), 'content-type': 'application/x-www-form-urlencoded' },
      payload: `token=${encodeURIComponent(smtpOnly)}&client_id=imap`,
    });
    assert.deepEqual(scoped.json(), { active: false });
  });

  it('/oauth2/introspect: client_id names the protocol checked (dovecot-oauth2 writes one file per protocol: imap, pop3, smtp)', async () => {
    const ask = async (clientId: string) =>
      (
        await w.app.inject({
          method: 'POST',
          url: '/oauth2/introspect',
          headers: { ...bearer(), 'content-type': 'application/x-www-form-urlencoded' },
          payload: `token=${encodeURIComponent(smtpOnly)}&client_id=${clientId}`,
        })
      ).json() as { active: boolean };
    assert.deepEqual(
      Object.fromEntries(
        await Promise.all(['smtp', 'submission', 'imap', 'pop3'].map(async (c) => [c, (await ask(c)).active])),
      ),
      { smtp: true, submission: true, imap: false, pop3: false },
      'an SMTP-only app password is active for client_id smtp (and submission) only',
    );
  });

  it("/oauth2/introspect: the client's address is Dovecot's X-Dovecot-Auth-Remote (send_auth_headers), from an integration only", async () => {
    const ask = (remote: string, headers: Record<string, string> = bearer()) =>
      w.app.inject({
        method: 'POST',
        url: '/oauth2/introspect',
        remoteAddress: '127.0.0.1',
        headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded', 'x-dovecot-auth-remote': remote },
        payload: `token=${encodeURIComponent(appPassword)}&client_id=imap`,
      });
    assert.deepEqual((await ask('203.0.113.41:50123')).json(), { active: true, username: USER.address });
    assert.deepEqual((await ask('[2001:db8::41]:993')).json(), { active: true, username: USER.address });
    for (const bad of ['203.0.113.42', 'mail.example.com:993', '[203.0.113.42]:1', '2001:db8::42:993', ''])
      assert.equal((await ask(bad)).statusCode, 400, `${JSON.stringify(bad)} is refused as a configuration error`);
    const noKey = await ask('203.0.113.43:1', {});
    assert.equal(noKey.statusCode, 401, 'without the key nothing is believed, or checked');
    await w.ctx.flush();
    const ips = (await w.ctx.store.db.selectFrom('sign_in_events').select('ip').execute()).map((r) => r.ip);
    assert.ok(ips.includes('203.0.113.41') && ips.includes('2001:db8::41'), ips.join(' '));
    for (const ip of ['203.0.113.42', '2001:db8::42', '203.0.113.43']) assert.ok(!ips.includes(ip), ip);
  });

  it('smart lockout: 20 repeats of one wrong password lock nothing; 20 different ones lock the main password from that kind of place only, never a good app password, and say how long to wait', async () => {
    const u = (await w.ctx.accounts.addUser(OPERATOR, {
      address: 'phone@contoso.test',
      password: 'amber-river-kettle-71',
    }))!;
    await w.ctx.mfaAdmin.setUserState(OPERATOR, u.address, 'enabled');
    const s = (await w.ctx.sessions.start(u.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, Date.now()))
      .session;
    const good = (await w.ctx.appPasswords.create(u, s, 'Phone', { ip: '127.0.0.1', locale: 'en' })).password;
    const web = (ip: string) =>
      w.app.inject({
        method: 'POST',
        url: '/api/v1/sessions',
        remoteAddress: ip,
        payload: { email: u.address, password: 'amber-river-kettle-71' },
      });
    // The owner signs in at the office once: that network is familiar from now on.
    assert.equal((await web('198.51.100.7')).statusCode, 200);
    const stale = 'abcd efgh jkmn pqrs tuvw';
    for (let i = 0; i < 20; i++)
      assert.equal((await mail({ user: u.address, password: stale, service: 'imap' })).statusCode, 401);
    assert.equal(
      (await mail({ user: u.address, password: good, service: 'imap' })).statusCode,
      200,
      'the stale password of a retrying phone locked nothing',
    );
    await w.ctx.flush();
    const reasons = await w.ctx.store.db
      .selectFrom('sign_in_events')
      .select(['reason', 'attempts'])
      .where('address_typed', '=', u.address)
      .execute();
    // Attempts, not rows: the identical repeats are one aggregated row.
    assert.equal(
      reasons.filter((r) => r.reason === 'repeated_wrong_password').reduce((n, r) => n + Number(r.attempts), 0),
      19,
    );
    // A guesser somewhere else (this test's 127.0.0.1 has never seen the main password right).
    for (let i = 0; i < 20; i++) await mail({ user: u.address, password: `guess number ${i}`, service: 'imap' });
    const main = await mail({ user: u.address, password: 'amber-river-kettle-71', service: 'imap' });
    assert.equal(main.statusCode, 401, 'the main password is locked from unfamiliar places: even the right one');
    assert.equal(
      (await mail({ user: u.address, password: good, service: 'imap' })).statusCode,
      200,
      "the owner's good app password is never locked out",
    );
    const wait = await nginx(
      { 'auth-user': u.address, 'auth-pass': encodeURIComponent('amber-river-kettle-71'), 'auth-protocol': 'imap' },
      second.app,
    );
    assert.equal(wait.headers['auth-status'], 'Invalid login or password', 'the lock holds on the other instance');
    assert.ok(Number(wait.headers['auth-wait']) >= 3);
    assert.equal(
      (await nginx({ 'auth-user': u.address, 'auth-pass': encodeURIComponent(good), 'auth-protocol': 'imap' })).headers[
        'auth-status'
      ],
      'OK',
      'and the good app password passes through nginx too',
    );
    assert.equal(
      (await web('203.0.113.77')).statusCode,
      429,
      'one secret, one lock: the browser from elsewhere waits too',
    );
    assert.equal((await web('198.51.100.9')).statusCode, 200, 'the owner at the familiar network signs in');
    await w.ctx.flush();
    const locked = await w.ctx.store.db
      .selectFrom('sign_in_events')
      .select(['reason', 'outcome', 'protocol', 'attempts'])
      .where('address_typed', '=', u.address)
      .where('reason', '=', 'account_locked')
      .execute();
    assert.ok(locked.reduce((n, r) => n + Number(r.attempts), 0) >= 3, 'the sign-in log says which lock refused');
    assert.ok(locked.every((r) => r.outcome === 'throttled'));
  });

  it('sees a revoked app password refused at once by another instance', async () => {
    const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, Date.now()))
      .session;
    const made = await w.ctx.appPasswords.create(user, s, 'Soon gone', { ip: '127.0.0.1', locale: 'en' });
    const viaSecond = () =>
      second.app.inject({
        method: 'POST',
        url: '/auth/mail',
        headers: bearer(),
        payload: { user: USER.address, password: made.password, service: 'imap' },
      });
    assert.equal((await viaSecond()).statusCode, 200);
    await w.ctx.appPasswords.remove(user, made.appPassword.id);
    assert.equal((await viaSecond()).statusCode, 401);
  });

  it('answers "temporary failure", never "wrong", when the store is gone', async () => {
    const ctx3 = await createContext(w.store.config(), testContextOptions());
    const app3 = await buildApp(ctx3, { logger: false });
    await ctx3.store.db.destroy();
    const r = await app3.inject({
      method: 'POST',
      url: '/auth/mail',
      headers: bearer(),
      payload: { user: USER.address, password: appPassword, service: 'imap' },
    });
    assert.equal(r.statusCode, 503);
    const n = await app3.inject({
      method: 'GET',
      url: '/auth/nginx-mail',
      headers: {
        ...bearer(),
        'auth-user': USER.address,
        'auth-pass': encodeURIComponent(appPassword),
        'auth-protocol': 'imap',
      },
    });
    assert.equal(n.headers['auth-status'], 'Temporary server problem, try again later');
    await app3.close();
  });
});
