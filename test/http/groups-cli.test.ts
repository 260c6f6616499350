/**
 * `sesame group ...` in-process against a world's store, on both stores (issue #19, item 1): add,
 * list, members, add-member (another organization's user refused, exit 1), limits by name, import
 * (a file with a problem changes nothing and exits 1; --dry-run changes nothing; a clean file adds
 * every row), remove refused while required; wrong usage exits 2.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { cliFor } from '../support/cli-in-process.js';
import { STORE_KINDS } from '../support/stores.js';
import { ADMIN, makeWorld, OTHER_ADMIN, USER, type World } from '../support/world.js';

for (const kind of STORE_KINDS) {
  describe(`sesame group on ${kind}`, () => {
    let w: World;
    const { run, out, err } = cliFor('group', () => w);
    before(async () => {
      w = await makeWorld(kind);
    });
    after(() => w.close());

    it('add, add-member, members, list, limits, remove refused while required then done', async () => {
      assert.equal(await run('add', 'contoso.test', 'Mail apps', '--description', 'May use app passwords'), 0);
      assert.deepEqual(out, ['group Mail apps created in contoso.test']);
      assert.equal(await run('add', 'contoso.test', 'MAIL APPS'), 1);
      assert.match(err.join('\n'), /group_exists/);
      assert.equal(await run('add-member', 'contoso.test', 'mail apps', USER.address), 0);
      assert.equal(await run('add-member', 'contoso.test', 'Mail apps', OTHER_ADMIN.address), 1);
      assert.match(
        err.join('\n'),
        /Only users of your organization can be members of its groups\. \(group_wrong_organization\)/,
      );
      assert.equal(await run('members', 'contoso.test', 'Mail apps'), 0);
      assert.deepEqual(out, [USER.address]);
      assert.equal(await run('list', 'contoso.test'), 0);
      assert.deepEqual(out, ['Mail apps\t1 member(s)\tMay use app passwords']);
      assert.equal(await run('limits', 'contoso.test', '--app-passwords', 'Mail apps', '--radius', 'mail apps'), 0);
      assert.deepEqual(out, ['app_passwords: members of Mail apps', 'ldap: everyone', 'radius: members of Mail apps']);
      const org = (await w.ctx.accounts.organizationByDomain('contoso.test')).id;
      const bob = (await w.ctx.accounts.findUserByAddressOrNull(USER.address))!;
      assert.equal(await w.ctx.groups.mayUse(bob, 'radius'), true);
      assert.equal(
        await w.ctx.groups.mayUse((await w.ctx.accounts.findUserByAddressOrNull(ADMIN.address))!, 'radius'),
        false,
      );
      assert.equal(await run('remove', 'contoso.test', 'Mail apps'), 1);
      assert.match(err.join('\n'), /group_in_use/);
      assert.equal(await run('limits', 'contoso.test', '--app-passwords', 'everyone', '--radius', 'everyone'), 0);
      assert.equal(await run('remove-member', 'contoso.test', 'Mail apps', USER.address), 0);
      assert.deepEqual(out, [`${USER.address} removed from Mail apps`]);
      assert.equal(await run('remove', 'contoso.test', 'Mail apps'), 0);
      assert.deepEqual(await w.ctx.groups.list(OPERATOR, org), []);
    });

    it('import: all or nothing, with a dry run', async () => {
      const org = (await w.ctx.accounts.organizationByDomain('contoso.test')).id;
      const g = await w.ctx.groups.create(OPERATOR, org, 'Printers');
      const file = path.join(w.store.dataDir, 'members.csv');
      fs.writeFileSync(file, `address,group\r\n${USER.address},printers\r\n${OTHER_ADMIN.address},Printers\r\n`);
      assert.equal(await run('import', 'contoso.test', file), 1);
      assert.match(err.join('\n'), /row 3: wrong organization: eve@fabrikam\.test/);
      assert.match(out.join('\n'), /1 problem\(s\): nothing changed/);
      assert.deepEqual(await w.ctx.groups.members(OPERATOR, org, g.id), []);
      fs.writeFileSync(file, `group,address\r\nPrinters,${USER.address}\r\nPrinters,${ADMIN.address}\r\n`);
      assert.equal(await run('import', 'contoso.test', file, '--dry-run'), 0);
      assert.match(out.join('\n'), /would add bob@contoso\.test to Printers/);
      assert.deepEqual(await w.ctx.groups.members(OPERATOR, org, g.id), []);
      assert.equal(await run('import', 'contoso.test', file), 0);
      assert.equal((await w.ctx.groups.members(OPERATOR, org, g.id)).length, 2);
      fs.writeFileSync(file, 'email,team\r\nx,y\r\n');
      assert.equal(await run('import', 'contoso.test', file), 1);
      assert.match(err.join('\n'), /must name the columns address and group/);
    });

    it('wrong usage exits 2', async () => {
      assert.equal(await run('frobnicate'), 2);
      assert.equal(await run('add', 'contoso.test'), 2);
      assert.equal(await run('import', 'contoso.test', '/nonexistent/file.csv'), 2);
    });
  });
}
