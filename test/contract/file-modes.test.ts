/**
 * Issue #16, item 6: the data folder is 0700 and every file in it 0600 (the SQLite store, its -wal
 * and -shm, secrets.json, the development outbox), whatever existed before: in a fresh folder, and
 * in an existing 0755 folder holding a 0644 store (what an older Sesame or a copy by hand left),
 * which is narrowed at open with a warning naming what changed. On both stores (with PostgreSQL
 * the folder still holds the keys).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { createContext } from '../../src/app/context.js';
import { loadConfig } from '../../src/config/config.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { openStore } from '../../src/storage/db.js';
import { migrateToLatest } from '../../src/storage/migrator.js';
import { testContextOptions } from '../support/hasher.js';
import { makeTestStore, STORE_KINDS, type TestStore } from '../support/stores.js';

const mode = (p: string) => fs.statSync(p).mode & 0o777;
const octal = (m: number) => m.toString(8).padStart(4, '0');

/** Every file and folder under `dir` (itself as '.') with its mode. */
function modes(dir: string): Record<string, string> {
  const out: Record<string, string> = { '.': octal(mode(dir)) };
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d)) {
      const p = path.join(d, name);
      // Folders end in a slash: the -shm may be gone by the time a test looks again.
      const isDir = fs.statSync(p).isDirectory();
      out[path.relative(dir, p) + (isDir ? '/' : '')] = octal(mode(p));
      if (isDir) walk(p);
    }
  };
  walk(dir);
  return out;
}

for (const kind of STORE_KINDS) {
  describe(`file modes in the data folder (${kind})`, () => {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-modes-'));
    // The database (PostgreSQL: a fresh one; SQLite: none, the file is in each test's folder).
    let store: TestStore | undefined;
    let runs = 0;
    const databaseUrl = async () => {
      store ??= await makeTestStore(kind);
      return store.databaseUrl;
    };
    after(async () => {
      await store?.dispose();
      fs.rmSync(scratch, { recursive: true, force: true });
    });

    /** Opens the services on `dataDir` as the server does, writes (so WAL and SHM exist), and returns the modes seen while open. */
    async function run(dataDir: string) {
      const lines: Record<string, unknown>[] = [];
      const config = loadConfig({ SESAME_DATA_DIR: dataDir, DATABASE_URL: await databaseUrl(), LOG_LEVEL: 'warn' });
      // The context logs to stdout: caught here for the warning.
      const write = process.stdout.write.bind(process.stdout);
      process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
        const s = chunk.toString();
        if (s.startsWith('{"level"')) {
          for (const l of s.split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
          return true;
        }
        return write(chunk, ...(rest as []));
      }) as typeof process.stdout.write;
      let ctx;
      try {
        ctx = await createContext(config, testContextOptions());
      } finally {
        process.stdout.write = write;
      }
      try {
        // A write, so that SQLite has its -wal and -shm (one store may serve two runs: a new name each).
        await ctx.accounts.addOrganization(OPERATOR, `org${++runs}.test`, 'Contoso');
        return { open: modes(dataDir), lines };
      } finally {
        await ctx.close();
      }
    }

    it('a fresh folder: 0700, and every file 0600 (with -wal and -shm while open)', async () => {
      const dir = path.join(scratch, 'fresh', 'data');
      const { open, lines } = await run(dir);
      assert.equal(open['.'], '0700');
      assert.equal(open['secrets.json'], '0600');
      if (kind === 'sqlite')
        for (const f of ['sesame.db', 'sesame.db-wal', 'sesame.db-shm']) assert.equal(open[f], '0600', f);
      for (const [f, m] of Object.entries(open)) assert.equal(m, f === '.' || f.endsWith('/') ? '0700' : '0600', f);
      assert.equal(lines.filter((l) => l.code === 'file_modes_fixed').length, 0, 'nothing to fix: no warning');
      assert.equal(modes(dir)['.'], '0700');
    });

    it('an existing 0755 folder with a 0644 store and keys: all narrowed at open, with one warning naming them', async () => {
      const dir = path.join(scratch, 'old');
      // An older Sesame's folder: made, then the store created with the usual umask.
      {
        const config = loadConfig({ SESAME_DATA_DIR: dir, DATABASE_URL: await databaseUrl(), LOG_LEVEL: 'silent' });
        const ctx = await createContext(config, testContextOptions());
        await ctx.close();
      }
      fs.chmodSync(dir, 0o755);
      for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o644);
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'left by hand\n', { mode: 0o644 });
      fs.chmodSync(path.join(dir, 'notes.txt'), 0o644);
      fs.mkdirSync(path.join(dir, 'sub'), { mode: 0o755 });
      fs.chmodSync(path.join(dir, 'sub'), 0o755);
      if (kind === 'sqlite') assert.equal(octal(mode(path.join(dir, 'sesame.db'))), '0644');

      const { open, lines } = await run(dir);
      for (const [f, m] of Object.entries(open)) assert.equal(m, f === '.' || f.endsWith('/') ? '0700' : '0600', f);
      if (kind === 'sqlite')
        for (const f of ['sesame.db', 'sesame.db-wal', 'sesame.db-shm']) assert.equal(open[f], '0600', f);
      const warned = lines.filter((l) => l.code === 'file_modes_fixed');
      assert.equal(warned.length, 1, JSON.stringify(lines));
      assert.equal(warned[0]!.level, 40);
      const fixed = (warned[0]!.fixed as string[]).join('\n');
      assert.match(fixed, new RegExp(`${dir.replace(/[/.]/g, '\\$&')}: 0755 -> 0700`));
      assert.match(fixed, /secrets\.json: 0644 -> 0600/);
      assert.match(fixed, /notes\.txt: 0644 -> 0600/);
      if (kind === 'sqlite') assert.match(fixed, /sesame\.db: 0644 -> 0600/);
    });

    if (kind === 'sqlite')
      it('openStore alone (sesame migrate) in an existing 0755 folder: the new store, its -wal and -shm are 0600', async () => {
        const dir = path.join(scratch, 'existing');
        fs.mkdirSync(dir, { mode: 0o755 });
        fs.chmodSync(dir, 0o755);
        const fixed: string[] = [];
        const store = openStore({ dataDir: dir, databaseUrl: '', onFixed: (f) => fixed.push(...f) });
        try {
          await migrateToLatest(store.db);
          const m = modes(dir);
          assert.deepEqual(
            { dir: m['.'], db: m['sesame.db'], wal: m['sesame.db-wal'], shm: m['sesame.db-shm'] },
            { dir: '0700', db: '0600', wal: '0600', shm: '0600' },
          );
          assert.deepEqual(fixed, [`${dir}: 0755 -> 0700`]);
        } finally {
          await store.close();
        }
      });
  });
}
