/**
 * Frozen: what each integration last sent with its good key, and the last requests that came with
 * an unknown or revoked key (issue #16, item 5), so `sesame integration check` and the admin
 * Integrations page can say whether a server reaches Sesame. Written at most every ~10 s, never per
 * request; never a password or a user name.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // One column a statement: SQLite's ALTER TABLE adds one at a time.
  await db.schema.alterTable('integrations').addColumn('last_seen_at', 'bigint').execute();
  // JSON: endpoint, service, reported client address, peer address, outcome class.
  await db.schema.alterTable('integrations').addColumn('last_seen', 'text').execute();
  await db.schema
    .createTable('integration_bad_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('endpoint', 'text', (c) => c.notNull())
    .addColumn('peer', 'text', (c) => c.notNull())
    .addColumn('key_sent', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('integration_bad_keys_at').on('integration_bad_keys').column('at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('integration_bad_keys').execute();
  await db.schema.alterTable('integrations').dropColumn('last_seen').execute();
  await db.schema.alterTable('integrations').dropColumn('last_seen_at').execute();
}
