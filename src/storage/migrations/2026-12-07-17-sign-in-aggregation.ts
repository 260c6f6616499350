/**
 * Frozen: aggregated sign-in failures (issue 15, item 4). Repeated identical failures (same typed
 * account, IP, protocol, outcome and reason within one aggregation window) are one row: `attempts`
 * counts them, `at` is the first and `last_at` the last. `agg_key` names the row's window and
 * fields; its unique index is what makes `INSERT ... ON CONFLICT (agg_key) DO UPDATE` add to the
 * existing row atomically, across instances and parallel writers, on both stores. Rows written
 * before (and successes, which are never aggregated) have a null key: a unique index allows any
 * number of nulls on SQLite and PostgreSQL alike. `last_at` null means "the same as `at`", so the
 * migration does not rewrite the existing rows.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('sign_in_events')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema.alterTable('sign_in_events').addColumn('last_at', 'bigint').execute();
  await db.schema.alterTable('sign_in_events').addColumn('agg_key', 'text').execute();
  await db.schema.createIndex('sign_in_events_agg_key').on('sign_in_events').column('agg_key').unique().execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('sign_in_events_agg_key').execute();
  for (const c of ['agg_key', 'last_at', 'attempts'])
    await db.schema.alterTable('sign_in_events').dropColumn(c).execute();
}
