/**
 * One limit on every path (checklist 5, 7, 9, 10, 15, 19): with a limit that is not the default,
 * the web form, the JSON API, a legacy protocol, the second step and recovery codes each allow
 * exactly that many failures; a success on one authenticator never clears another's count; and
 * the defaults stay well under NIST's 100 with locks that start at 60 s.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { Browser, FakeClock, makeWorld, oathtoolTotp, type World } from '../support/world.js';

const LIMIT = 4;

describe('the same throttling on every path', () => {
  let w: World;
  let key = '';
  const clock = new FakeClock(Date.UTC(2026, 10, 28, 14, 0, 0));
  const api = (url: string, body: object, flow?: string) =>
    w.app.inject({
      method: 'POST',
      url: `/api/v1${url}`,
      payload: body,
      headers: flow ? { 'x-sesame-flow': flow } : {},
    });
  const imap = (user: string, password: string, service = 'imap') =>
    w.app.inject({
      method: 'POST',
      url: '/auth/mail',
      headers: { authorization: `Bearer ${key}` },
      payload: { user, password, service, remoteIp: '192.0.2.44' },
    });

  before(async () => {
    w = await makeWorld(
      'sqlite',
      { accountFailureLimit: LIMIT, ipFailureLimit: 10_000, lockBaseSeconds: 60 },
      { clock },
    );
    key = (await w.ctx.integrations.add('dovecot')).key;
  });
  after(async () => w.close());

  /** A new user with a registered authenticator app; returns its seed, the registration's app password and recovery codes. */
  async function enrolled(address: string, password: string) {
    await w.ctx.accounts.addUser(OPERATOR, { address, password });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, address, 'enabled');
    const t = (await api('/sessions', { email: address, password })).json().token as string;
    await api('/flow/setup', {}, t);
    const secret = (await api('/flow/method', { kind: 'totp' }, t)).json().prompt.secret as string;
    assert.equal((await api('/flow/verify', { code: oathtoolTotp(secret, clock.now()) }, t)).json().state, 'enrolled');
    const appPassword = (await api('/flow/next', {}, t)).json().appPassword.password as string;
    const recoveryCodes = (await api('/flow/next', {}, t)).json().recoveryCodes as string[];
    assert.equal((await api('/flow/done', {}, t)).statusCode, 201);
    return { secret, appPassword, recoveryCodes };
  }

  /** A sign-in that reaches the second step (API); returns the flow token. */
  async function secondStep(address: string, password: string) {
    const r = await api('/sessions', { email: address, password });
    assert.equal(r.json().state, 'second_factor');
    return r.json().token as string;
  }

  it(`allows exactly ${LIMIT} failures on the web form, the JSON API, IMAP, the second step and recovery codes`, async () => {
    // Web form and JSON API: LIMIT - 1 failures and the right password still works; LIMIT failures lock it.
    for (const path of ['web', 'api'] as const) {
      const address = `${path}@contoso.test`;
      await w.ctx.accounts.addUser(OPERATOR, { address, password: 'right-password-lantern-1' });
      const attempt = async (password: string) =>
        path === 'web'
          ? (await new Browser(w.app).signIn(address, password)).statusCode
          : (await api('/sessions', { email: address, password })).statusCode;
      const ok = path === 'web' ? 303 : 201;
      for (let i = 0; i < LIMIT - 1; i++) assert.equal(await attempt(`wrong-${i}-lantern`), 401);
      assert.equal(await attempt('right-password-lantern-1'), ok, `${path}: not locked before the limit`);
      for (let i = 0; i < LIMIT; i++) assert.equal(await attempt(`wrong-${i}-lantern`), 401);
      assert.equal(
        await attempt('right-password-lantern-1'),
        429,
        `${path}: locked at the limit, even for the right password`,
      );
    }

    // A legacy protocol: the same number of different wrong passwords locks the main password (from
    // that kind of place: 192.0.2.0/24 never saw it right), on every path; never the app password.
    const legacyUser = await enrolled('legacy@contoso.test', 'right-password-lantern-2');
    const apiFrom = (ip: string) =>
      w.app.inject({
        method: 'POST',
        url: '/api/v1/sessions',
        remoteAddress: ip,
        payload: { email: 'legacy@contoso.test', password: 'right-password-lantern-2' },
      });
    for (let i = 0; i < LIMIT - 1; i++)
      assert.equal((await imap('legacy@contoso.test', `wrong-${i}-lantern`)).statusCode, 401);
    assert.equal((await apiFrom('192.0.2.99')).statusCode, 200, 'IMAP: not locked before the limit');
    for (let i = 0; i < LIMIT; i++)
      assert.equal((await imap('legacy@contoso.test', `wrong-${i}-lantern-b`)).statusCode, 401);
    assert.equal(
      (await apiFrom('192.0.2.99')).statusCode,
      429,
      'IMAP: locked at the limit, even for the right password',
    );
    assert.equal(
      (await imap('legacy@contoso.test', legacyUser.appPassword)).statusCode,
      200,
      'an app password is never locked out',
    );

    // The second step.
    const mfa = await enrolled('second@contoso.test', 'right-password-lantern-3');
    let t = await secondStep('second@contoso.test', 'right-password-lantern-3');
    for (let i = 0; i < LIMIT - 1; i++)
      assert.equal((await api('/flow/verify', { code: String(200000 + i) }, t)).statusCode, 400);
    clock.advance(30_000);
    assert.equal(
      (await api('/flow/verify', { code: oathtoolTotp(mfa.secret, clock.now()) }, t)).statusCode,
      201,
      'second step: not locked before the limit',
    );
    t = await secondStep('second@contoso.test', 'right-password-lantern-3');
    for (let i = 0; i < LIMIT; i++)
      assert.equal((await api('/flow/verify', { code: String(300000 + i) }, t)).statusCode, 400);
    clock.advance(30_000);
    assert.equal(
      (await api('/flow/verify', { code: oathtoolTotp(mfa.secret, clock.now()) }, t)).statusCode,
      429,
      'second step: locked at the limit, even for the right code',
    );

    // Recovery codes: the same counter and limit as the other second factors.
    const rc = await enrolled('recovery@contoso.test', 'right-password-lantern-4');
    t = await secondStep('recovery@contoso.test', 'right-password-lantern-4');
    assert.equal((await api('/flow/switch', { method: 'recovery' }, t)).statusCode, 200);
    const wrongCode = (i: number) => `abcd-efgh-jkmn-pq${'rstuvwxyz'[i]}${'rstuvwxyz'[i]}`;
    for (let i = 0; i < LIMIT - 1; i++)
      assert.equal((await api('/flow/verify', { code: wrongCode(i) }, t)).statusCode, 400);
    assert.equal(
      (await api('/flow/verify', { code: rc.recoveryCodes[0]! }, t)).statusCode,
      201,
      'recovery code: not locked before the limit',
    );
    t = await secondStep('recovery@contoso.test', 'right-password-lantern-4');
    await api('/flow/switch', { method: 'recovery' }, t);
    for (let i = 0; i < LIMIT; i++)
      assert.equal((await api('/flow/verify', { code: wrongCode(i) }, t)).statusCode, 400);
    assert.equal(
      (await api('/flow/verify', { code: rc.recoveryCodes[1]! }, t)).statusCode,
      429,
      'recovery codes: locked at the limit, even for a right one',
    );
  });

  it("a success on one authenticator does not clear another's count: an app password on IMAP leaves the web password's failures, and a familiar place's success leaves an unfamiliar one's", async () => {
    const u = await enrolled('nine@contoso.test', 'right-password-lantern-5');
    // Web password: LIMIT - 1 failures, then an app-password sign-in on IMAP, then one more web failure: locked.
    for (let i = 0; i < LIMIT - 1; i++)
      assert.equal(
        (await api('/sessions', { email: 'nine@contoso.test', password: `web-wrong-${i}-x` })).statusCode,
        401,
      );
    assert.equal((await imap('nine@contoso.test', u.appPassword)).statusCode, 200);
    assert.equal(
      (await api('/sessions', { email: 'nine@contoso.test', password: 'web-wrong-last-x' })).statusCode,
      401,
    );
    assert.equal(
      (await api('/sessions', { email: 'nine@contoso.test', password: 'right-password-lantern-5' })).statusCode,
      429,
      "the IMAP success did not reset the web password's count",
    );

    // IMAP: LIMIT - 1 failures from unfamiliar 192.0.2.44, then the right password on the web form from
    // the familiar 127.0.0.1, then one more IMAP failure: locked from unfamiliar places (the web
    // success cleared only its own kind of place's count), while the office still signs in.
    const v = await enrolled('ten@contoso.test', 'right-password-lantern-6');
    for (let i = 0; i < LIMIT - 1; i++)
      assert.equal((await imap('ten@contoso.test', `imap-wrong-${i}-x`)).statusCode, 401);
    assert.equal(
      (await secondStep('ten@contoso.test', 'right-password-lantern-6')).length > 0,
      true,
      'the web password was right',
    );
    assert.equal((await imap('ten@contoso.test', 'imap-wrong-last-x')).statusCode, 401);
    const from = (ip: string) =>
      w.app.inject({
        method: 'POST',
        url: '/api/v1/sessions',
        remoteAddress: ip,
        payload: { email: 'ten@contoso.test', password: 'right-password-lantern-6' },
      });
    assert.equal(
      (await from('192.0.2.50')).statusCode,
      429,
      "the familiar place's success did not reset the other count",
    );
    assert.equal((await from('127.0.0.1')).statusCode, 200, 'the familiar place is not locked');
    assert.equal((await imap('ten@contoso.test', v.appPassword)).statusCode, 200, 'nor is the app password');
  });

  it('defaults: 10 failures per account (at most 100 may be configured), 100 per IP, locks from 60 s growing to 1 h', () => {
    const c = loadConfig({});
    assert.deepEqual(
      [c.accountFailureLimit, c.ipFailureLimit, c.lockBaseSeconds, c.lockMaxSeconds],
      [10, 100, 60, 3600],
    );
    assert.equal(loadConfig({ SESAME_ACCOUNT_FAILURE_LIMIT: '100' }).accountFailureLimit, 100);
    assert.throws(
      () => loadConfig({ SESAME_ACCOUNT_FAILURE_LIMIT: '101' }),
      ConfigError,
      'more than 100 consecutive failures is refused',
    );
  });
});
