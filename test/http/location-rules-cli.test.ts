/**
 * `sesame location rules` and `sesame location rule` in-process against a world's store, on both
 * stores (issue #20, item 2): no rules at first; a rule only from two locations (by name, any
 * case), never, and a group's own rule with --group, each listed with names (locations in name
 * order) and applied at /auth/mail; "anywhere" for everyone removes the rule; a location, a group
 * or a protocol that does not exist is refused (exit 1, the code named) and changes nothing; wrong
 * usage exits 2. The same commands are the examples of docs/admin-guide.md ("Named locations").
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { cliFor } from '../support/cli-in-process.js';
import { STORE_KINDS } from '../support/stores.js';
import { makeWorld, USER, type World } from '../support/world.js';

for (const kind of STORE_KINDS) {
  describe(`sesame location rules on ${kind}`, () => {
    let w: World;
    let org = '';
    let key = '';
    let phone = '';
    const location = cliFor('location', () => w);
    const group = cliFor('group', () => w);
    const mail = (ip: string, service = 'imap') =>
      w.app.inject({
        method: 'POST',
        url: '/auth/mail',
        headers: { authorization: `Bearer ${key}` },
        payload: { user: USER.address, password: phone, service, remoteIp: ip },
      });
    const listed = async () => {
      assert.equal(await location.run('rules', 'contoso.test'), 0);
      return [...location.out];
    };

    before(async () => {
      w = await makeWorld(kind);
      org = (await w.ctx.accounts.organizationByDomain('contoso.test')).id;
      key = (await w.ctx.integrations.add('dovecot')).key;
      await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enforced');
      const user = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
      await w.ctx.mfaAdmin.setPolicy(OPERATOR, org, { appPasswords: { protocols: ['imap', 'smtp'] } });
      const s = (await w.ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 't' }, Date.now()))
        .session;
      phone = (await w.ctx.appPasswords.create(user, s, 'Phone', { ip: '127.0.0.1', locale: 'en' })).password;
    });
    after(() => w.close());

    it('rules: listed by name, applied, removed; refusals change nothing', async () => {
      assert.deepEqual(await listed(), ['organization contoso.test: no location rules (every protocol from anywhere)']);
      assert.equal(await location.run('add', 'contoso.test', 'Office', '--network', '192.0.2.0/24'), 0);
      assert.equal(await location.run('add', 'contoso.test', 'Home', '--network', '198.51.100.0/24'), 0);
      assert.equal(await group.run('add', 'contoso.test', 'Travel'), 0);
      assert.equal(await group.run('add-member', 'contoso.test', 'Travel', USER.address), 0);

      assert.equal(await location.run('rule', 'contoso.test', 'imap', 'office,Home'), 0);
      assert.deepEqual(location.out, ['organization contoso.test: 1 location rules; imap only from office,Home']);
      assert.equal(await location.run('rule', 'contoso.test', 'smtp', 'never'), 0);
      assert.deepEqual(location.out, ['organization contoso.test: 2 location rules; smtp never']);
      assert.equal((await mail('192.0.2.40')).statusCode, 200, 'IMAP from the office');
      assert.equal((await mail('203.0.113.5')).statusCode, 403, 'IMAP from elsewhere');
      assert.equal((await mail('192.0.2.40', 'smtp')).statusCode, 403, 'SMTP never');

      assert.equal(await location.run('rule', 'contoso.test', 'imap', 'anywhere', '--group', 'travel'), 0);
      assert.deepEqual(location.out, ['organization contoso.test: 3 location rules; imap for travel anywhere']);
      assert.deepEqual(await listed(), [
        'imap\teveryone\tHome,Office',
        'imap\tTravel\tanywhere',
        'smtp\teveryone\tnever',
      ]);
      assert.equal((await mail('203.0.113.5')).statusCode, 200, "the group's rule for its member");

      const before = await listed();
      for (const [args, code] of [
        [['imap', 'Office,Nowhere'], /location_not_found/],
        [['imap', 'never', '--group', 'Nope'], /group_not_found/],
        [['gopher', 'never'], /location_rule_invalid/],
      ] as const) {
        assert.equal(await location.run('rule', 'contoso.test', ...args), 1, args.join(' '));
        assert.match(location.err.join('\n'), code, args.join(' '));
      }
      assert.deepEqual(await listed(), before, 'nothing changed');

      // "anywhere" for everyone is what no rule means: the rule goes.
      assert.equal(await location.run('rule', 'contoso.test', 'smtp', 'anywhere'), 0);
      assert.deepEqual(location.out, ['organization contoso.test: 2 location rules; smtp anywhere']);
      assert.equal((await mail('203.0.113.5', 'smtp')).statusCode, 200, 'SMTP from anywhere again');
      // A location a rule uses cannot be deleted.
      assert.equal(await location.run('remove', 'contoso.test', 'Home'), 1);
      assert.match(location.err.join('\n'), /location_in_use/);
      assert.deepEqual(await listed(), ['imap\teveryone\tHome,Office', 'imap\tTravel\tanywhere']);
    });

    it('wrong usage exits 2', async () => {
      assert.equal(await location.run('rule', 'contoso.test', 'imap'), 2);
      assert.equal(await location.run('rules'), 2);
    });
  });
}
