/**
 * Frozen: the countries whose phone numbers an organization allows for text and voice codes
 * (issue #15, item 3), comma-separated ISO 3166-1 alpha-2 codes; NULL: the deployment's default
 * list (SESAME_PHONE_COUNTRIES).
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('org_policies').addColumn('phone_countries', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('org_policies').dropColumn('phone_countries').execute();
}
