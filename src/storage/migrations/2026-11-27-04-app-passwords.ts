/** Frozen: app passwords and the organization's app-password policy. */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('org_policies')
    .addColumn('app_passwords_allowed', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema
    .alterTable('org_policies')
    .addColumn('app_passwords_keep_when_off', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema
    .alterTable('org_policies')
    .addColumn('app_password_cap', 'integer', (c) => c.notNull().defaultTo(40))
    .execute();
  await db.schema
    .alterTable('org_policies')
    .addColumn('app_password_protocols', 'text', (c) => c.notNull().defaultTo('imap,pop3,smtp,dav,http'))
    .execute();
  await db.schema.alterTable('org_policies').addColumn('app_password_max_days', 'integer').execute();
  await db.schema.alterTable('org_policies').addColumn('app_password_unused_days', 'integer').execute();
  await db.schema
    .alterTable('org_policies')
    .addColumn('revoke_on_password_change', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema
    .createTable('app_passwords')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    // HMAC-SHA-256 of the canonical password under the server's hash key: one indexed read per check.
    .addColumn('hash', 'text', (c) => c.notNull().unique())
    .addColumn('protocols', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('created_ip', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint')
    .addColumn('last_used_at', 'bigint')
    .addColumn('last_used_protocol', 'text')
    .addColumn('last_used_ip', 'text')
    .execute();
  await db.schema.createIndex('app_passwords_user').on('app_passwords').column('user_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('app_passwords').execute();
  for (const c of [
    'revoke_on_password_change',
    'app_password_unused_days',
    'app_password_max_days',
    'app_password_protocols',
    'app_password_cap',
    'app_passwords_keep_when_off',
    'app_passwords_allowed',
  ]) {
    await db.schema.alterTable('org_policies').dropColumn(c).execute();
  }
}
