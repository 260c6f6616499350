/**
 * Probes of the location rules and pins (issue #20), as an attacker or a careless admin would try
 * them: an address claimed by someone Sesame does not believe (X-Forwarded-For from a peer that is
 * not a trusted proxy, a remoteIp from no registered integration), another organization's
 * locations and groups named in a rule or a pin, the main password from a refused place (refused,
 * and counted as the other refusals of a right main password are, so it cannot tell a guesser it
 * was right), and a pin an attacker with a stale session tries to widen.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { User } from '../../src/domain/accounts/model.js';
import { adminApiToken } from '../support/admin-mfa.js';
import { ADMIN, makeWorld, OTHER_ADMIN, USER, type World } from '../support/world.js';

describe('location rules and pins: probes', () => {
  let w: World;
  let key = '';
  let user: User;
  let phone = '';
  let phoneId = '';
  let office = '';
  let foreignLocation = '';
  let foreignGroup = '';
  let adminToken = '';
  const CAROL = { address: 'carol@contoso.test', password: 'lantern-orchard-violet-31' };

  const basic = (address: string, password: string, headers: Record<string, string> = {}) =>
    w.app.inject({
      method: 'GET',
      url: '/auth/basic',
      headers: { authorization: `Basic ${Buffer.from(`${address}:${password}`).toString('base64')}`, ...headers },
    });
  const mail = (body: object, headers: Record<string, string> = { authorization: `Bearer ${key}` }) =>
    w.app.inject({ method: 'POST', url: '/auth/mail', headers, payload: body });
  const reasons = async (ip: string) => {
    await w.ctx.flush();
    return (
      await w.ctx.store.db
        .selectFrom('sign_in_events')
        .select(['reason'])
        .where('ip', '=', ip)
        // Legacy attempts only: the admin's API sign-in is from 127.0.0.1 too.
        .where('protocol', 'not in', ['web', 'api'])
        .orderBy('at')
        .execute()
    ).map((r) => r.reason);
  };

  before(async () => {
    // No trusted proxy: X-Forwarded-For is not believed from anyone.
    w = await makeWorld('sqlite', { accountFailureLimit: 5, ipFailureLimit: 1000 });
    key = (await w.ctx.integrations.add('dovecot')).key;
    adminToken = await adminApiToken(w.app, ADMIN);
    await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enforced');
    user = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
    office = (
      await w.ctx.locations.create(OPERATOR, user.orgId, { name: 'Office', networks: ['192.0.2.0/24'], countries: [] })
    ).id;
    const fabrikam = (await w.ctx.accounts.organizationByDomain('fabrikam.test')).id;
    foreignLocation = (
      await w.ctx.locations.create(OPERATOR, fabrikam, {
        name: 'Everywhere',
        networks: ['0.0.0.0/0', '::/0'],
        countries: [],
      })
    ).id;
    foreignGroup = (await w.ctx.groups.create(OPERATOR, fabrikam, 'Fabrikam staff')).id;
    const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, Date.now()))
      .session;
    const made = await w.ctx.appPasswords.create(user, s, 'Phone', { ip: '127.0.0.1', locale: 'en' });
    phone = made.password;
    phoneId = made.appPassword.id;
    await w.ctx.accounts.addUser(OPERATOR, { address: CAROL.address, role: 'user', password: CAROL.password });
    await w.ctx.mfaAdmin.setUserState(OPERATOR, CAROL.address, 'disabled');
    await w.ctx.locations.setRules(OPERATOR, user.orgId, [
      { protocol: 'http', mode: 'locations', locationIds: [office] },
      { protocol: 'imap', mode: 'locations', locationIds: [office] },
    ]);
  });
  after(() => w.close());

  it('X-Forwarded-For naming the office, from a peer that is no trusted proxy, is not believed', async () => {
    const r = await basic(USER.address, phone, { 'x-forwarded-for': '192.0.2.5' });
    assert.equal(r.statusCode, 401);
    assert.deepEqual(await reasons('127.0.0.1'), ['location_not_allowed'], 'judged by the peer, 127.0.0.1');
    assert.deepEqual(await reasons('192.0.2.5'), [], 'the claimed address is in no row');
  });

  it('a remoteIp claimed without a registered integration’s key checks nothing', async () => {
    for (const headers of [{}, { authorization: 'Bearer not-a-key' }] as Record<string, string>[]) {
      const r = await mail({ user: USER.address, password: phone, service: 'imap', remoteIp: '192.0.2.5' }, headers);
      assert.equal(r.statusCode, 401);
    }
    assert.deepEqual(await reasons('192.0.2.5'), []);
    assert.equal(
      (await mail({ user: USER.address, password: phone, service: 'imap', remoteIp: '192.0.2.5' })).statusCode,
      200,
      'the same from the integration',
    );
  });

  it("another organization's location or group cannot be named in a rule or a pin, and nothing changes", async () => {
    const before = await w.ctx.locations.rules(OPERATOR, user.orgId);
    const put = (rules: object[]) =>
      w.app.inject({
        method: 'PUT',
        url: '/api/v1/location-rules',
        headers: { authorization: `Bearer ${adminToken}` },
        payload: { rules },
      });
    const viaLocation = await put([{ protocol: 'imap', mode: 'locations', locations: [foreignLocation] }]);
    assert.equal(viaLocation.statusCode, 404);
    assert.equal(viaLocation.json().error.code, 'location_not_found');
    const viaGroup = await put([{ protocol: 'imap', group: foreignGroup, mode: 'anywhere' }]);
    assert.equal(viaGroup.statusCode, 400);
    assert.equal(viaGroup.json().error.code, 'location_rule_invalid');
    assert.deepEqual(await w.ctx.locations.rules(OPERATOR, user.orgId), before);
    const token = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, Date.now()))
      .token;
    const pin = await w.app.inject({
      method: 'PUT',
      url: `/api/v1/me/app-passwords/${phoneId}/pin`,
      headers: { authorization: `Bearer ${token}` },
      payload: { pin: { locations: [foreignLocation] } },
    });
    assert.equal(pin.statusCode, 404);
    assert.equal(pin.json().error.code, 'location_not_found');
    assert.equal((await w.ctx.appPasswords.list(user)).find((p) => p.id === phoneId)?.pin, null);
    const otherAdmin = await adminApiToken(w.app, OTHER_ADMIN);
    const cross = await w.app.inject({
      method: 'PUT',
      url: `/api/v1/users/${encodeURIComponent(USER.address)}/app-passwords/${phoneId}/pin`,
      headers: { authorization: `Bearer ${otherAdmin}` },
      payload: { pin: { network: '0.0.0.0/0' } },
    });
    assert.equal(cross.statusCode, 403);
    assert.equal((await w.ctx.appPasswords.list(user)).find((p) => p.id === phoneId)?.pin, null);
  });

  it('widening a pin with a stale session needs the proof first; the API says so and changes nothing', async () => {
    const s = await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, null);
    const put = (pin: object | null) =>
      w.app.inject({
        method: 'PUT',
        url: `/api/v1/me/app-passwords/${phoneId}/pin`,
        headers: { authorization: `Bearer ${s.token}` },
        payload: { pin },
      });
    const narrow = await put({ network: '192.0.2.7' });
    assert.equal(narrow.statusCode, 200, `narrowing needs nothing more: ${narrow.body}`);
    const widen = await put(null);
    assert.equal(widen.statusCode, 403, widen.body);
    assert.match(widen.json().error.code, /fresh_mfa_required|password_reauth_required/);
    assert.deepEqual((await w.ctx.appPasswords.list(user)).find((p) => p.id === phoneId)?.pin, {
      locationIds: [],
      network: '192.0.2.7/32',
    });
  });

  it('the main password from a refused place is refused, and a phone retrying it from there locks nothing', async () => {
    // Carol's MFA is off: her main password is accepted on IMAP, but only from the office.
    const ask = (password: string, ip: string) =>
      mail({ user: CAROL.address, password, service: 'imap', remoteIp: ip });
    assert.equal((await ask(CAROL.password, '192.0.2.9')).statusCode, 200);
    const refused = await ask(CAROL.password, '203.0.113.9');
    assert.notEqual(refused.statusCode, 200);
    assert.deepEqual(await reasons('203.0.113.9'), ['location_not_allowed']);
    // A phone that keeps trying from abroad: past the account's limit (5), the right password
    // locks nothing (counted once a day, as any refusal of a right main password).
    for (let i = 0; i < 8; i++) assert.notEqual((await ask(CAROL.password, '203.0.113.9')).statusCode, 200);
    assert.equal((await ask(CAROL.password, '192.0.2.9')).statusCode, 200, 'and still works from the office');
  });
});
