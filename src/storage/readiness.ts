/**
 * Readiness of the store for /readyz: it answers a trivial query, and its schema is the one this
 * version was built for (every known migration applied, none unknown). A load balancer or an
 * orchestrator stops sending traffic to an instance that is not ready, without restarting it.
 */
import { sql } from 'kysely';
import type { Store } from './db.js';
import { schemaStatus } from './migrator.js';

export type Readiness =
  | { ready: true }
  /** The store did not answer (closed, unreachable, or slower than the limit); `error` is for the log, never for the caller. */
  | { ready: false; reason: 'store_unreachable'; error: string }
  /** This version is newer than the schema: `migrations` are not applied yet. */
  | { ready: false; reason: 'schema_behind'; migrations: string[] }
  /** The schema is newer than this version: a later version applied `migrations`. */
  | { ready: false; reason: 'schema_ahead'; migrations: string[] };

/**
 * Checks the store within `timeoutMs`: a pg pool waits for a connection without limit, and a
 * probe that hangs is worse than one that says no. The query left behind by a timeout finishes
 * (or fails) on its own.
 */
export async function checkReadiness(store: Store, timeoutMs = 2_000): Promise<Readiness> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    let status: { pending: string[]; unknown: string[] };
    try {
      await Promise.race([sql`select 1`.execute(store.db), late]);
      status = await Promise.race([schemaStatus(store.db), late]);
    } catch (e) {
      return { ready: false, reason: 'store_unreachable', error: e instanceof Error ? e.message : String(e) };
    }
    if (status.pending.length) return { ready: false, reason: 'schema_behind', migrations: status.pending };
    if (status.unknown.length) return { ready: false, reason: 'schema_ahead', migrations: status.unknown };
    return { ready: true };
  } finally {
    clearTimeout(timer);
  }
}
