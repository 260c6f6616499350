/**
 * Groups at the domain edge, on both stores (issue #19, item 1): names unique per organization
 * whatever their case, members only of the group's organization, a group a limit requires cannot
 * be deleted, every change audited; `mayUse` for LDAP and RADIUS; and app passwords limited to a
 * group: the mail servers' check refuses a non-member's app password (`not_in_group` in the
 * sign-in log) from the next attempt after the removal, and creating one is refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { User } from '../../src/domain/accounts/model.js';
import { isSesameError } from '../../src/domain/errors.js';
import { STORE_KINDS } from '../support/stores.js';
import { ADMIN, FakeClock, makeWorld, OTHER_ADMIN, USER, type World } from '../support/world.js';

const code = (e: unknown) => (isSesameError(e) ? e.code : String(e));

for (const kind of STORE_KINDS) {
  describe(`groups on ${kind}`, () => {
    let w: World;
    const clock = new FakeClock(Date.UTC(2026, 11, 9, 8, 0, 0));
    let bob: User;
    let ada: User;
    let contoso: string;
    let fabrikam: string;
    const adminOf = (u: User) => ({ kind: 'user' as const, user: u, amr: ['pwd', 'otp'] });

    before(async () => {
      w = await makeWorld(kind, {}, { clock });
      bob = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
      ada = (await w.ctx.accounts.findUserByAddressOrNull(ADMIN.address))!;
      contoso = bob.orgId;
      fabrikam = (await w.ctx.accounts.organizationByDomain('fabrikam.test')).id;
    });
    after(() => w.close());

    it('creates groups with names unique per organization whatever the case, and lists them with member counts', async () => {
      const g = await w.ctx.groups.create(OPERATOR, contoso, '  Staff  ', 'Everyone who works here');
      assert.equal(g.name, 'Staff');
      await assert.rejects(w.ctx.groups.create(OPERATOR, contoso, 'STAFF'), (e) => code(e) === 'group_exists');
      // Another organization may have its own "Staff".
      await w.ctx.groups.create(OPERATOR, fabrikam, 'staff');
      for (const bad of ['', ' ', 'a,b', 'x\u0007', 'y'.repeat(101)])
        await assert.rejects(w.ctx.groups.create(OPERATOR, contoso, bad), (e) => code(e) === 'invalid_name', bad);
      await w.ctx.groups.addMember(OPERATOR, contoso, g.id, 'BOB@contoso.test');
      await w.ctx.groups.addMember(OPERATOR, contoso, g.id, USER.address); // twice: no change
      const list = await w.ctx.groups.list(OPERATOR, contoso);
      assert.deepEqual(
        list.map((x) => [x.name, x.members]),
        [['Staff', 1]],
      );
      assert.deepEqual(
        (await w.ctx.groups.groupsOf(OPERATOR, bob)).map((x) => x.name),
        ['Staff'],
      );
      const renamed = await w.ctx.groups.update(OPERATOR, contoso, g.id, 'staff', 'renamed by case');
      assert.equal(renamed.name, 'staff', 'its own name in another case is no clash');
    });

    it('refuses members of another organization, and admins of another organization', async () => {
      const g = await w.ctx.groups.byName(OPERATOR, contoso, 'STAFF');
      await assert.rejects(
        w.ctx.groups.addMember(OPERATOR, contoso, g.id, OTHER_ADMIN.address),
        (e) => code(e) === 'group_wrong_organization',
      );
      await assert.rejects(
        w.ctx.groups.addMember(OPERATOR, contoso, g.id, 'nobody@fabrikam.test'),
        (e) => code(e) === 'group_wrong_organization',
        'an unknown address elsewhere is refused alike',
      );
      await assert.rejects(
        w.ctx.groups.addMember(OPERATOR, contoso, g.id, 'nobody@contoso.test'),
        (e) => code(e) === 'user_not_found',
      );
      const eve = (await w.ctx.accounts.findUserByAddressOrNull(OTHER_ADMIN.address))!;
      await assert.rejects(w.ctx.groups.list(adminOf(eve), contoso), (e) => code(e) === 'forbidden');
      // Eve asking about contoso's group through her own organization: not found, nothing leaks.
      await assert.rejects(w.ctx.groups.get(adminOf(eve), fabrikam, g.id), (e) => code(e) === 'group_not_found');
      await assert.rejects(
        w.ctx.groups.removeMember(adminOf(eve), fabrikam, g.id, USER.address),
        (e) => code(e) === 'group_not_found',
      );
      await assert.rejects(
        w.ctx.groups.list({ kind: 'user', user: ada }, contoso),
        (e) => code(e) === 'admin_mfa_required',
      );
    });

    it('mayUse: everyone without a limit; only members with one, read at each call', async () => {
      const g = await w.ctx.groups.byName(OPERATOR, contoso, 'staff');
      assert.equal(await w.ctx.groups.mayUse(ada, 'ldap'), true);
      await w.ctx.groups.setLimit(OPERATOR, contoso, 'ldap', g.id);
      await w.ctx.groups.setLimit(OPERATOR, contoso, 'radius', g.id);
      assert.equal(await w.ctx.groups.mayUse(bob, 'ldap'), true);
      assert.equal(await w.ctx.groups.mayUse(ada, 'ldap'), false);
      assert.equal(await w.ctx.groups.mayUse(ada, 'app_passwords'), true, 'other uses are not limited');
      await w.ctx.groups.removeMember(OPERATOR, contoso, g.id, USER.address);
      assert.equal(await w.ctx.groups.mayUse(bob, 'radius'), false, 'removed: refused at the next call');
      await w.ctx.groups.addMember(OPERATOR, contoso, g.id, USER.address);
      assert.equal(await w.ctx.groups.mayUse(bob, 'radius'), true);
      await assert.rejects(w.ctx.groups.setLimit(OPERATOR, contoso, 'smtp', g.id), (e) => code(e) === 'invalid_input');
      const other = await w.ctx.groups.byName(OPERATOR, fabrikam, 'staff');
      await assert.rejects(
        w.ctx.groups.setLimit(OPERATOR, contoso, 'ldap', other.id),
        (e) => code(e) === 'group_not_found',
        "another organization's group cannot be required",
      );
    });

    it('refuses to delete a group a limit requires, naming the use; deletes it once free, with its memberships', async () => {
      const g = await w.ctx.groups.byName(OPERATOR, contoso, 'staff');
      await assert.rejects(w.ctx.groups.remove(OPERATOR, contoso, g.id), (e) => {
        assert.equal(code(e), 'group_in_use');
        assert.match(isSesameError(e) ? String(e.params.uses) : '', /ldap, radius/);
        return true;
      });
      await w.ctx.groups.setLimit(OPERATOR, contoso, 'ldap', null);
      await w.ctx.groups.setLimit(OPERATOR, contoso, 'radius', null);
      await w.ctx.groups.remove(OPERATOR, contoso, g.id);
      assert.deepEqual(await w.ctx.groups.list(OPERATOR, contoso), []);
      assert.deepEqual(await w.ctx.groups.groupsOf(OPERATOR, bob), []);
      const rows = await w.ctx.store.db.selectFrom('group_members').selectAll().execute();
      assert.equal(rows.length, 0);
    });

    it('audits every change', async () => {
      const actions = (
        await w.ctx.store.db
          .selectFrom('audit_events')
          .select('action')
          .where('action', 'like', 'group.%')
          .where('org_id', '=', contoso)
          .execute()
      ).map((r) => r.action);
      for (const a of [
        'group.create',
        'group.update',
        'group.member_add',
        'group.member_remove',
        'group.limit',
        'group.delete',
      ])
        assert.ok(actions.includes(a), `${a} in ${actions.join(' ')}`);
    });

    it('app passwords: a non-member cannot create one, and the mail servers refuse a member removed from the group at the next attempt', async () => {
      await w.ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enabled');
      bob = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
      const g = await w.ctx.groups.create(OPERATOR, contoso, 'Mail apps');
      await w.ctx.groups.addMember(OPERATOR, contoso, g.id, USER.address);
      await w.ctx.groups.setLimit(OPERATOR, contoso, 'app_passwords', g.id);
      const password = (await w.ctx.appPasswords.create(bob, null, 'Printer', { ip: '127.0.0.1', locale: 'en' }))
        .password;
      const check = () => w.ctx.legacy.verify({ user: USER.address, password, protocol: 'imap', ip: '192.0.2.7' });
      assert.equal((await check()).outcome, 'ok');

      await w.ctx.groups.removeMember(OPERATOR, contoso, g.id, USER.address);
      const refused = await check();
      assert.equal(refused.outcome, 'refused');
      assert.equal(refused.reason, 'not_in_group');
      assert.equal(await w.ctx.appPasswords.canCreate(bob), false);
      await assert.rejects(
        w.ctx.appPasswords.create(bob, null, 'Scanner', { ip: '127.0.0.1', locale: 'en' }),
        (e) => isSesameError(e) && e.code === 'app_passwords_off' && e.messageId === 'error.app_passwords_off.group',
      );
      await new Promise((r) => setTimeout(r, 100));
      await w.ctx.flush();
      const { events } = await w.ctx.audit.listSignIns({ orgId: contoso, userId: bob.id, limit: 10, offset: 0 });
      assert.ok(
        events.some((e) => e.reason === 'not_in_group' && e.outcome === 'failure'),
        JSON.stringify(events.map((e) => [e.outcome, e.reason])),
      );

      // Back in the group: accepted again; no limit at all: accepted whatever the membership.
      await w.ctx.groups.addMember(OPERATOR, contoso, g.id, USER.address);
      assert.equal((await check()).outcome, 'ok');
      await w.ctx.groups.removeMember(OPERATOR, contoso, g.id, USER.address);
      await w.ctx.groups.setLimit(OPERATOR, contoso, 'app_passwords', null);
      assert.equal((await check()).outcome, 'ok');
    });

    it('imports memberships all or nothing: a preview lists every problem, and nothing changes until none is left', async () => {
      const g = await w.ctx.groups.create(OPERATOR, contoso, 'Printers');
      const rows = [
        { row: 2, address: USER.address, group: 'printers' },
        { row: 3, address: ADMIN.address, group: 'Printers' },
        { row: 4, address: OTHER_ADMIN.address, group: 'Printers' },
        { row: 5, address: 'nobody@contoso.test', group: 'Printers' },
        { row: 6, address: USER.address, group: 'Nope' },
        { row: 7, address: 'not an address', group: 'Printers' },
      ];
      const bad = await w.ctx.groups.importMembers(OPERATOR, contoso, rows, true);
      assert.equal(bad.applied, false);
      assert.deepEqual(
        bad.problems.map((p) => [p.row, p.problem]),
        [
          [4, 'wrong_organization'],
          [5, 'user_not_found'],
          [6, 'group_not_found'],
          [7, 'invalid_address'],
        ],
      );
      assert.deepEqual(await w.ctx.groups.members(OPERATOR, contoso, g.id), [], 'nothing added');
      const good = await w.ctx.groups.importMembers(OPERATOR, contoso, rows.slice(0, 2), true);
      assert.equal(good.applied, true);
      assert.deepEqual(
        (await w.ctx.groups.members(OPERATOR, contoso, g.id)).map((m) => m.address),
        [ADMIN.address, USER.address],
      );
      const again = await w.ctx.groups.importMembers(OPERATOR, contoso, rows.slice(0, 2), false);
      assert.equal(again.already, 2);
      assert.equal(again.adds.length, 0);
    });

    it("a group goes with its organization's users: deleting a user removes their memberships", async () => {
      const g = await w.ctx.groups.byName(OPERATOR, contoso, 'printers');
      const n = await w.ctx.store.db.deleteFrom('users').where('id', '=', ada.id).executeTakeFirst();
      assert.equal(Number(n.numDeletedRows), 1);
      assert.deepEqual(
        (await w.ctx.groups.members(OPERATOR, contoso, g.id)).map((m) => m.address),
        [USER.address],
      );
    });
  });
}
