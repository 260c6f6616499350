/**
 * Sessions (checklist 27-31): no fixation, 256-bit tokens stored hashed, cookie flags, idle and
 * absolute timeouts enforced on the server, sign-out and disabling end sessions server-side.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { LightMyRequestResponse } from 'fastify';
import {
  Browser,
  csrfFrom,
  FakeClock,
  makeWorld,
  oathtoolTotp,
  secretFrom,
  USER,
  type World,
  registerTotpThroughPages,
} from '../support/world.js';

type Cookie = {
  name: string;
  value: string;
  httpOnly?: boolean;
  secure?: boolean;
  sameSite?: string;
  path?: string;
  maxAge?: number;
  expires?: Date;
};
const sessionCookie = (res: { cookies: unknown }, name = 'sesame_session') =>
  (res.cookies as Cookie[]).find((c) => c.name === name);

describe('sessions on plain-http loopback', () => {
  let w: World;
  const clock = new FakeClock();
  before(async () => {
    w = await makeWorld('sqlite', {}, { clock });
  });
  after(async () => w.close());

  it('issues a new session id at sign-in; a planted cookie is worthless', async () => {
    const b = new Browser(w.app);
    b.cookies.set('sesame_session', 'planted-by-attacker-aaaaaaaaaaaaaaaaaaaaaaaaaaaa');
    const res = await b.signIn(USER.address, USER.password);
    const c = sessionCookie(res)!;
    assert.notEqual(c.value, 'planted-by-attacker-aaaaaaaaaaaaaaaaaaaaaaaaaaaa');
    const attacker = new Browser(w.app);
    attacker.cookies.set('sesame_session', 'planted-by-attacker-aaaaaaaaaaaaaaaaaaaaaaaaaaaa');
    assert.equal((await attacker.get('/account')).statusCode, 303);
  });

  it('replaces an existing session when signing in again', async () => {
    const b = new Browser(w.app);
    await b.signIn(USER.address, USER.password);
    const first = b.cookies.get('sesame_session')!;
    // Signed in, /signin sends the visitor on; a second sign-in is posted with a token from another page.
    const account = await b.get('/account');
    await b.post('/signin', { _csrf: csrfFrom(account.body), email: USER.address, password: USER.password });
    const second = b.cookies.get('sesame_session')!;
    assert.notEqual(first, second);
    const old = new Browser(w.app);
    old.cookies.set('sesame_session', first);
    assert.equal((await old.get('/account')).statusCode, 303, 'the old session ended');
  });

  it('uses a 256-bit random token, stores only its keyed hash, and never puts it in a URL', async () => {
    const res = await new Browser(w.app).signIn(USER.address, USER.password);
    const c = sessionCookie(res)!;
    assert.equal(Buffer.from(c.value, 'base64url').length, 32);
    const rows = await w.ctx.store.db.selectFrom('sessions').selectAll().execute();
    assert.ok(!JSON.stringify(rows).includes(c.value));
    assert.ok(!String(res.headers.location).includes(c.value));
  });

  it('sets HttpOnly, SameSite=Lax, Path=/ and no Secure on plain-http loopback (development)', async () => {
    const c = sessionCookie(await new Browser(w.app).signIn(USER.address, USER.password))!;
    assert.equal(c.httpOnly, true);
    assert.equal(c.sameSite, 'Lax');
    assert.equal(c.path, '/');
    assert.ok(!c.secure);
    assert.equal(c.maxAge, undefined, 'a browser-session cookie; the server decides when it ends');
  });

  it('ends a session after 30 idle minutes, on the server', async () => {
    const b = new Browser(w.app);
    await b.signIn(USER.address, USER.password);
    clock.advance(29 * 60_000);
    assert.equal((await b.get('/account')).statusCode, 200);
    clock.advance(29 * 60_000);
    assert.equal((await b.get('/account')).statusCode, 200, 'use keeps it alive');
    clock.advance(30 * 60_000 + 1);
    const res = await b.get('/account');
    assert.equal(res.statusCode, 303);
    assert.match(res.headers.location as string, /m=expired/);
  });

  it('ends a session 12 hours after sign-in however busy it is', async () => {
    const b = new Browser(w.app);
    await b.signIn(USER.address, USER.password);
    for (let h = 0; h < 24; h++) {
      clock.advance(29 * 60_000);
      const status = (await b.get('/account')).statusCode;
      if (h * 29 + 29 < 12 * 60) assert.equal(status, 200, `after ${(h + 1) * 29} minutes`);
      else {
        assert.equal(status, 303, `after ${(h + 1) * 29} minutes`);
        break;
      }
    }
  });

  it('kills the session on the server at sign-out: the old cookie is dead', async () => {
    const b = new Browser(w.app);
    await b.signIn(USER.address, USER.password);
    const token = b.cookies.get('sesame_session')!;
    const page = await b.get('/account');
    await b.post('/signout', { _csrf: /name="_csrf" value="([^"]+)"/.exec(page.body)![1]! });
    const replay = new Browser(w.app);
    replay.cookies.set('sesame_session', token);
    assert.equal((await replay.get('/account')).statusCode, 303);
  });

  it('ends every session of a user who is disabled', async () => {
    const b = new Browser(w.app);
    await b.signIn(USER.address, USER.password);
    await w.ctx.accounts.disableUser(OPERATOR, USER.address);
    assert.equal((await b.get('/account')).statusCode, 303);
    assert.equal(
      await w.ctx.store.db
        .selectFrom('sessions')
        .select('id')
        .where(
          'user_id',
          '=',
          (
            await w.ctx.store.db
              .selectFrom('users')
              .select('id')
              .where('address', '=', USER.address)
              .executeTakeFirstOrThrow()
          ).id,
        )
        .executeTakeFirst(),
      undefined,
    );
    await w.ctx.accounts.enableUser(OPERATOR, USER.address);
  });
});

describe('sessions behind https', () => {
  let w: World;
  before(async () => {
    w = await makeWorld('sqlite', { publicUrl: 'https://id.contoso.test' });
  });
  after(async () => w.close());

  it('uses __Host- cookies that are Secure, and sends HSTS', async () => {
    const b = new Browser(w.app);
    const page = await b.get('/signin');
    assert.ok((page.cookies as Cookie[]).find((c) => c.name === '__Host-sesame_csrf')?.secure);
    assert.match(String(page.headers['strict-transport-security']), /max-age=31536000/);
    const res = await b.signIn(USER.address, USER.password);
    const c = sessionCookie(res, '__Host-sesame_session')!;
    assert.equal(c.secure, true);
    assert.equal(c.path, '/');
  });

  it('sets every cookie, on the real Set-Cookie headers, as __Host-, Secure, HttpOnly, SameSite and Path=/ without Domain', async () => {
    const raw: string[] = [];
    const keep = (res: LightMyRequestResponse) => {
      const h = res.headers['set-cookie'];
      raw.push(...(h === undefined ? [] : Array.isArray(h) ? h : [String(h)]));
      return res;
    };
    await w.ctx.accounts.addUser(OPERATOR, { address: 'cookie@contoso.test', password: 'amber-jar-lantern-8' });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, 'cookie@contoso.test', 'enabled');
    await w.ctx.mfaAdmin.setPolicy(
      OPERATOR,
      (await w.ctx.accounts.findUserByAddressOrNull('cookie@contoso.test'))!.orgId,
      { rememberDays: 7 },
    );
    const b = new Browser(w.app);
    keep(await b.get('/signin'));
    keep(await b.submit('/signin', '/lang', { lang: 'en', back: '/signin' }));
    keep(await b.signIn('cookie@contoso.test', 'amber-jar-lantern-8'));
    keep(await b.submit('/signin/mfa', '/signin/mfa/setup', {}));
    keep(await b.submit('/signin/mfa', '/signin/mfa/method', { kind: 'totp' }));
    const secret = secretFrom((await b.get('/signin/mfa')).body);
    const now = Date.now();
    keep(await b.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(secret, now) }));
    keep(await b.submit('/signin/mfa', '/signin/mfa/next', {}));
    keep(await b.submit('/signin/mfa', '/signin/mfa/next', {}));
    keep(await b.submit('/signin/mfa', '/signin/mfa/done', {}));
    keep(await b.submit('/account', '/signout', {}));
    keep(await b.signIn('cookie@contoso.test', 'amber-jar-lantern-8'));
    keep(
      await b.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(secret, now + 30_000), remember: '1' }),
    );
    keep(await b.submit('/security-info', '/security-info/confirm', {}));
    keep(await b.submit('/account', '/signout', {}));
    const names = new Set(raw.map((c) => c.slice(0, c.indexOf('='))));
    for (const n of [
      '__Host-sesame_csrf',
      '__Host-sesame_lang',
      '__Host-sesame_session',
      '__Host-sesame_flow',
      '__Host-sesame_trust',
      '__Host-sesame_flow_si',
    ])
      assert.ok(names.has(n), `${n} was set: ${[...names].join(', ')}`);
    for (const c of raw) {
      assert.match(c, /^__Host-/, c);
      assert.match(c, /; Secure(;|$)/, c);
      assert.match(c, /; HttpOnly(;|$)/, c);
      assert.match(c, /; SameSite=(Lax|Strict)(;|$)/, c);
      assert.match(c, /; Path=\/(;|$)/, c);
      assert.doesNotMatch(c, /; Domain=/i, c);
    }
  });
});

describe('sessions and the second factor', () => {
  let w: World;
  const clock = new FakeClock(Date.UTC(2026, 10, 28, 11, 0, 0));
  let secret = '';
  before(async () => {
    w = await makeWorld('sqlite', {}, { clock });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enabled');
    secret = await registerTotpThroughPages(w, clock, USER.address, USER.password);
  });
  after(async () => w.close());

  async function signedIn() {
    const b = new Browser(w.app);
    await b.signIn(USER.address, USER.password);
    clock.advance(30_000);
    assert.equal(
      (await b.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(secret, clock.now()) })).headers
        .location,
      '/account',
    );
    return b;
  }

  it('gives the session a new token when the user re-authenticates (step-up); the old token is dead', async () => {
    const b = await signedIn();
    clock.advance(11 * 60_000);
    const before = b.cookies.get('sesame_session')!;
    await b.submit('/security-info', '/security-info/confirm', {});
    clock.advance(30_000);
    const confirmed = await b.submit('/security-info/flow', '/security-info/flow/verify', {
      code: oathtoolTotp(secret, clock.now()),
    });
    assert.equal(confirmed.headers.location, '/security-info?m=confirmed');
    const after = sessionCookie(confirmed)?.value;
    assert.ok(after, 'the step-up sets a new session cookie');
    assert.notEqual(after, before);
    assert.equal((await b.get('/security-info')).statusCode, 200, 'the new token works');
    const old = new Browser(w.app);
    old.cookies.set('sesame_session', before);
    assert.equal((await old.get('/account')).statusCode, 303, 'whoever held the old token is left behind');
  });

  it("ends a user's sessions when an admin resets their MFA (require re-registration)", async () => {
    const b = await signedIn();
    const token = (
      await w.app.inject({
        method: 'POST',
        url: '/api/v1/sessions',
        payload: { email: USER.address, password: USER.password },
      })
    ).json().token as string;
    clock.advance(30_000);
    const api = (
      await w.app.inject({
        method: 'POST',
        url: '/api/v1/flow/verify',
        headers: { 'x-sesame-flow': token },
        payload: { code: oathtoolTotp(secret, clock.now()) },
      })
    ).json().token as string;
    assert.equal((await b.get('/account')).statusCode, 200);
    assert.equal(
      (await w.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${api}` } }))
        .statusCode,
      200,
    );
    await w.ctx.mfaAdmin.requireReRegistration(OPERATOR, USER.address);
    assert.equal((await b.get('/account')).statusCode, 303, 'the browser session ended');
    assert.equal(
      (await w.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${api}` } }))
        .statusCode,
      401,
      'the API session ended',
    );
  });
});
