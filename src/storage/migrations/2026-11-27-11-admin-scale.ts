/**
 * Frozen: the admin Users console at organization scale (issue #9). Each user's last sign-in is a
 * column written when a session starts, so that filtering and sorting on it is an indexed read
 * rather than a scan of the sign-in log. 0 means "never": a NOT NULL column keeps keyset paging
 * to one comparison and sorts the same way on both stores (NULLs sort first on SQLite, last on
 * PostgreSQL). Indexes serve each sort of the page ((org, column, id), the id breaking ties for
 * the keyset cursor) and the two selective filters (disabled users, an MFA state).
 */
import type { Kysely } from 'kysely';

const INDEXES: [string, string[]][] = [
  ['users_org_name', ['org_id', 'name', 'id']],
  ['users_org_created', ['org_id', 'created_at', 'id']],
  ['users_org_last_sign_in', ['org_id', 'last_sign_in_at', 'id']],
  ['users_org_mfa_state', ['org_id', 'mfa_state', 'address']],
  ['users_org_status', ['org_id', 'status', 'address']],
  ['mfa_methods_user_kind', ['user_id', 'kind']],
];

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('users')
    .addColumn('last_sign_in_at', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  for (const [name, columns] of INDEXES)
    await db.schema
      .createIndex(name)
      .on(name.startsWith('mfa_') ? 'mfa_methods' : 'users')
      .columns(columns)
      .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const [name] of INDEXES) await db.schema.dropIndex(name).execute();
  await db.schema.alterTable('users').dropColumn('last_sign_in_at').execute();
}
