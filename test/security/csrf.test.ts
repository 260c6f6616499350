/** CSRF (checklist 32): every state-changing form, sign-in included, needs the token bound to this browser. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { routesOf } from '../support/routes.js';
import { signInAdminWithMfa } from '../support/admin-mfa.js';
import { ADMIN, Browser, csrfFrom, makeWorld, USER, type World } from '../support/world.js';

describe('CSRF protection', () => {
  let w: World;
  before(async () => {
    w = await makeWorld('sqlite');
  });
  after(async () => w.close());

  it('refuses a sign-in form without a token, or with a token from another browser', async () => {
    const b = new Browser(w.app);
    await b.get('/signin');
    const none = await b.post('/signin', { email: USER.address, password: USER.password });
    assert.equal(none.statusCode, 403);
    assert.match(none.body, /This form has expired/);
    assert.equal(String(none.headers['set-cookie'] ?? '').includes('sesame_session'), false, 'no session was made');
    const other = await new Browser(w.app).get('/signin');
    const foreign = await b.post('/signin', {
      _csrf: csrfFrom(other.body),
      email: USER.address,
      password: USER.password,
    });
    assert.equal(foreign.statusCode, 403);
  });

  it('refuses a cross-site POST that would add or disable a user, and changes nothing', async () => {
    const admin = new Browser(w.app);
    await signInAdminWithMfa(admin, ADMIN);
    // A cross-site form carries the victim's cookies but cannot read the token.
    const add = await admin.post('/admin/users', { address: 'planted@contoso.test' });
    assert.equal(add.statusCode, 403);
    const dis = await admin.post('/admin/users/disable', { address: USER.address, _csrf: 'forged-token' });
    assert.equal(dis.statusCode, 403);
    assert.equal(
      await w.ctx.store.db
        .selectFrom('users')
        .select('id')
        .where('address', '=', 'planted@contoso.test')
        .executeTakeFirst(),
      undefined,
    );
    assert.equal(
      (
        await w.ctx.store.db
          .selectFrom('users')
          .select('status')
          .where('address', '=', USER.address)
          .executeTakeFirstOrThrow()
      ).status,
      'active',
    );
  });

  it('refuses sign-out without a token (no forced sign-out), and the session lives on', async () => {
    const b = new Browser(w.app);
    await b.signIn(USER.address, USER.password);
    assert.equal((await b.post('/signout', {})).statusCode, 403);
    assert.equal((await b.get('/account')).statusCode, 200);
  });

  it('sets the CSRF cookie HttpOnly, SameSite=Strict and signed', async () => {
    const res = await new Browser(w.app).get('/signin');
    const c = (res.cookies as { name: string; value: string; httpOnly?: boolean; sameSite?: string }[]).find(
      (k) => k.name === 'sesame_csrf',
    );
    assert.ok(c);
    assert.equal(c.httpOnly, true);
    assert.equal(c.sameSite, 'Strict');
    assert.match(c.value, /\./, 'signed with the cookie key');
  });

  it('refuses every state-changing browser route without the token, and changes nothing', async () => {
    // Machine-facing, without cookies: the API, the mail servers' endpoints, and Outlook's
    // Autodiscover (a POST that reads the settings and changes nothing).
    const changing = routesOf(w.app).filter(
      (r) => !['GET', 'HEAD'].includes(r.method) && !/^\/(api|auth|oauth2|[Aa]utodiscover)\//.test(r.url),
    );
    assert.ok(changing.length >= 30, `${changing.length} routes found`);
    const admin = new Browser(w.app);
    await signInAdminWithMfa(admin, ADMIN);
    await admin.get('/account');
    const usersBefore = await w.ctx.store.db
      .selectFrom('users')
      .select(['address', 'status', 'mfa_state'])
      .orderBy('address')
      .execute();
    for (const r of changing) {
      for (const form of [{}, { _csrf: 'forged-token' }] as Record<string, string>[]) {
        const res = await w.app.inject({
          method: r.method as 'POST',
          url: r.url,
          headers: {
            cookie: [...admin.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
            'content-type': 'application/x-www-form-urlencoded',
          },
          payload: new URLSearchParams({
            ...form,
            address: USER.address,
            lang: 'nl',
            name: 'x',
            state: 'disabled',
            kind: 'totp',
          }).toString(),
        });
        assert.equal(res.statusCode, 403, `${r.method} ${r.url} ${JSON.stringify(form)}`);
        assert.match(res.body, /This form has expired/, `${r.method} ${r.url}`);
      }
    }
    assert.deepEqual(
      await w.ctx.store.db.selectFrom('users').select(['address', 'status', 'mfa_state']).orderBy('address').execute(),
      usersBefore,
    );
    assert.equal((await admin.get('/account')).statusCode, 200, 'still signed in: sign-out was refused too');
  });

  it('the JSON API takes bearer tokens only: a session cookie alone changes nothing', async () => {
    const admin = new Browser(w.app);
    await signInAdminWithMfa(admin, ADMIN);
    const cookie = [...admin.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const add = await w.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: { cookie },
      payload: { address: 'cookie-only@contoso.test' },
    });
    assert.equal(add.statusCode, 401);
    const dis = await w.app.inject({
      method: 'POST',
      url: `/api/v1/users/${USER.address}/disable`,
      headers: { cookie },
    });
    assert.equal(dis.statusCode, 401);
    assert.equal(
      await w.ctx.store.db
        .selectFrom('users')
        .select('id')
        .where('address', '=', 'cookie-only@contoso.test')
        .executeTakeFirst(),
      undefined,
    );
    assert.equal(
      (
        await w.ctx.store.db
          .selectFrom('users')
          .select('status')
          .where('address', '=', USER.address)
          .executeTakeFirstOrThrow()
      ).status,
      'active',
    );
  });

  it('changes nothing on GET', async () => {
    const b = new Browser(w.app);
    for (const url of ['/signout', '/admin/users/disable?address=bob@contoso.test', '/lang?lang=nl']) {
      const r = await b.get(url);
      assert.equal(r.statusCode, 404, url);
    }
  });
});
