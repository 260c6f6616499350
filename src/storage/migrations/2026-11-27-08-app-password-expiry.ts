/** Frozen: an index on app passwords' expiry, for the minute-by-minute look for those that just expired. */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('app_passwords_expires').on('app_passwords').column('expires_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('app_passwords_expires').execute();
}
