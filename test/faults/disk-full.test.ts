/**
 * A full disk (issue #6 item 4): the real server with its SQLite data folder on a tiny file system
 * of its own (tmpfs, mounted by this test as root), which the test then fills to the last byte.
 * Proven: a write (adding a user through the API, and through the admin page in Dutch) is refused
 * with the stable code `store_full` (507) and the translated message, with one operator log line
 * that names the cause; the process keeps running (and keeps answering what it can read); once
 * space is freed, the same process writes again.
 *
 * Needs root (mount). Anywhere else the test is skipped and says why: a full disk cannot be made
 * for a test without a file system of its own.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { createContext } from '../../src/app/context.js';
import { loadConfig } from '../../src/config/config.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { STORE_FAULT_LOG } from '../../src/storage/store-faults.js';
import { adminApiToken, signInAdminWithMfa } from '../support/admin-mfa.js';
import { FetchBrowser } from '../support/fetch-browser.js';
import { freePort, serverEnv, startServer, type StartedServer } from '../support/processes.js';
import type { ApiAnswer } from '../support/api-answer.js';

const ADMIN = { address: 'ada@full.test', password: 'violet-harbour-lantern-42', name: 'Ada Admin' };
const SIZE = '8m';

/** Mounts a tmpfs of SIZE on a new folder; the reason it cannot, if it cannot. */
function mountTiny(): { dir: string } | { skip: string } {
  if (process.getuid?.() !== 0)
    return { skip: 'mounting a small file system needs root (run the suite as root, as CI does)' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${SIZE},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
    // Should the test process die before its after hook, the mount must not stay behind.
    process.once('exit', () => {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
        fs.rmSync(dir, { recursive: true, force: true });
      } catch {
        // already unmounted by the after hook
      }
    });
    return { dir };
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    return { skip: `mount -t tmpfs failed here: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** Writes a file until the file system has no byte left; returns its path. */
function fill(dir: string): string {
  const file = path.join(dir, 'filler');
  const fd = fs.openSync(file, 'w');
  try {
    for (const size of [1 << 20, 1 << 16, 1 << 12, 1 << 8, 1]) {
      const buf = Buffer.alloc(size, 0x5a);
      for (;;) {
        try {
          if (fs.writeSync(fd, buf) < size) break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw e;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

const mounted = mountTiny();

describe('a full disk under the SQLite store', {
  timeout: 60_000,
  skip: 'skip' in mounted ? mounted.skip : false,
}, () => {
  const mountDir = 'dir' in mounted ? mounted.dir : '';
  const dataDir = path.join(mountDir, 'data');
  let server: StartedServer | undefined;
  let base = '';
  let token = '';
  let filler = '';
  let outbox = '';

  before(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const ctx = await createContext(loadConfig({ SESAME_DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'silent' }));
    try {
      await ctx.accounts.addOrganization(OPERATOR, 'full.test', 'Full');
      await ctx.accounts.addUser(OPERATOR, { ...ADMIN, role: 'admin' });
    } finally {
      await ctx.close();
    }
    // Development messages go elsewhere: only the store is on the small file system.
    outbox = path.join(os.tmpdir(), `sesame-full-outbox-${port}.jsonl`);
    server = await startServer({ env: serverEnv(dataDir, port, { SESAME_DEV_OUTBOX: outbox }), pollMs: 50 });
  });

  after(async () => {
    try {
      await server?.stop();
    } finally {
      if (outbox) fs.rmSync(outbox, { force: true });
      if (mountDir) {
        try {
          execFileSync('umount', [mountDir], { stdio: 'pipe' });
        } catch {
          execFileSync('umount', ['-l', mountDir], { stdio: 'pipe' });
        }
        fs.rmSync(mountDir, { recursive: true, force: true });
      }
    }
  });

  const api = async (method: string, url: string, body?: object) => {
    const r = await fetch(`${base}/api/v1${url}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(15_000),
    });
    return { status: r.status, json: (await r.json().catch(() => ({}))) as ApiAnswer };
  };
  const errorLines = (from: number) =>
    server!
      .output()
      .slice(from)
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string; code?: string; detail?: string })
      .filter((l) => l.level >= 50);

  it('refuses writes with store_full (507, translated, one log line), keeps running, and writes again once space is freed', async () => {
    token = await adminApiToken(base, ADMIN);
    const admin = new FetchBrowser(base, 'nl');
    await signInAdminWithMfa(admin, ADMIN);
    assert.equal((await admin.get('/admin/users')).status, 200);

    // The write-ahead log is emptied first, so the next write needs new space at once (SQLite
    // reuses a log file's space after a checkpoint, which would let a few writes through).
    const side = new SQLite(path.join(dataDir, 'sesame.db'));
    side.pragma('wal_checkpoint(TRUNCATE)');
    side.close();
    filler = fill(mountDir);
    const free = fs.statfsSync(mountDir);
    assert.equal(free.bavail, 0, 'the file system is full');

    // Adding users until one is refused: the first normally is; any that fit in space already held must succeed.
    const from = server!.output().length;
    let refused: { status: number; json: ApiAnswer } | undefined;
    let accepted = 0;
    for (let i = 0; i < 50 && !refused; i++) {
      const r = await api('POST', '/users', { address: `user${i}@full.test` });
      if (r.status === 201) accepted++;
      else refused = r;
    }
    assert.ok(refused, 'a write is refused on a full disk');
    assert.equal(refused.status, 507, JSON.stringify(refused.json));
    assert.deepEqual(refused.json, {
      error: {
        code: 'store_full',
        message: 'Sesame cannot save anything right now because its storage is full. Please tell your administrator.',
      },
    });
    // The log line travels through the child's stdout pipe: it may arrive just after the answer.
    for (let waited = 0; errorLines(from).length === 0 && waited < 3_000; waited += 50)
      await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 200));
    const lines = errorLines(from);
    assert.deepEqual(
      lines.map((l) => [l.code, l.msg]),
      [['store_full', STORE_FAULT_LOG.store_full]],
      `one operator line, at error level, that names the cause:\n${server!.output().slice(from)}`,
    );
    assert.match(lines[0]!.detail ?? '', /SQLITE_FULL/);

    // The admin page says it in the visitor's language.
    const page = await admin.submit('/admin/users', '/admin/users', { address: 'paged@full.test', name: 'Paged' });
    assert.equal(page.status, 507);
    assert.match(page.body, /Sesame kan nu niets opslaan omdat de opslag vol is\. Laat het uw beheerder weten\./);

    // Still the same process, answering what needs no new space.
    assert.equal(server!.child.exitCode, null, 'the server keeps running');
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await api('GET', '/me')).status, 200, 'reads still work');

    // Space is freed: the same process writes again.
    fs.rmSync(filler);
    const again = await api('POST', '/users', { address: 'after@full.test' });
    assert.equal(again.status, 201, JSON.stringify(again.json));
    const added = await admin.submit('/admin/users', '/admin/users', { address: 'paged@full.test', name: 'Paged' });
    assert.equal(added.status, 303, 'post/redirect/get');
    const paged = await admin.get(String(added.headers.get('location')));
    assert.equal(paged.status, 200);
    assert.match(paged.body, /paged@full\.test/);
    console.log(
      `full disk: ${accepted} write(s) fitted in space already held, then 507 store_full; after freeing space the same process (pid ${server!.child.pid}) wrote again`,
    );
  });
});
