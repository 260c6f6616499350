/**
 * Migrations: frozen, date-prefixed modules listed here in order (a static list, not a folder
 * scan, so that a build or a bundler cannot lose one). They run at start and with `sesame migrate`.
 */
import { DEFAULT_MIGRATION_TABLE, Migrator, type Migration, type MigrationResultSet } from 'kysely';
import type { Kysely } from 'kysely';
import * as m01 from './migrations/2026-11-27-01-accounts.js';
import * as m02 from './migrations/2026-11-27-02-sign-in.js';
import * as m03 from './migrations/2026-11-27-03-mfa.js';
import * as m04 from './migrations/2026-11-27-04-app-passwords.js';
import * as m05 from './migrations/2026-11-27-05-app-password-use.js';
import * as m06 from './migrations/2026-11-27-06-integrations.js';
import * as m07 from './migrations/2026-11-27-07-legacy-main-password.js';
import * as m08 from './migrations/2026-11-27-08-app-password-expiry.js';
import * as m09 from './migrations/2026-11-27-09-oidc.js';
import * as m10 from './migrations/2026-11-27-10-self-service.js';
import * as m11 from './migrations/2026-11-27-11-admin-scale.js';
import * as m12 from './migrations/2026-11-27-12-dashboard.js';
import * as m13 from './migrations/2026-12-06-13-oidc-token-hashes.js';
import * as m14 from './migrations/2026-12-06-14-recent-auth.js';
import * as m16 from './migrations/2026-12-07-16-phone-countries.js';
import * as m19 from './migrations/2026-12-07-19-integration-config-errors.js';
import * as m17 from './migrations/2026-12-07-17-sign-in-aggregation.js';
import * as m18 from './migrations/2026-12-07-18-retention-indexes.js';
import * as m20 from './migrations/2026-12-07-20-integration-seen.js';
import * as m21 from './migrations/2026-12-08-21-org-locale-settings.js';
import * as m22 from './migrations/2026-12-08-22-mail-settings.js';
import * as m23 from './migrations/2026-12-09-23-profile-links.js';
import * as m24 from './migrations/2026-12-09-24-groups.js';
import * as m25 from './migrations/2026-12-10-25-posix-ids.js';
import * as m26 from './migrations/2026-12-11-26-named-locations.js';
import * as m27 from './migrations/2026-12-12-27-location-rules.js';
import * as m28 from './migrations/2026-12-13-28-account-countries.js';
import * as m29 from './migrations/2026-12-14-29-verify-epoch.js';

export const MIGRATIONS: Record<string, Migration> = {
  '2026-11-27-01-accounts': m01,
  '2026-11-27-02-sign-in': m02,
  '2026-11-27-03-mfa': m03,
  '2026-11-27-04-app-passwords': m04,
  '2026-11-27-05-app-password-use': m05,
  '2026-11-27-06-integrations': m06,
  '2026-11-27-07-legacy-main-password': m07,
  '2026-11-27-08-app-password-expiry': m08,
  '2026-11-27-09-oidc': m09,
  '2026-11-27-10-self-service': m10,
  '2026-11-27-11-admin-scale': m11,
  '2026-11-27-12-dashboard': m12,
  '2026-12-06-13-oidc-token-hashes': m13,
  '2026-12-06-14-recent-auth': m14,
  '2026-12-07-16-phone-countries': m16,
  '2026-12-07-17-sign-in-aggregation': m17,
  '2026-12-07-18-retention-indexes': m18,
  '2026-12-07-19-integration-config-errors': m19,
  '2026-12-07-20-integration-seen': m20,
  '2026-12-08-21-org-locale-settings': m21,
  '2026-12-08-22-mail-settings': m22,
  '2026-12-09-23-profile-links': m23,
  '2026-12-09-24-groups': m24,
  '2026-12-10-25-posix-ids': m25,
  '2026-12-11-26-named-locations': m26,
  '2026-12-12-27-location-rules': m27,
  '2026-12-13-28-account-countries': m28,
  '2026-12-14-29-verify-epoch': m29,
};

export function migrator<DB>(db: Kysely<DB>): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => MIGRATIONS } });
}

/** Brings the schema to the latest version; throws with the failing migration's name. */
export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<string[]> {
  return check(await migrator(db).migrateToLatest());
}

/** Applies one migration; used by tests that upgrade step by step. */
export async function migrateUp<DB>(db: Kysely<DB>): Promise<string[]> {
  return check(await migrator(db).migrateUp());
}

/** Names of migrations not yet applied. */
export async function pendingMigrations<DB>(db: Kysely<DB>): Promise<string[]> {
  const all = await migrator(db).getMigrations();
  return all.filter((m) => !m.executedAt).map((m) => m.name);
}

/**
 * How the store's schema compares with this version: migrations it lacks (`pending`: this version
 * is newer) and applied migrations this version does not know (`unknown`: a newer version has
 * migrated the store, as in a rolling upgrade). Both empty: the schema is current.
 */
export async function schemaStatus<DB>(db: Kysely<DB>): Promise<{ pending: string[]; unknown: string[] }> {
  const known = await migrator(db).getMigrations();
  const pending = known.filter((m) => !m.executedAt).map((m) => m.name);
  // Nothing applied: the migration table may not even exist yet, and nothing can be unknown.
  if (pending.length === known.length) return { pending, unknown: [] };
  const applied = await (db as unknown as Kysely<MigrationTable>)
    .selectFrom(DEFAULT_MIGRATION_TABLE)
    .select('name')
    .execute();
  return { pending, unknown: applied.map((r) => r.name).filter((n) => !Object.hasOwn(MIGRATIONS, n)) };
}

/** Kysely's own table of applied migrations, which schemaStatus() reads directly. */
interface MigrationTable {
  [DEFAULT_MIGRATION_TABLE]: { name: string };
}

function check(r: MigrationResultSet): string[] {
  if (r.error) {
    const failed = r.results?.find((x) => x.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed: ${r.error instanceof Error ? r.error.message : String(r.error)}`);
  }
  return (r.results ?? []).filter((x) => x.status === 'Success').map((x) => x.migrationName);
}
