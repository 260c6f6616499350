/**
 * Frozen: registered integrations (mail servers and proxies that may ask Sesame about passwords,
 * each with its own key, stored hashed) and recent distinct wrong passwords per account and
 * protocol (smart lockout: a device retrying the same stale password counts once).
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('integrations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('key_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('recent_bad_passwords')
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('recent_bad_passwords_pk', ['key', 'hash'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('recent_bad_passwords').execute();
  await db.schema.dropTable('integrations').execute();
}
