/**
 * Frozen: self-service (issue 9). Sessions record how they were started (`web` or `api`), so that
 * "My sessions" can tell a browser from a script; the sign-in log gets an index by user, for
 * "My sign-ins" (the admins' view reads it by organization).
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('sessions')
    .addColumn('via', 'text', (c) => c.notNull().defaultTo('web'))
    .execute();
  await db.schema.createIndex('sign_in_events_user_at').on('sign_in_events').columns(['user_id', 'at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('sign_in_events_user_at').execute();
  await db.schema.alterTable('sessions').dropColumn('via').execute();
}
