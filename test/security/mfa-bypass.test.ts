/**
 * MFA holds on every path (checklist 13, 32): after the password no page or API gives access;
 * changing methods needs a fresh second factor; cross-site POSTs against Security info fail.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import {
  Browser,
  csrfFrom,
  FakeClock,
  makeWorld,
  oathtoolTotp,
  USER,
  type World,
  registerTotpThroughPages,
} from '../support/world.js';

describe('MFA cannot be skipped or changed behind the user’s back', () => {
  let w: World;
  const clock = new FakeClock(Date.UTC(2026, 10, 27, 15, 0, 0));
  let secret = '';
  before(async () => {
    w = await makeWorld('sqlite', {}, { clock });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enforced');
    secret = await registerTotpThroughPages(w, clock, USER.address, USER.password);
  });
  after(async () => w.close());

  it('gives no page, no admin page and no API session between the password and the second factor', async () => {
    const b = new Browser(w.app);
    const r = await b.signIn(USER.address, USER.password);
    assert.equal(r.headers.location, '/signin/mfa');
    for (const url of ['/account', '/security-info', '/admin/users', '/admin/sign-ins'])
      assert.equal((await b.get(url)).statusCode, 303, url);
    // The flow cookie is not a session cookie, whatever name it is presented under.
    const flowToken = b.cookies.get('sesame_flow')!;
    const forged = new Browser(w.app);
    forged.cookies.set('sesame_session', flowToken);
    assert.equal((await forged.get('/account')).statusCode, 303);
    assert.equal(
      (await w.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${flowToken}` } }))
        .statusCode,
      401,
    );
    const api = await w.app.inject({
      method: 'POST',
      url: '/api/v1/sessions',
      payload: { email: USER.address, password: USER.password },
    });
    assert.equal(api.statusCode, 200, 'the API answers with a flow, not a session');
    assert.equal(api.json().state, 'second_factor');
  });

  it('asks for a fresh second factor before a method can be removed, and refuses cross-site removal', async () => {
    const b = new Browser(w.app);
    await b.signIn(USER.address, USER.password);
    clock.advance(30_000);
    await b.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(secret, clock.now()) });
    const methodId = (await w.ctx.store.db.selectFrom('mfa_methods').select('id').executeTakeFirstOrThrow()).id;
    const methodsTable = (html: string) => /<table id="methods">[\s\S]*?<\/table>/.exec(html)?.[0] ?? '';
    const fresh = await b.get('/security-info');
    assert.match(methodsTable(fresh.body), />Delete<\/button>/, 'fresh after sign-in: changes allowed');

    const csrfless = await b.post('/security-info/delete', { method: methodId });
    assert.equal(csrfless.statusCode, 403, 'a cross-site POST that removes a method is refused');
    const forged = await b.post('/security-info/delete', { method: methodId, _csrf: 'x'.repeat(40) });
    assert.equal(forged.statusCode, 403);

    clock.advance(11 * 60_000);
    const stale = await b.get('/security-info');
    assert.doesNotMatch(methodsTable(stale.body), />Delete<\/button>/);
    assert.match(stale.body, /first confirm it is you/);
    const refused = await b.post('/security-info/delete', { method: methodId, _csrf: csrfFrom(stale.body) });
    assert.equal(refused.statusCode, 403);
    assert.equal(
      (await w.ctx.store.db.selectFrom('mfa_methods').select('id').execute()).length,
      1,
      'nothing was removed',
    );

    // Step up: confirm with a new code, then the change is allowed.
    const up = await b.submit('/security-info', '/security-info/confirm', {});
    assert.equal(up.headers.location, '/security-info/flow');
    clock.advance(30_000);
    const confirmed = await b.submit('/security-info/flow', '/security-info/flow/verify', {
      code: oathtoolTotp(secret, clock.now()),
    });
    assert.equal(confirmed.headers.location, '/security-info?m=confirmed');
    const asked = await b.submit('/security-info', '/security-info/delete', { method: methodId });
    assert.equal(asked.statusCode, 409, 'fresh now, but the only method of a user with MFA on is kept');
    assert.match(asked.body, /You can&#39;t delete your only sign-in method|You can't delete your only sign-in method/);
    assert.equal((await w.ctx.store.db.selectFrom('mfa_methods').select('id').execute()).length, 1);
  });

  it('ends a sign-in flow after 15 minutes, and at once when the user is disabled', async () => {
    await w.ctx.accounts.addUser(OPERATOR, { address: 'gil@contoso.test', password: 'lilac-summit-rower-27' });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, 'gil@contoso.test', 'enabled');
    const slow = new Browser(w.app);
    await slow.signIn('gil@contoso.test', 'lilac-summit-rower-27');
    assert.equal((await slow.get('/signin/mfa')).statusCode, 200);
    clock.advance(16 * 60_000);
    const expired = await slow.get('/signin/mfa');
    assert.equal(expired.statusCode, 400);
    assert.match(expired.body, /This sign-in has expired/);

    const b = new Browser(w.app);
    await b.signIn('gil@contoso.test', 'lilac-summit-rower-27');
    await w.ctx.accounts.disableUser(OPERATOR, 'gil@contoso.test');
    assert.equal((await b.submit('/signin/mfa', '/signin/mfa/setup', {})).statusCode, 400);
  });
});
