/**
 * Frozen: the countries each account has been used from on legacy protocols (issue #20, item 3),
 * one row per account and ISO 3166-1 alpha-2 code, for the "new country" notice; and the
 * organization's choice to mail its admins about such a use too (off by default). Rows go with
 * their user.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('account_countries')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('country', 'text', (c) => c.notNull())
    .addColumn('first_seen_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('account_countries_pk', ['user_id', 'country'])
    .execute();
  await db.schema
    .alterTable('org_policies')
    .addColumn('notify_admins_new_country', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('org_policies').dropColumn('notify_admins_new_country').execute();
  await db.schema.dropTable('account_countries').execute();
}
