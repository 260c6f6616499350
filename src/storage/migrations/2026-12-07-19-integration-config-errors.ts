/**
 * Frozen: the last configuration error of each integration (issue #15, item 5). A mail server that
 * asks with a service name or protocol Sesame does not know (`doveadm auth test` sends `doveadm`) is
 * misconfigured, not a user with a wrong password: the operator sees it in `sesame integration list`.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // One column a statement: SQLite's ALTER TABLE adds one at a time.
  await db.schema.alterTable('integrations').addColumn('last_config_error', 'text').execute();
  await db.schema.alterTable('integrations').addColumn('last_config_error_at', 'bigint').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('integrations').dropColumn('last_config_error_at').execute();
  await db.schema.alterTable('integrations').dropColumn('last_config_error').execute();
}
