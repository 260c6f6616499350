/**
 * Runs a suite once per store: SQLite in a fresh temporary folder and PostgreSQL in a fresh
 * database. Contract tests call `forEachStore` so every storage behaviour is proven on both.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config/config.js';
import { createTestDatabase } from './postgres.js';

export type StoreKind = 'sqlite' | 'postgres';
export const STORE_KINDS: StoreKind[] = ['sqlite', 'postgres'];

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
