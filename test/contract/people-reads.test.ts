/**
 * The LDAP directory's reads of people (src/storage/people-reads.ts) on both stores: active users
 * of one organization only, in address order, up to the limit; one of them by address.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openStore, type Store } from '../../src/storage/db.js';
import { migrateToLatest } from '../../src/storage/migrator.js';
import { KyselyPeopleReads } from '../../src/storage/people-reads.js';
import { makeTestStore, STORE_KINDS, type TestStore } from '../support/stores.js';

for (const kind of STORE_KINDS) {
  describe(`people reads for the LDAP directory on ${kind}`, () => {
    let ts: TestStore;
    let store: Store;
    let reads: KyselyPeopleReads;
    before(async () => {
      ts = await makeTestStore(kind);
      store = openStore({ dataDir: ts.dataDir, databaseUrl: ts.databaseUrl });
      await migrateToLatest(store.db);
      reads = new KyselyPeopleReads(store.db);
      await store.db
        .insertInto('organizations')
        .values([
          { id: 'o1', domain: 'contoso.test', name: 'Contoso', created_at: 1 },
          { id: 'o2', domain: 'fabrikam.test', name: 'Fabrikam', created_at: 1 },
        ])
        .execute();
      const user = (id: string, orgId: string, address: string, status = 'active') => ({
        id,
        org_id: orgId,
        address,
        name: address.split('@')[0]!.toUpperCase(),
        status,
        role: 'user',
        password_hash: null,
        password_changed_at: null,
        created_at: 1,
        default_method_id: null,
      });
      await store.db
        .insertInto('users')
        .values([
          user('u3', 'o1', 'cem@contoso.test'),
          user('u1', 'o1', 'ann@contoso.test'),
          user('u2', 'o1', 'bob@contoso.test', 'disabled'),
          user('u4', 'o2', 'fay@fabrikam.test'),
        ])
        .execute();
    });
    after(async () => {
      await store.close();
      await ts.dispose();
    });

    it("lists one organization's active users in address order, up to the limit", async () => {
      assert.deepEqual(await reads.activePeople('o1', 10), [
        { id: 'u1', address: 'ann@contoso.test', name: 'ANN' },
        { id: 'u3', address: 'cem@contoso.test', name: 'CEM' },
      ]);
      assert.deepEqual(
        (await reads.activePeople('o1', 1)).map((p) => p.id),
        ['u1'],
      );
    });

    it('finds one active user of the organization by address, and no one else', async () => {
      assert.deepEqual(await reads.activePerson('o1', 'cem@contoso.test'), {
        id: 'u3',
        address: 'cem@contoso.test',
        name: 'CEM',
      });
      assert.equal(await reads.activePerson('o1', 'bob@contoso.test'), undefined, 'disabled');
      assert.equal(await reads.activePerson('o1', 'fay@fabrikam.test'), undefined, 'another organization');
    });
  });
}
