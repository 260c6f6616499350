/** Frozen: an organization may refuse main passwords on legacy protocols always (not only once MFA is enforced). */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('org_policies')
    .addColumn('legacy_main_password', 'text', (c) => c.notNull().defaultTo('until_enforced'))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('org_policies').dropColumn('legacy_main_password').execute();
}
