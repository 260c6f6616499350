/**
 * Runs a suite once per store: SQLite in a fresh temporary folder and PostgreSQL in a fresh
 * database. Contract tests loop over STORE_KINDS so every storage behaviour is proven on both.
 *
 * SESAME_TEST_STORES narrows the stores of a run: `sqlite` is the fast tier (scripts/test-fast.sh),
 * where no PostgreSQL case is registered at all and no PostgreSQL needs to be installed. Unset (the
 * full suite, scripts/test.sh) means both, and then PostgreSQL is never skipped: without
 * SESAME_TEST_PG_URL its cases fail loudly.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config/config.js';
import { createTestDatabase } from './postgres.js';

export type StoreKind = 'sqlite' | 'postgres';
const ALL_KINDS: readonly StoreKind[] = ['sqlite', 'postgres'];

/** The stores named by `value` (comma-separated), or both when it is unset or empty. */
export function storeKindsFrom(value: string | undefined): StoreKind[] {
  const names = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) return [...ALL_KINDS];
  for (const n of names) {
    if (!ALL_KINDS.includes(n as StoreKind))
      throw new Error(`SESAME_TEST_STORES: unknown store "${n}" (expected ${ALL_KINDS.join(', ')})`);
  }
  return ALL_KINDS.filter((k) => names.includes(k));
}

/** The stores this run proves things on: both, unless SESAME_TEST_STORES narrows them. */
export const STORE_KINDS: StoreKind[] = storeKindsFrom(process.env.SESAME_TEST_STORES);

/** Whether this run includes PostgreSQL: suites about PostgreSQL alone register only then. */
export const WITH_POSTGRES = STORE_KINDS.includes('postgres');

/**
 * `kind` when this run includes it, otherwise SQLite: a suite that runs on PostgreSQL to cover it
 * over HTTP (and would pass on either store) runs on SQLite in the fast tier.
 */
export function storeOr(kind: StoreKind): StoreKind {
  return STORE_KINDS.includes(kind) ? kind : 'sqlite';
}

export interface TestStore {
  kind: StoreKind;
  dataDir: string;
  databaseUrl: string;
  config(overrides?: Partial<Config>): Readonly<Config>;
  dispose(): Promise<void>;
}

export async function makeTestStore(kind: StoreKind): Promise<TestStore> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-t-'));
  const db = kind === 'postgres' ? await createTestDatabase() : undefined;
  const databaseUrl = db?.url ?? '';
  return {
    kind,
    dataDir,
    databaseUrl,
    config: (overrides = {}) =>
      loadConfig({ SESAME_DATA_DIR: dataDir, DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent' }, overrides),
    async dispose() {
      await db?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
