/** Frozen: the client IPs each app password has been used from (to tell the user about a new one), and which app password a sign-in used. */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('app_password_ips')
    .addColumn('app_password_id', 'text', (c) => c.notNull().references('app_passwords.id').onDelete('cascade'))
    .addColumn('ip', 'text', (c) => c.notNull())
    .addColumn('first_seen_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('app_password_ips_pk', ['app_password_id', 'ip'])
    .execute();
  // Which app password an attempt used (checklist 37: the sign-in log names it).
  await db.schema.alterTable('sign_in_events').addColumn('app_password_id', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('sign_in_events').dropColumn('app_password_id').execute();
  await db.schema.dropTable('app_password_ips').execute();
}
