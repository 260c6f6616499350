/**
 * Frozen: indexes for retention (storage/retention.ts). Each rule deletes the rows whose time
 * column is before a cutoff, a few thousand at a time; without an index on that column each batch
 * would scan the whole table (a million rows, 500 times over). The existing indexes lead with
 * org_id or user_id, which a cutoff across every organization cannot use. oidc_payloads already
 * has one on expires_at (migration 9).
 */
import type { Kysely } from 'kysely';

const INDEXES: [name: string, table: string, column: string][] = [
  ['sign_in_events_at', 'sign_in_events', 'at'],
  ['audit_events_at', 'audit_events', 'at'],
  ['sessions_expires_at', 'sessions', 'expires_at'],
  ['one_time_tokens_expires_at', 'one_time_tokens', 'expires_at'],
  ['flows_expires_at', 'flows', 'expires_at'],
  ['trusted_devices_expires_at', 'trusted_devices', 'expires_at'],
  ['rate_limits_expire', 'rate_limits', 'expire'],
  ['recent_bad_passwords_at', 'recent_bad_passwords', 'at'],
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const [name, table, column] of INDEXES) await db.schema.createIndex(name).on(table).column(column).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const [name] of INDEXES) await db.schema.dropIndex(name).execute();
}
