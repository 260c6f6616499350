/**
 * The account-countries repository (src/storage/account-country-repository.ts) on both stores:
 * insert if absent says whether the country was new and whether the account had another; a batch
 * records each country once; the earlier addresses of an account's app passwords come back once,
 * newest first, before a time only; rows are per account and go with their user (cascade).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KyselyAccountCountryRepository } from '../../src/storage/account-country-repository.js';
import { openStore, type Store } from '../../src/storage/db.js';
import { migrateToLatest } from '../../src/storage/migrator.js';
import { makeTestStore, STORE_KINDS, type TestStore } from '../support/stores.js';

for (const kind of STORE_KINDS) {
  describe(`account countries repository on ${kind}`, () => {
    let ts: TestStore;
    let store: Store;
    let repo: KyselyAccountCountryRepository;
    before(async () => {
      ts = await makeTestStore(kind);
      store = openStore({ dataDir: ts.dataDir, databaseUrl: ts.databaseUrl });
      await migrateToLatest(store.db);
      repo = new KyselyAccountCountryRepository(store.db);
      await store.db
        .insertInto('organizations')
        .values({ id: 'o1', domain: 'contoso.test', name: 'Contoso', created_at: 1 })
        .execute();
      const user = (id: string) => ({
        id,
        org_id: 'o1',
        address: `${id}@contoso.test`,
        name: id,
        status: 'active',
        role: 'user',
        password_hash: null,
        password_changed_at: null,
        created_at: 1,
        default_method_id: null,
      });
      await store.db
        .insertInto('users')
        .values([user('u1'), user('u2'), user('u3')])
        .execute();
      const ap = (id: string, userId: string) => ({
        id,
        user_id: userId,
        name: id,
        hash: `h-${id}`,
        protocols: 'imap',
        created_at: 1,
        created_ip: '192.0.2.1',
        expires_at: null,
        last_used_at: null,
        last_used_protocol: null,
        last_used_ip: null,
      });
      await store.db
        .insertInto('app_passwords')
        .values([ap('a1', 'u1'), ap('a2', 'u1'), ap('a3', 'u2')])
        .execute();
      await store.db
        .insertInto('app_password_ips')
        .values([
          { app_password_id: 'a1', ip: '145.100.0.1', first_seen_at: 10 },
          { app_password_id: 'a2', ip: '145.100.0.1', first_seen_at: 30 },
          { app_password_id: 'a2', ip: '8.8.8.8', first_seen_at: 20 },
          { app_password_id: 'a1', ip: '1.1.1.1', first_seen_at: 50 },
          { app_password_id: 'a3', ip: '81.2.69.142', first_seen_at: 5 },
        ])
        .execute();
    });
    after(async () => {
      await store.close();
      await ts.dispose();
    });

    it('records a country once: new, then known; says whether the account had another', async () => {
      assert.deepEqual(await repo.record('u1', 'NL', 100), { inserted: true, hadOthers: false });
      assert.deepEqual(await repo.record('u1', 'NL', 101), { inserted: false, hadOthers: true });
      assert.deepEqual(await repo.record('u1', 'US', 102), { inserted: true, hadOthers: true });
      assert.deepEqual(await repo.record('u2', 'US', 103), { inserted: true, hadOthers: false }, 'per account');
      assert.deepEqual(await repo.list('u1'), ['NL', 'US']);
      assert.deepEqual(await repo.list('u2'), ['US']);
      const [row] = await store.db
        .selectFrom('account_countries')
        .select('first_seen_at')
        .where('user_id', '=', 'u1')
        .where('country', '=', 'NL')
        .execute();
      assert.equal(Number(row!.first_seen_at), 100, 'the first time stays');
    });

    it('records a batch, each country once, beside those already there', async () => {
      await repo.recordAll('u3', ['BE', 'DE', 'BE'.toString()], 5);
      await repo.recordAll('u3', ['DE', 'FR'], 6);
      await repo.recordAll('u3', [], 7);
      assert.deepEqual(await repo.list('u3'), ['BE', 'DE', 'FR']);
    });

    it("lists the addresses of an account's app passwords first used before a time, once each, newest first", async () => {
      assert.deepEqual(await repo.ipsBefore('u1', 1000, 10), ['1.1.1.1', '145.100.0.1', '8.8.8.8']);
      assert.deepEqual(await repo.ipsBefore('u1', 30, 10), ['8.8.8.8', '145.100.0.1'], 'only before the time');
      assert.deepEqual(await repo.ipsBefore('u1', 1000, 1), ['1.1.1.1'], 'at most the limit');
      assert.deepEqual(await repo.ipsBefore('u2', 1000, 10), ['81.2.69.142']);
      assert.deepEqual(await repo.ipsBefore('u3', 1000, 10), []);
    });

    it('goes with its user', async () => {
      await store.db.deleteFrom('users').where('id', '=', 'u2').execute();
      assert.deepEqual(await repo.list('u2'), []);
      assert.deepEqual(await repo.list('u1'), ['NL', 'US']);
    });
  });
}
