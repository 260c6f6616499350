/**
 * Migrations: a store created fresh and one upgraded step by step (with data already in its
 * tables) end with the same schema, on SQLite and on PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import { openStore, type Store } from '../../src/storage/db.js';
import { MIGRATIONS, migrateToLatest, migrateUp, pendingMigrations } from '../../src/storage/migrator.js';
import { makeTestStore, STORE_KINDS, type TestStore } from '../support/stores.js';

/** Tables, columns (name, type, nullability) and indexes, in a form that compares across runs. */
async function describeSchema(store: Store): Promise<unknown> {
  const db = store.db;
  if (store.kind === 'sqlite') {
    const tables = await sql<{
      name: string;
    }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like 'kysely_%' order by name`.execute(
      db,
    );
    const out: Record<string, unknown> = {};
    for (const { name } of tables.rows) {
      const cols =
        await sql`select name, type, "notnull", pk, dflt_value from pragma_table_info(${name}) order by cid`.execute(
          db,
        );
      const idx = await sql`select name, "unique" from pragma_index_list(${name}) order by name`.execute(db);
      out[name] = { cols: cols.rows, idx: idx.rows };
    }
    return out;
  }
  const cols =
    await sql`select table_name, column_name, data_type, is_nullable, column_default from information_schema.columns where table_schema = 'public' and table_name not like 'kysely_%' order by table_name, ordinal_position`.execute(
      db,
    );
  const idx =
    await sql`select tablename, indexname, indexdef from pg_indexes where schemaname = 'public' and tablename not like 'kysely_%' order by tablename, indexname`.execute(
      db,
    );
  return { cols: cols.rows, idx: idx.rows };
}

for (const kind of STORE_KINDS) {
  describe(`migrations on ${kind}`, () => {
    const toDispose: TestStore[] = [];
    after(async () => {
      for (const s of toDispose) await s.dispose();
    });

    it('fresh and step-by-step with data end identical', async () => {
      const names = Object.keys(MIGRATIONS);
      assert.ok(names.length >= 2);
      assert.deepEqual(names, [...names].sort(), 'migrations are date-prefixed and in order');

      const a = await makeTestStore(kind);
      const b = await makeTestStore(kind);
      toDispose.push(a, b);
      const fresh = openStore({ dataDir: a.dataDir, databaseUrl: a.databaseUrl });
      const stepped = openStore({ dataDir: b.dataDir, databaseUrl: b.databaseUrl });
      try {
        assert.deepEqual(await migrateToLatest(fresh.db), names);
        assert.deepEqual(await pendingMigrations(fresh.db), []);
        assert.deepEqual(await migrateToLatest(fresh.db), [], 'running again changes nothing');

        // Step by step, writing data after the first step so later steps meet non-empty tables.
        assert.deepEqual(await migrateUp(stepped.db), [names[0]]);
        await stepped.db
          .insertInto('organizations')
          .values({ id: 'o1', domain: 'contoso.test', name: 'Contoso', created_at: 1 })
          .execute();
        await stepped.db
          .insertInto('users')
          .values({
            id: 'u1',
            org_id: 'o1',
            address: 'a@contoso.test',
            name: 'A',
            status: 'active',
            role: 'admin',
            password_hash: null,
            password_changed_at: null,
            created_at: 1,
          })
          .execute();
        for (let i = 1; i < names.length; i++) assert.deepEqual(await migrateUp(stepped.db), [names[i]]);
        assert.deepEqual(await pendingMigrations(stepped.db), []);
        assert.equal(
          (await stepped.db.selectFrom('users').select('address').executeTakeFirstOrThrow()).address,
          'a@contoso.test',
          'data survives',
        );

        assert.deepEqual(await describeSchema(stepped), await describeSchema(fresh));
      } finally {
        await fresh.close();
        await stepped.close();
      }
    });

    it('deletes the codes and tokens stored in clear before they were hashed, and keeps sessions and grants', async () => {
      const names = Object.keys(MIGRATIONS);
      const at = names.indexOf('2026-12-06-13-oidc-token-hashes');
      const s = await makeTestStore(kind);
      toDispose.push(s);
      const db = openStore({ dataDir: s.dataDir, databaseUrl: s.databaseUrl });
      try {
        for (let i = 0; i < at; i++) await migrateUp(db.db);
        const row = (model: string, id: string) => ({
          model,
          id,
          payload: JSON.stringify({ jti: id, grantId: 'g1' }),
          grant_id: 'g1',
          uid: null,
          user_code: null,
          expires_at: null,
          consumed_at: null,
        });
        await db.db
          .insertInto('oidc_payloads')
          .values([
            row('AccessToken', 'clear-access'),
            row('RefreshToken', 'clear-refresh'),
            row('AuthorizationCode', 'clear-code'),
            row('Session', 'session-1'),
            row('Grant', 'g1'),
          ])
          .execute();
        assert.deepEqual(await migrateUp(db.db), ['2026-12-06-13-oidc-token-hashes']);
        const left = await db.db.selectFrom('oidc_payloads').select('model').orderBy('model').execute();
        assert.deepEqual(
          left.map((r) => r.model),
          ['Grant', 'Session'],
        );
      } finally {
        await db.close();
      }
    });
  });
}
