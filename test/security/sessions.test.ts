/**
 * Sessions (checklist 27-31): no fixation, 256-bit tokens stored hashed, cookie flags, idle and
 * absolute timeouts enforced on the server, sign-out and disabling end sessions server-side.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { Browser, csrfFrom, FakeClock, makeWorld, USER, type World } from '../support/world.js';

type Cookie = { name: string; value: string; httpOnly?: boolean; secure?: boolean; sameSite?: string; path?: string; maxAge?: number; expires?: Date };
const sessionCookie = (res: { cookies: unknown }, name = 'sesame_session') => (res.cookies as Cookie[]).find((c) => c.name === name);

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
    assert.equal(await w.ctx.store.db.selectFrom('sessions').select('id').where('user_id', '=', (await w.ctx.store.db.selectFrom('users').select('id').where('address', '=', USER.address).executeTakeFirstOrThrow()).id).executeTakeFirst(), undefined);
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
});
