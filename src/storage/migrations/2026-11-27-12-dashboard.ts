/**
 * Frozen: indexes for the admin dashboard and the sign-in log's filters. Every query of both is
 * bounded by organization and time, so each index leads with org_id and ends with at: the log
 * filtered by user or client IP reads only that user's or address's rows, newest first, and the
 * dashboard's per-protocol counts read only the last day's rows of one protocol.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('sign_in_events_org_user_at')
    .on('sign_in_events')
    .columns(['org_id', 'user_id', 'at'])
    .execute();
  await db.schema
    .createIndex('sign_in_events_org_ip_at')
    .on('sign_in_events')
    .columns(['org_id', 'ip', 'at'])
    .execute();
  await db.schema
    .createIndex('sign_in_events_org_protocol_at')
    .on('sign_in_events')
    .columns(['org_id', 'protocol', 'at'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const name of ['sign_in_events_org_protocol_at', 'sign_in_events_org_ip_at', 'sign_in_events_org_user_at'])
    await db.schema.dropIndex(name).execute();
}
