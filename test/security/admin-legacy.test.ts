/**
 * Admins are protected by default (#15, item 2): an admin is created with MFA `enforced`, whatever
 * the organization's default, and an admin's main password never works on a mail protocol, even
 * after their MFA state was set to something else; a plain user's still follows their state. On
 * both stores, through /auth/basic and /auth/mail as Dovecot and the proxies ask.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { STORE_KINDS } from '../support/stores.js';
import { ADMIN, makeWorld, USER, type World } from '../support/world.js';

for (const kind of STORE_KINDS) {
  describe(`admins on mail protocols, on ${kind}`, () => {
    let w: World;
    let key = '';
    before(async () => {
      w = await makeWorld(kind);
      key = (await w.ctx.integrations.add('dovecot')).key;
    });
    after(async () => w?.close());

    const basic = async (address: string, password: string) =>
      (
        await w.app.inject({
          method: 'GET',
          url: '/auth/basic',
          headers: { authorization: `Basic ${Buffer.from(`${address}:${password}`).toString('base64')}` },
        })
      ).statusCode;
    const mail = async (address: string, password: string) =>
      await w.app.inject({
        method: 'POST',
        url: '/auth/mail',
        headers: { authorization: `Bearer ${key}` },
        payload: { user: address, password, service: 'imap', remoteIp: '203.0.113.7' },
      });

    it('creates admins with MFA enforced whatever the organization default is', async () => {
      const org = await w.ctx.accounts.organizationByDomain('contoso.test');
      assert.equal((await w.ctx.mfaAdmin.getPolicy(OPERATOR, org.id)).mfaDefault, 'disabled');
      const ada = await w.ctx.accounts.findUserByAddressOrNull(ADMIN.address);
      const bob = await w.ctx.accounts.findUserByAddressOrNull(USER.address);
      assert.equal(ada?.mfaState, 'enforced', 'the admin');
      assert.equal(bob?.mfaState, 'disabled', 'a plain user gets the default');
      const added = await w.ctx.accounts.addUser(OPERATOR, {
        address: 'second-admin@contoso.test',
        password: 'granite-willow-ember-61',
        role: 'admin',
      });
      assert.equal(added.mfaState, 'enforced');
    });

    it("refuses an admin's main password on mail protocols, even after their MFA state is set lower", async () => {
      assert.equal(await basic(USER.address, USER.password), 200, "control: a plain user's, MFA off, works");
      assert.equal(await basic(ADMIN.address, ADMIN.password), 401);
      await w.ctx.mfaAdmin.setUserState(OPERATOR, ADMIN.address, 'disabled');
      assert.equal(await basic(ADMIN.address, ADMIN.password), 401, 'MFA off does not open it');
      const r = await mail(ADMIN.address, ADMIN.password);
      assert.equal(r.statusCode, 403, r.body);
      assert.equal((await mail(USER.address, USER.password)).statusCode, 200, "control: the plain user's on IMAP");
      await w.ctx.flush();
      const rows = await w.ctx.store.db
        .selectFrom('sign_in_events')
        .select(['outcome', 'reason'])
        .where('address_typed', '=', ADMIN.address)
        .execute();
      // Refused as such the first time (later repeats of the same refused password are answered without a hash).
      assert.equal(rows[0]?.reason, 'main_password_refused');
      assert.ok(
        rows.every((x) => x.outcome !== 'success'),
        rows.map((x) => x.reason).join(','),
      );
    });
  });
}
