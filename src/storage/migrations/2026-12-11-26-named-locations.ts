/**
 * Frozen: named locations per organization (issue #20, item 1): networks and countries under a
 * name, as JSON arrays of normalized text (CIDR, ISO 3166-1 alpha-2). A name is unique per
 * organization whatever its case (`name_key`, lower-cased, under a plain unique index, as for
 * groups). Locations go with their organization.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('named_locations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('name_key', 'text', (c) => c.notNull())
    .addColumn('networks', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('countries', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('named_locations_org_name')
    .on('named_locations')
    .columns(['org_id', 'name_key'])
    .unique()
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('named_locations').execute();
}
