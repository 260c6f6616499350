/**
 * Named locations' repository (src/storage/named-location-repository.ts) on both stores: a name is
 * unique per organization whatever its case (create and rename refused, not thrown), the same name
 * is fine in another organization, networks and countries come back as stored, the list is by
 * name, a removed location is gone, and locations go with their organization (cascade).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NamedLocation } from '../../src/domain/locations/model.js';
import { openStore, type Store } from '../../src/storage/db.js';
import { migrateToLatest } from '../../src/storage/migrator.js';
import { KyselyNamedLocationRepository } from '../../src/storage/named-location-repository.js';
import { makeTestStore, STORE_KINDS, type TestStore } from '../support/stores.js';

const loc = (id: string, orgId: string, name: string, more: Partial<NamedLocation> = {}): NamedLocation => ({
  id,
  orgId,
  name,
  networks: [],
  countries: ['NL'],
  createdAt: 1,
  updatedAt: 1,
  ...more,
});

for (const kind of STORE_KINDS) {
  describe(`named locations repository on ${kind}`, () => {
    let ts: TestStore;
    let store: Store;
    let repo: KyselyNamedLocationRepository;
    before(async () => {
      ts = await makeTestStore(kind);
      store = openStore({ dataDir: ts.dataDir, databaseUrl: ts.databaseUrl });
      await migrateToLatest(store.db);
      repo = new KyselyNamedLocationRepository(store.db);
      await store.db
        .insertInto('organizations')
        .values([
          { id: 'o1', domain: 'contoso.test', name: 'Contoso', created_at: 1 },
          { id: 'o2', domain: 'fabrikam.test', name: 'Fabrikam', created_at: 1 },
          { id: 'o3', domain: 'gone.test', name: 'Gone', created_at: 1 },
        ])
        .execute();
    });
    after(async () => {
      await store.close();
      await ts.dispose();
    });

    it('creates, reads back, refuses a name of any case twice in one organization, allows it in another', async () => {
      const office = loc('l1', 'o1', 'Office', {
        networks: ['192.0.2.0/24', '2001:db8::/32'],
        countries: [],
        createdAt: 5,
        updatedAt: 6,
      });
      assert.equal(await repo.create(office), true);
      assert.deepEqual(await repo.get('l1'), office);
      assert.equal(await repo.create(loc('l2', 'o1', 'OFFICE')), false);
      assert.equal(await repo.get('l2'), undefined);
      assert.equal(await repo.create(loc('l3', 'o2', 'office')), true);
      assert.deepEqual((await repo.byName('o1', 'oFFice'))?.id, 'l1');
      assert.equal(await repo.byName('o1', 'Home'), undefined);
    });

    it('lists one organization by name without case; renames, refusing a taken name', async () => {
      assert.equal(await repo.create(loc('l4', 'o1', 'benelux', { countries: ['BE', 'LU', 'NL'] })), true);
      assert.deepEqual(
        (await repo.list('o1')).map((l) => l.name),
        ['benelux', 'Office'],
      );
      const benelux = (await repo.get('l4'))!;
      assert.equal(await repo.update({ ...benelux, name: 'office' }), false);
      assert.equal((await repo.get('l4'))!.name, 'benelux', 'unchanged');
      assert.equal(await repo.update({ ...benelux, name: 'Benelux', countries: ['BE', 'NL'], updatedAt: 9 }), true);
      assert.deepEqual(await repo.get('l4'), { ...benelux, name: 'Benelux', countries: ['BE', 'NL'], updatedAt: 9 });
      // Its own name in another case is no clash.
      assert.equal(await repo.update({ ...benelux, name: 'BENELUX' }), true);
      assert.equal(await repo.update(loc('nope', 'o1', 'Nowhere')), false);
    });

    it('removes one location; an organization takes its locations with it', async () => {
      assert.equal(await repo.remove('l4'), true);
      assert.equal(await repo.remove('l4'), false);
      assert.deepEqual(
        (await repo.list('o1')).map((l) => l.id),
        ['l1'],
      );
      assert.equal(await repo.create(loc('l5', 'o3', 'Gone office')), true);
      await store.db.deleteFrom('organizations').where('id', '=', 'o3').execute();
      assert.equal(await repo.get('l5'), undefined);
    });
  });
}
