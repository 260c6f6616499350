/**
 * Throwaway PostgreSQL databases for tests. `npm test` (scripts/test.sh) starts a real cluster on
 * loopback and exports SESAME_TEST_PG_URL; each test file gets its own database in it, dropped
 * afterwards. Without that variable the PostgreSQL tests fail loudly: they are never skipped.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export function adminUrl(): string {
  const url = process.env.SESAME_TEST_PG_URL;
  if (!url) {
    throw new Error(
      'SESAME_TEST_PG_URL is not set: run the suite with `npm test`, which starts a PostgreSQL cluster on loopback',
    );
  }
  return url;
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const admin = adminUrl();
  const name = `t_${randomBytes(6).toString('hex')}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    async drop() {
      const c2 = new pg.Client({ connectionString: admin });
      await c2.connect();
      await c2.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c2.end();
    },
  };
}
