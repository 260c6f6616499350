/**
 * Frozen: where app passwords may be used from (issue #20, item 2). `location_policies` holds an
 * organization's rules (JSON: protocol, group, mode, location ids) and a version that every change
 * to the rules or to the organization's locations raises, read by the verification query so that
 * each instance recompiles at the next attempt. An app password may be pinned to named locations
 * (`pinned_locations`, JSON ids) and/or one network (`pinned_network`, canonical CIDR).
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('location_policies')
    .addColumn('org_id', 'text', (c) => c.primaryKey().references('organizations.id').onDelete('cascade'))
    .addColumn('rules', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('version', 'bigint', (c) => c.notNull().defaultTo(1))
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.alterTable('app_passwords').addColumn('pinned_locations', 'text').execute();
  await db.schema.alterTable('app_passwords').addColumn('pinned_network', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('app_passwords').dropColumn('pinned_network').execute();
  await db.schema.alterTable('app_passwords').dropColumn('pinned_locations').execute();
  await db.schema.dropTable('location_policies').execute();
}
