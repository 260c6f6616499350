/**
 * POST /auth/radius, FreeRADIUS's rlm_rest (issue #19, item 3), through inject() on each store:
 * the integration key; rlm_rest's JSON attributes; 204 for a radius app password and 401 for every
 * refusal (another protocol's app password, a wrong password, the main password once MFA is
 * enforced, hostile bodies); the sign-in log's protocol, client address (an IP Calling-Station-Id,
 * else the NAS's, else the caller) and the access point and device; and the same account lockout
 * as the mail protocols. That a real FreeRADIUS asks it so: test/e2e/integrations-radius.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { User } from '../../src/domain/accounts/model.js';
import { STORE_KINDS } from '../support/stores.js';
import { makeWorld, USER, type World } from '../support/world.js';

/** rlm_rest's `body = 'json'`: each attribute with its type and values. */
const attrs = (a: Record<string, string>) =>
  Object.fromEntries(
    Object.entries(a).map(([k, v]) => [k, { type: k.endsWith('IP-Address') ? 'ipaddr' : 'string', value: [v] }]),
  );

const CAROL = { address: 'carol@contoso.test', password: 'lantern-orchard-violet-31' };

for (const kind of STORE_KINDS) {
  describe(`POST /auth/radius (${kind})`, () => {
    let w: World;
    let key = '';
    let user: User;
    let radiusPw = '';
    let imapPw = '';
    const radius = (body: unknown, headers: Record<string, string> = { authorization: `Bearer ${key}` }) =>
      w.app.inject({
        method: 'POST',
        url: '/auth/radius',
        headers: { 'content-type': 'application/json', ...headers },
        payload: typeof body === 'string' ? body : JSON.stringify(body),
      });
    const rows = async () => {
      await w.ctx.flush();
      return w.ctx.store.db
        .selectFrom('sign_in_events')
        .select(['address_typed', 'protocol', 'outcome', 'reason', 'ip', 'user_agent', 'attempts'])
        .orderBy('at')
        .execute();
    };

    before(async () => {
      w = await makeWorld(kind, { accountFailureLimit: 3, ipFailureLimit: 1000 });
      key = (await w.ctx.integrations.add('freeradius')).key;
      await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enforced');
      user = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
      const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, Date.now()))
        .session;
      await w.ctx.mfaAdmin.setPolicy(OPERATOR, user.orgId, { appPasswords: { protocols: ['radius'] } });
      radiusPw = (await w.ctx.appPasswords.create(user, s, 'Wi-Fi', { ip: '127.0.0.1', locale: 'en' })).password;
      await w.ctx.mfaAdmin.setPolicy(OPERATOR, user.orgId, { appPasswords: { protocols: ['imap'] } });
      imapPw = (await w.ctx.appPasswords.create(user, s, 'Mail', { ip: '127.0.0.1', locale: 'en' })).password;
      await w.ctx.mfaAdmin.setPolicy(OPERATOR, user.orgId, { appPasswords: { protocols: ['imap', 'radius'] } });
      await w.ctx.accounts.addUser(OPERATOR, { address: CAROL.address, role: 'user', password: CAROL.password });
      await w.ctx.mfaAdmin.setUserState(OPERATOR, CAROL.address, 'disabled');
    });
    after(async () => {
      await w.close();
    });

    it('answers only a registered integration: 401 without its key, nothing checked or logged', async () => {
      const before = (await rows()).length;
      for (const headers of [
        {},
        { authorization: 'Bearer nope' },
        { authorization: `Bearer ${key.slice(0, -1)}x` },
      ] as Record<string, string>[]) {
        const r = await radius(attrs({ 'User-Name': USER.address, 'User-Password': radiusPw }), headers);
        assert.equal(r.statusCode, 401);
        assert.match(String(r.headers['www-authenticate']), /^Bearer /);
      }
      assert.equal((await rows()).length, before);
    });

    it('204 for a radius app password; the client IP is an IP Calling-Station-Id, else the NAS, else the caller', async () => {
      const cases: [Record<string, string>, string][] = [
        [
          { 'NAS-IP-Address': '192.0.2.1', 'Calling-Station-Id': '198.51.100.7', 'NAS-Identifier': 'vpn-gw' },
          '198.51.100.7',
        ],
        [{ 'NAS-IP-Address': '192.0.2.2', 'Calling-Station-Id': 'AA-BB-CC-DD-EE-FF' }, '192.0.2.2'],
        [{ 'NAS-IPv6-Address': '2001:db8::2' }, '2001:db8::2'],
        [{}, '127.0.0.1'],
      ];
      for (const [extra] of cases) {
        const r = await radius(attrs({ 'User-Name': USER.address, 'User-Password': radiusPw, ...extra }));
        assert.equal(r.statusCode, 204, r.body);
        assert.equal(r.body, '', 'rlm_rest reads no attributes from a 204');
      }
      const ok = (await rows()).filter((e) => e.protocol === 'radius' && e.outcome === 'success');
      assert.deepEqual(
        ok.map((e) => e.ip),
        cases.map((c) => c[1]),
      );
      assert.equal(ok[0]!.user_agent, 'RADIUS; NAS vpn-gw; station 198.51.100.7');
      assert.equal(ok[1]!.user_agent, 'RADIUS; station AA-BB-CC-DD-EE-FF');
    });

    it('401 for an IMAP-only app password, a wrong password and the main password once MFA is enforced; 204 for the main password with MFA off', async () => {
      const ask = async (address: string, password: string) =>
        (await radius(attrs({ 'User-Name': address, 'User-Password': password, 'Calling-Station-Id': '203.0.113.40' })))
          .statusCode;
      assert.equal(await ask(USER.address, imapPw), 401);
      assert.equal(await ask(USER.address, 'not the password at all'), 401);
      assert.equal(await ask(USER.address, USER.password), 401);
      assert.equal(await ask(CAROL.address, CAROL.password), 204);
      const logged = (await rows()).filter((e) => e.ip === '203.0.113.40');
      assert.deepEqual(
        logged.map((e) => [e.address_typed, e.protocol, e.outcome, e.reason]),
        [
          [USER.address, 'radius', 'failure', 'protocol_not_allowed'],
          [USER.address, 'radius', 'failure', 'wrong_password'],
          [USER.address, 'radius', 'failure', 'main_password_refused'],
          [CAROL.address, 'radius', 'success', 'ok'],
        ],
      );
    });

    it('hostile or malformed bodies: 401 (or 400 for what Fastify does not parse), never a 5xx, and logged as invalid input', async () => {
      const bodies: unknown[] = [
        {},
        { 'User-Name': { value: [1] }, 'User-Password': { value: ['x'] } },
        { 'User-Name': { value: USER.address }, 'User-Password': {} },
        { __proto__: { 'User-Name': USER.address }, constructor: { value: ['x'] } },
        [1, 2, 3],
        { 'User-Name': { value: [USER.address] }, 'User-Password': { value: ['a\u0000b'] } },
        { 'User-Name': { value: ['x'.repeat(400)] }, 'User-Password': { value: ['y'] } },
      ];
      for (const b of bodies) {
        const r = await radius(b);
        assert.equal(r.statusCode, 401, `${JSON.stringify(b)}: ${r.statusCode} ${r.body}`);
      }
      // Fastify's JSON parser refuses these before the route (a __proto__ key too).
      for (const b of ['{"User-Name":', '{"__proto__":{"value":["a@b.c"]},"User-Password":{"value":["x"]}}'])
        assert.equal((await radius(b)).statusCode, 400, b);
      const invalid = (await rows()).filter((e) => e.reason === 'invalid_input');
      assert.ok(invalid.length >= 1 && invalid.every((e) => e.protocol === 'radius'));
    });

    it('the account lockout of the other protocols: locked by wrong passwords on IMAP, refused on RADIUS too', async () => {
      const ip = '203.0.113.77';
      const integration = `Bearer ${key}`;
      for (const password of ['wrong-one-1', 'wrong-two-2', 'wrong-three-3', 'wrong-four-4'])
        await w.app.inject({
          method: 'POST',
          url: '/auth/mail',
          headers: { authorization: integration },
          payload: { user: CAROL.address, password, service: 'imap', remoteIp: ip },
        });
      const r = await radius(
        attrs({ 'User-Name': CAROL.address, 'User-Password': CAROL.password, 'Calling-Station-Id': ip }),
      );
      assert.equal(r.statusCode, 401, 'the right main password is refused while the account is locked');
      const last = (await rows()).filter((e) => e.address_typed === CAROL.address && e.protocol === 'radius').at(-1)!;
      assert.equal(last.outcome, 'throttled');
      assert.match(last.reason, /^account_locked/);
    });

    it('a group required for RADIUS (#19, item 1): a non-member is refused (not_in_group), with an app password or a main password, until added', async () => {
      const orgId = user.orgId;
      const wifi = await w.ctx.groups.create(OPERATOR, orgId, 'Wi-Fi users');
      await w.ctx.groups.setLimit(OPERATOR, orgId, 'radius', wifi.id);
      try {
        const ap = await radius(attrs({ 'User-Name': USER.address, 'User-Password': radiusPw }));
        assert.equal(ap.statusCode, 401);
        // Carol's MFA is off, so her main password is accepted on legacy protocols, but not outside the group.
        const main = await radius(attrs({ 'User-Name': CAROL.address, 'User-Password': CAROL.password }));
        assert.equal(main.statusCode, 401);
        const refused = (await rows()).filter((r) => r.reason === 'not_in_group' && r.protocol === 'radius');
        assert.deepEqual(refused.map((r) => r.address_typed).sort(), [CAROL.address, USER.address].sort());
        await w.ctx.groups.addMember(OPERATOR, orgId, wifi.id, USER.address);
        await w.ctx.groups.addMember(OPERATOR, orgId, wifi.id, CAROL.address);
        assert.equal((await radius(attrs({ 'User-Name': USER.address, 'User-Password': radiusPw }))).statusCode, 204);
        assert.equal(
          (await radius(attrs({ 'User-Name': CAROL.address, 'User-Password': CAROL.password }))).statusCode,
          204,
        );
      } finally {
        await w.ctx.groups.setLimit(OPERATOR, orgId, 'radius', null);
      }
    });
  });
}
