/** CSRF (checklist 32): every state-changing form, sign-in included, needs the token bound to this browser. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
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
    const foreign = await b.post('/signin', { _csrf: csrfFrom(other.body), email: USER.address, password: USER.password });
    assert.equal(foreign.statusCode, 403);
  });

  it('refuses a cross-site POST that would add or disable a user, and changes nothing', async () => {
    const admin = new Browser(w.app);
    await admin.signIn(ADMIN.address, ADMIN.password);
    // A cross-site form carries the victim's cookies but cannot read the token.
    const add = await admin.post('/admin/users', { address: 'planted@contoso.test' });
    assert.equal(add.statusCode, 403);
    const dis = await admin.post('/admin/users/disable', { address: USER.address, _csrf: 'forged-token' });
    assert.equal(dis.statusCode, 403);
    assert.equal(await w.ctx.store.db.selectFrom('users').select('id').where('address', '=', 'planted@contoso.test').executeTakeFirst(), undefined);
    assert.equal((await w.ctx.store.db.selectFrom('users').select('status').where('address', '=', USER.address).executeTakeFirstOrThrow()).status, 'active');
  });

  it('refuses sign-out without a token (no forced sign-out), and the session lives on', async () => {
    const b = new Browser(w.app);
    await b.signIn(USER.address, USER.password);
    assert.equal((await b.post('/signout', {})).statusCode, 403);
    assert.equal((await b.get('/account')).statusCode, 200);
  });

  it('sets the CSRF cookie HttpOnly, SameSite=Strict and signed', async () => {
    const res = await new Browser(w.app).get('/signin');
    const c = (res.cookies as { name: string; value: string; httpOnly?: boolean; sameSite?: string }[]).find((k) => k.name === 'sesame_csrf');
    assert.ok(c);
    assert.equal(c.httpOnly, true);
    assert.equal(c.sameSite, 'Strict');
    assert.match(c.value, /\./, 'signed with the cookie key');
  });

  it('changes nothing on GET', async () => {
    const b = new Browser(w.app);
    for (const url of ['/signout', '/admin/users/disable?address=bob@contoso.test', '/lang?lang=nl']) {
      const r = await b.get(url);
      assert.equal(r.statusCode, 404, url);
    }
  });
});
