/**
 * The LDAP directory's reads of people (src/storage/people-reads.ts) on both stores: active users
 * of one organization only, in address order, up to the limit; one of them by address; each with
 * its POSIX number (src/storage/posix-ids.ts), given once, the same at every read and never reused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openStore, type Store } from '../../src/storage/db.js';
import { migrateToLatest } from '../../src/storage/migrator.js';
import { KyselyPeopleReads } from '../../src/storage/people-reads.js';
import { FIRST_NUMBER, KyselyPosixIds } from '../../src/storage/posix-ids.js';
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
      // The first read gives the numbers, in the order read.
      assert.deepEqual(await reads.activePeople('o1', 10), [
        { id: 'u1', address: 'ann@contoso.test', name: 'ANN', posixId: FIRST_NUMBER },
        { id: 'u3', address: 'cem@contoso.test', name: 'CEM', posixId: FIRST_NUMBER + 1 },
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
        posixId: FIRST_NUMBER + 1,
      });
      assert.equal(await reads.activePerson('o1', 'bob@contoso.test'), undefined, 'disabled');
      assert.equal(await reads.activePerson('o1', 'fay@fabrikam.test'), undefined, 'another organization');
    });

    it('keeps a number for good: the same at every read, never given to another id after a deletion', async () => {
      const fay = await reads.activePerson('o2', 'fay@fabrikam.test');
      assert.equal(fay?.posixId, FIRST_NUMBER + 2, 'numbers run across organizations');
      await store.db.deleteFrom('users').where('id', '=', 'u4').execute();
      const ids = new KyselyPosixIds(store.db);
      const later = await ids.numbersFor(['g-new', 'u1']);
      assert.equal(later.get('u1'), FIRST_NUMBER);
      assert.equal(later.get('g-new'), FIRST_NUMBER + 3, "a deleted user's number is not given again");
    });

    it('gives distinct numbers when several instances ask at once', async () => {
      // Each its own repository (as each Sesame instance has), asking for overlapping ids together.
      const asks = Array.from({ length: 6 }, (_, i) =>
        new KyselyPosixIds(store.db).numbersFor(Array.from({ length: 20 }, (_, k) => `race-${(i * 7 + k) % 40}`)),
      );
      const answers = await Promise.all(asks);
      const byId = new Map<string, number>();
      for (const a of answers)
        for (const [id, n] of a) {
          const seen = byId.get(id);
          assert.ok(seen === undefined || seen === n, `${id} got one number`);
          byId.set(id, n);
        }
      assert.equal(byId.size, 40);
      assert.equal(new Set(byId.values()).size, 40, 'no number given twice');
      const rows = await store.db.selectFrom('posix_ids').select(['entity_id', 'number']).execute();
      assert.equal(new Set(rows.map((r) => Number(r.number))).size, rows.length);
    });
  });
}
