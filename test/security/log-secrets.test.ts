/**
 * The operator's log never holds a secret (checklist 37): passwords, session tokens, cookies and
 * one-time link tokens stay out of it, and a user agent with CR/LF cannot forge a line.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createContext, type AppContext } from '../../src/app/context.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { buildApp } from '../../src/app/server.js';
import { makeTestStore, type TestStore } from '../support/stores.js';
import { Browser, csrfFrom, oathtoolTotp } from '../support/world.js';
import { testContextOptions } from '../support/hasher.js';
import { LOGGED_FIELD_MAX } from '../../src/lib/logging.js';

describe('logs hold no secrets', () => {
  let store: TestStore;
  let ctx: AppContext;
  let app: Awaited<ReturnType<typeof buildApp>>;
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });

  before(async () => {
    store = await makeTestStore('sqlite');
    ctx = await createContext(store.config({ logLevel: 'trace' }), testContextOptions());
    await ctx.accounts.addOrganization(OPERATOR, 'contoso.test');
    await ctx.accounts.addUser(OPERATOR, { address: 'bob@contoso.test', password: 'quiet-meadow-copper-77' });
    app = await buildApp(ctx, { logStream: stream });
  });
  after(async () => {
    await app.close();
    await ctx.close();
    await store.dispose();
  });

  it('after sign-ins, API calls and a set-password link, no secret is in any log line', async () => {
    const secrets: string[] = ['quiet-meadow-copper-77', 'wrong-guess-password-1', 'brand-new-password-55'];
    const b = new Browser(app, { 'user-agent': 'Evil\r\n{"level":60,"msg":"forged"}' });
    await b.signIn('bob@contoso.test', 'wrong-guess-password-1');
    await b.signIn('bob@contoso.test', 'quiet-meadow-copper-77');
    secrets.push(b.cookies.get('sesame_session')!, b.cookies.get('sesame_csrf')!);
    const api = await app.inject({
      method: 'POST',
      url: '/api/v1/sessions',
      payload: { email: 'bob@contoso.test', password: 'quiet-meadow-copper-77' },
    });
    const token = api.json().token as string;
    secrets.push(token);
    await app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${token}` } });
    const link = await ctx.accounts.issueSetPasswordToken(OPERATOR, 'bob@contoso.test');
    secrets.push(link.token);
    const v = new Browser(app);
    const form = await v.get(`/set-password?token=${link.token}`);
    await v.post('/set-password', {
      _csrf: csrfFrom(form.body),
      token: link.token,
      password: 'brand-new-password-55',
      confirm: 'brand-new-password-55',
    });

    // A configuration profile link (#18, item 2): its token is in the path, opened and used.
    await ctx.mailSettings.set(OPERATOR, (await ctx.accounts.organizationByDomain('contoso.test')).id, {
      imap: { host: 'imap.contoso.test', port: 993, security: 'tls' },
    });
    const bob = (await ctx.accounts.findUserByAddressOrNull('bob@contoso.test'))!;
    await ctx.mfaAdmin.setUserState(OPERATOR, 'bob@contoso.test', 'enabled');
    const made = await ctx.appPasswords.create(bob, null, 'Phone', { ip: '127.0.0.1', locale: 'en' });
    const offer = (await ctx.profileLinks.offer(bob, null, { id: made.appPassword.id, password: made.password }))!;
    secrets.push(offer.token, made.password, made.password.replace(/ /g, ''));
    await app.inject({ method: 'GET', url: `/apple-profile/${offer.token}` });
    assert.equal((await app.inject({ method: 'GET', url: `/apple-profile/${offer.token}/download` })).statusCode, 200);
    await app.inject({ method: 'GET', url: `/apple-profile/${offer.token}/download?x=1` });

    assert.ok(lines.length > 10, 'the log was written');
    const all = lines.join('\n');
    for (const s of secrets) assert.ok(!all.includes(s), `a secret (${s.slice(0, 4)}…) is in the log`);
    for (const l of lines) {
      const parsed = JSON.parse(l) as { msg?: string; level: number };
      assert.notEqual(parsed.msg, 'forged', 'a user agent cannot forge a log line');
    }
    assert.ok(all.includes('/set-password?[query omitted]'));
    assert.ok(all.includes('/apple-profile/[token omitted]/download'));
  });

  it("clips long paths and user agents, so that a request line stays under a pipe's atomic write (several workers)", async () => {
    const from = lines.length;
    const long = `/x${'a'.repeat(6000)}`;
    await app.inject({ method: 'GET', url: long, headers: { 'user-agent': `Long/${'b'.repeat(6000)}` } });
    const mine = lines.slice(from).filter((l) => l.includes('Long/'));
    assert.ok(mine.length > 0, 'the request was logged');
    for (const l of mine) {
      assert.ok(Buffer.byteLength(l) < 4096 - 1, `${Buffer.byteLength(l)} bytes`);
      const req = (JSON.parse(l) as { req: { url: string; userAgent: string } }).req;
      assert.equal(req.url, `${long.slice(0, LOGGED_FIELD_MAX)}[…]`);
      assert.equal(req.userAgent, `Long/${'b'.repeat(LOGGED_FIELD_MAX - 5)}[…]`);
    }
  });

  it('logs every second step and legacy attempt with who, when, from where, how and which app password; no code, seed or app password anywhere', async () => {
    await ctx.accounts.addUser(OPERATOR, { address: 'mia@contoso.test', password: 'second-step-lantern-6' });
    await ctx.mfaAdmin.setUserState(OPERATOR, 'mia@contoso.test', 'enabled');
    const api = (url: string, body: object, flow?: string) =>
      app.inject({
        method: 'POST',
        url: `/api/v1${url}`,
        payload: body,
        headers: { 'user-agent': 'LogCheck/1.0', ...(flow ? { 'x-sesame-flow': flow } : {}) },
        remoteAddress: '198.51.100.61',
      });
    const t = (await api('/sessions', { email: 'mia@contoso.test', password: 'second-step-lantern-6' })).json()
      .token as string;
    await api('/flow/setup', {}, t);
    const seed = (await api('/flow/method', { kind: 'totp' }, t)).json().prompt.secret as string;
    const enrolCode = oathtoolTotp(seed, Date.now());
    await api('/flow/verify', { code: enrolCode }, t);
    const appPassword = (await api('/flow/next', {}, t)).json().appPassword.password as string;
    const recovery = (await api('/flow/next', {}, t)).json().recoveryCodes as string[];
    await api('/flow/done', {}, t);
    const s = (await api('/sessions', { email: 'mia@contoso.test', password: 'second-step-lantern-6' })).json()
      .token as string;
    const wrong = enrolCode === '135791' ? '246802' : '135791';
    assert.equal((await api('/flow/verify', { code: wrong }, s)).statusCode, 400);
    const nextCode = oathtoolTotp(seed, Date.now() + 30_000);
    assert.equal((await api('/flow/verify', { code: nextCode }, s)).statusCode, 201);
    const r = (await api('/sessions', { email: 'mia@contoso.test', password: 'second-step-lantern-6' })).json()
      .token as string;
    await api('/flow/switch', { method: 'recovery' }, r);
    assert.equal((await api('/flow/verify', { code: recovery[0]! }, r)).statusCode, 201);
    const key = (await ctx.integrations.add('dovecot')).key;
    const mail = (password: string) =>
      app.inject({
        method: 'POST',
        url: '/auth/mail',
        headers: { authorization: `Bearer ${key}`, 'user-agent': 'dovecot-sesame-auth' },
        payload: { user: 'mia@contoso.test', password, service: 'imap', remoteIp: '203.0.113.61' },
      });
    assert.equal((await mail(appPassword)).statusCode, 200);
    assert.equal((await mail('abcd efgh jkmn pqrs tuvw')).statusCode, 401);
    await ctx.flush();

    const events = await ctx.store.db
      .selectFrom('sign_in_events')
      .selectAll()
      .where('address_typed', '=', 'mia@contoso.test')
      .orderBy('at')
      .execute();
    const mfa = events.filter((e) => e.protocol === 'api:mfa');
    // The registration's code is in the audit log (method added); each later second step is in the sign-in log.
    assert.deepEqual(
      mfa.map((e) => [e.outcome, e.reason]),
      [
        ['failure', 'wrong_second_factor'],
        ['success', 'ok'],
        ['success', 'ok'],
      ],
    );
    const userId = (await ctx.accounts.findUserByAddressOrNull('mia@contoso.test'))!.id;
    for (const e of mfa) {
      assert.equal(e.user_id, userId, 'who');
      assert.equal(e.ip, '198.51.100.61', 'from where');
      assert.equal(e.user_agent, 'LogCheck/1.0');
      assert.ok(e.at > Date.now() - 60_000 && e.at <= Date.now(), 'when');
    }
    const imap = events.filter((e) => e.protocol === 'imap');
    assert.deepEqual(
      imap.map((e) => [e.outcome, e.reason, e.ip]),
      [
        ['success', 'ok', '203.0.113.61'],
        ['failure', 'wrong_password', '203.0.113.61'],
      ],
    );
    assert.equal(
      imap[0]!.app_password_id,
      (await ctx.appPasswords.list((await ctx.accounts.findUserById(userId))!))[0]!.id,
      'which app password',
    );

    const audit = await ctx.store.db.selectFrom('audit_events').selectAll().execute();
    const stored = JSON.stringify([events, audit, await ctx.store.db.selectFrom('flows').selectAll().execute()]);
    const all = lines.join('\n');
    for (const secret of [
      seed,
      enrolCode,
      wrong,
      nextCode,
      appPassword,
      appPassword.replace(/ /g, ''),
      ...recovery,
      key,
    ]) {
      assert.ok(!all.includes(secret), `a secret (${secret.slice(0, 3)}…) is in the operator's log`);
      assert.ok(
        !stored.includes(secret),
        `a secret (${secret.slice(0, 3)}…) is in the sign-in log, the audit log or a stored flow`,
      );
    }
  });
});
