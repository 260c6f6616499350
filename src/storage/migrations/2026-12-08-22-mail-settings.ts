/**
 * Frozen: the organization's mail, calendar and contacts servers as apps are told them (issue #18,
 * item 1), one row per organization. `settings` is JSON (servers and the user-name form): only
 * Sesame reads it, always whole, and later items add fields without a migration.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('mail_settings')
    .addColumn('org_id', 'text', (c) => c.primaryKey().references('organizations.id').onDelete('cascade'))
    .addColumn('settings', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('mail_settings').execute();
}
