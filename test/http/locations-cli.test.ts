/**
 * `sesame location ...` in-process against a world's store, on both stores (issue #20, item 1):
 * add with networks and countries, list, a bad network and an unknown country refused (exit 1,
 * the code named, nothing added), a name taken in another case refused, remove by name in any
 * case, show-country from the shipped data; wrong usage exits 2.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { cliFor } from '../support/cli-in-process.js';
import { STORE_KINDS } from '../support/stores.js';
import { makeWorld, type World } from '../support/world.js';

for (const kind of STORE_KINDS) {
  describe(`sesame location on ${kind}`, () => {
    let w: World;
    const { run, out, err } = cliFor('location', () => w);
    before(async () => {
      w = await makeWorld(kind);
    });
    after(() => w.close());

    it('add, list, refusals, remove', async () => {
      assert.equal(await run('list', 'contoso.test'), 0);
      assert.deepEqual(out, ['organization contoso.test: no named locations']);
      assert.equal(
        await run(
          'add',
          'contoso.test',
          'Office',
          '--network',
          '192.0.2.0/24',
          '--network',
          '2001:DB8::/32',
          '--country',
          'nl',
        ),
        0,
      );
      assert.deepEqual(out, ['location Office created in contoso.test: 192.0.2.0/24 2001:db8::/32 NL']);
      assert.equal(await run('add', 'contoso.test', 'Lab', '--network', '192.0.2.1/24'), 1);
      assert.match(err.join('\n'), /location_network_invalid/);
      assert.equal(await run('add', 'contoso.test', 'Lab', '--country', 'XX'), 1);
      assert.match(err.join('\n'), /location_country_invalid/);
      assert.equal(await run('add', 'contoso.test', 'Lab'), 1);
      assert.match(err.join('\n'), /location_empty/);
      assert.equal(await run('add', 'contoso.test', 'OFFICE', '--country', 'BE'), 1);
      assert.match(err.join('\n'), /location_exists/);
      assert.equal(await run('list', 'contoso.test'), 0);
      assert.deepEqual(out, ['Office\t192.0.2.0/24 2001:db8::/32 NL']);
      assert.equal(await run('remove', 'contoso.test', 'office'), 0);
      assert.deepEqual(out, ['location Office deleted from contoso.test']);
      assert.equal(await run('remove', 'contoso.test', 'office'), 1);
      assert.match(err.join('\n'), /location_not_found/);
      const org = (await w.ctx.accounts.organizationByDomain('contoso.test')).id;
      assert.deepEqual(await w.ctx.locations.list(OPERATOR, org), []);
    });

    it('show-country: a known country, an unknown documentation address, not an address', async () => {
      assert.equal(await run('show-country', '193.0.6.139'), 0);
      assert.deepEqual(out, ['193.0.6.139\tNL']);
      assert.equal(await run('show-country', '2001:db8::1'), 0);
      assert.deepEqual(out, ['2001:db8::1\tunknown']);
      assert.equal(await run('show-country', 'nowhere'), 2);
      assert.equal(await run('add', 'contoso.test'), 2);
      assert.equal(await run('fly'), 2);
    });
  });
}
