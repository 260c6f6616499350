/**
 * Frozen: one-time links to an Apple configuration profile (issue #18, item 2). A row holds the
 * keyed hash of the link's token, never the token, and the app password sealed under a key derived
 * from the token: the store alone cannot open it, nor can the link alone once the row is gone.
 * The row goes with its app password, its user and the session it was made in (cascades), and
 * retention removes it once expired.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('profile_links')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('app_password_id', 'text', (c) => c.notNull().references('app_passwords.id').onDelete('cascade'))
    // Null when made before the browser had a session (the first sign-in's registration flow).
    .addColumn('session_id', 'text', (c) => c.references('sessions.id').onDelete('cascade'))
    .addColumn('sealed', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .execute();
  await db.schema.createIndex('profile_links_expires').on('profile_links').column('expires_at').execute();
  await db.schema.createIndex('profile_links_app_password').on('profile_links').column('app_password_id').execute();
  await db.schema.createIndex('profile_links_session').on('profile_links').column('session_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('profile_links').execute();
}
