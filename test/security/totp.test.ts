/**
 * Authenticator apps (checklist 14): a new 160-bit seed for every enrolment, confirmed by a code
 * before anything is stored; registering the app again replaces the old one, so a lost phone's
 * seed stops working. (The ±1 step window is in test/unit/totp-vectors.test.ts; replays in
 * test/flows/mfa-web.test.ts and test/contract/mfa-repositories.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { Browser, FakeClock, makeWorld, oathtoolTotp, secretFrom, USER, type World } from '../support/world.js';

describe('authenticator app enrolment', () => {
  let w: World;
  const clock = new FakeClock(Date.UTC(2026, 10, 28, 13, 0, 0));
  before(async () => {
    w = await makeWorld('sqlite', {}, { clock });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enabled');
  });
  after(async () => w.close());

  const totpRows = async () =>
    w.ctx.store.db.selectFrom('mfa_methods').select(['id', 'secret_enc']).where('kind', '=', 'totp').execute();

  it('choosing the app again in a registration makes a new seed; a code from the first one is refused', async () => {
    const b = new Browser(w.app);
    await b.signIn(USER.address, USER.password);
    await b.submit('/signin/mfa', '/signin/mfa/setup', {});
    await b.submit('/signin/mfa', '/signin/mfa/method', { kind: 'totp' });
    const first = secretFrom((await b.get('/signin/mfa')).body);
    assert.match(first, /^[A-Z2-7]{32}$/, '160 bits');
    await b.submit('/signin/mfa', '/signin/mfa/choose', {});
    await b.submit('/signin/mfa', '/signin/mfa/method', { kind: 'totp' });
    const second = secretFrom((await b.get('/signin/mfa')).body);
    assert.notEqual(second, first);
    assert.equal(
      (await b.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(first, clock.now()) })).statusCode,
      400,
      'the replaced seed',
    );
    assert.deepEqual(await totpRows(), [], 'nothing stored before a code confirms it');
    await b.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(second, clock.now()) });
    await b.submit('/signin/mfa', '/signin/mfa/next', {});
    await b.submit('/signin/mfa', '/signin/mfa/next', {});
    assert.equal((await b.submit('/signin/mfa', '/signin/mfa/done', {})).headers.location, '/account');
    assert.equal((await totpRows()).length, 1);
  });

  it('registering the app again in Security info replaces the old one: the old seed stops working', async () => {
    // The phone with the first seed signs in; the user then sets up a new phone.
    const oldPhone = secretFrom(await enrolmentPageOfNewUser());
    const b = new Browser(w.app);
    await b.signIn('pia@contoso.test', 'replace-seed-lantern-7');
    clock.advance(30_000);
    assert.equal(
      (await b.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(oldPhone, clock.now()) })).headers
        .location,
      '/account',
    );
    assert.equal((await b.submit('/security-info', '/security-info/add', {})).headers.location, '/security-info/flow');
    await b.submit('/security-info/flow', '/security-info/flow/method', { kind: 'totp' });
    const newPhone = secretFrom((await b.get('/security-info/flow')).body);
    assert.notEqual(newPhone, oldPhone);
    clock.advance(30_000);
    await b.submit('/security-info/flow', '/security-info/flow/verify', { code: oathtoolTotp(newPhone, clock.now()) });
    assert.equal(
      (await b.submit('/security-info/flow', '/security-info/flow/next', {})).headers.location,
      '/security-info?m=added',
    );
    const id = (await w.ctx.accounts.findUserByAddressOrNull('pia@contoso.test'))!.id;
    const methods = await w.ctx.store.db
      .selectFrom('mfa_methods')
      .select(['id', 'kind'])
      .where('user_id', '=', id)
      .execute();
    assert.deepEqual(
      methods.map((m) => m.kind),
      ['totp'],
      'one authenticator app: the new one',
    );
    assert.equal(
      (
        await w.ctx.store.db
          .selectFrom('users')
          .select('default_method_id')
          .where('id', '=', id)
          .executeTakeFirstOrThrow()
      ).default_method_id,
      methods[0]!.id,
    );

    clock.advance(30_000);
    const lost = new Browser(w.app);
    await lost.signIn('pia@contoso.test', 'replace-seed-lantern-7');
    assert.equal(
      (await lost.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(oldPhone, clock.now()) }))
        .statusCode,
      400,
      "the old phone's code is refused",
    );
    assert.equal(
      (await lost.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(newPhone, clock.now()) })).headers
        .location,
      '/account',
    );
  });

  /** Adds pia@contoso.test, registers an authenticator app for her, and returns the enrolment page (with its seed). */
  async function enrolmentPageOfNewUser(): Promise<string> {
    await w.ctx.accounts.addUser(OPERATOR, { address: 'pia@contoso.test', password: 'replace-seed-lantern-7' });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, 'pia@contoso.test', 'enabled');
    const b = new Browser(w.app);
    await b.signIn('pia@contoso.test', 'replace-seed-lantern-7');
    await b.submit('/signin/mfa', '/signin/mfa/setup', {});
    await b.submit('/signin/mfa', '/signin/mfa/method', { kind: 'totp' });
    const page = (await b.get('/signin/mfa')).body;
    await b.submit('/signin/mfa', '/signin/mfa/verify', { code: oathtoolTotp(secretFrom(page), clock.now()) });
    await b.submit('/signin/mfa', '/signin/mfa/next', {});
    await b.submit('/signin/mfa', '/signin/mfa/next', {});
    await b.submit('/signin/mfa', '/signin/mfa/done', {});
    return page;
  }
});
