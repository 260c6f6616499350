/**
 * Frozen: the organization's time zone (IANA name; NULL: UTC), in which pages show dates, and its
 * default country for phone numbers written the national way (ISO 3166-1 alpha-2; NULL: none, so a
 * number must carry its country code). Issue #17, items 2 and 3.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('org_policies').addColumn('time_zone', 'text').execute();
  await db.schema.alterTable('org_policies').addColumn('default_country', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('org_policies').dropColumn('default_country').execute();
  await db.schema.alterTable('org_policies').dropColumn('time_zone').execute();
}
