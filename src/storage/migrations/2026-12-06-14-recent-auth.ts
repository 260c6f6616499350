/**
 * Frozen: recent authentication ("sudo mode", issue 14). A session records when its user last
 * re-entered their password ("Confirm your password"), next to `mfa_at` (the last second factor):
 * a user without a method proves it is them that way before changing how they sign in.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('reauth_at', 'bigint').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('sessions').dropColumn('reauth_at').execute();
}
