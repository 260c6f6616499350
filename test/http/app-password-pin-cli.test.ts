/**
 * `sesame app-passwords pin` and `list` in-process against a world's store, on both stores (issue
 * #20, item 2): the operator pins a user's app password (a scanner handed out) to a named location
 * and one address, which /auth/mail then enforces; `list` shows the pin; `--none` unpins; a bad
 * network or an unknown location is refused (exit 1) and changes nothing; wrong usage exits 2.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { User } from '../../src/domain/accounts/model.js';
import { cliFor } from '../support/cli-in-process.js';
import { STORE_KINDS } from '../support/stores.js';
import { makeWorld, USER, type World } from '../support/world.js';

for (const kind of STORE_KINDS) {
  describe(`sesame app-passwords pin on ${kind}`, () => {
    let w: World;
    let user: User;
    let key = '';
    let secret = '';
    let id = '';
    const { run, out, err } = cliFor('app-passwords', () => w);
    const mail = (ip: string) =>
      w.app.inject({
        method: 'POST',
        url: '/auth/mail',
        headers: { authorization: `Bearer ${key}` },
        payload: { user: USER.address, password: secret, service: 'smtp', remoteIp: ip },
      });
    const pinNow = async () => (await w.ctx.appPasswords.list(user)).find((p) => p.id === id)?.pin ?? null;

    before(async () => {
      w = await makeWorld(kind);
      key = (await w.ctx.integrations.add('dovecot')).key;
      await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enforced');
      user = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
      await w.ctx.locations.create(OPERATOR, user.orgId, {
        name: 'Print room',
        networks: ['10.0.5.0/24'],
        countries: [],
      });
      const made = await w.ctx.appPasswords.create(user, null, 'Scanner', { ip: '127.0.0.1', locale: 'en' });
      secret = made.password;
      id = made.appPassword.id;
    });
    after(() => w.close());

    it('pins to a location and one address, shown by list and enforced; --none unpins', async () => {
      assert.equal(
        await run('pin', USER.address, id, '--location', 'print room', '--network', '10.0.4.17'),
        0,
        err.join('\n'),
      );
      assert.deepEqual(out, [
        `app password "Scanner" of ${USER.address} may be used only from print room, 10.0.4.17/32`,
      ]);
      assert.equal((await mail('10.0.4.17')).statusCode, 200);
      assert.equal((await mail('10.0.5.9')).statusCode, 200);
      assert.equal((await mail('10.0.6.1')).statusCode, 403);
      assert.equal(await run('list', USER.address), 0);
      assert.match(out.join('\n'), /"Scanner" .* pinned Print room,10\.0\.4\.17\/32$/m);
      assert.equal(await run('pin', USER.address, id, '--none'), 0);
      assert.equal(await pinNow(), null);
      assert.equal((await mail('10.0.6.1')).statusCode, 200);
    });

    it('refuses a bad network or an unknown location (exit 1, nothing changed); wrong usage exits 2', async () => {
      assert.equal(await run('pin', USER.address, id, '--network', '10.0.4.17'), 0);
      const before = await pinNow();
      assert.equal(await run('pin', USER.address, id, '--network', '10.0.4.17/24'), 1);
      assert.match(err.join('\n'), /10\.0\.4\.17\/24/);
      assert.equal(await run('pin', USER.address, id, '--location', 'Basement'), 1);
      assert.deepEqual(await pinNow(), before);
      assert.equal(await run('pin', USER.address, id), 2);
      assert.equal(await run('pin', USER.address, id, '--none', '--network', '10.0.0.1'), 2);
      assert.equal(await run('pin', USER.address), 2);
      assert.deepEqual(await pinNow(), before);
    });
  });
}
