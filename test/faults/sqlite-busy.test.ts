/**
 * SQLite busy or locked (issue #6 item 4): another process (the CLI, a maintenance script) holds
 * the database's write lock. Sesame's connections wait for it (busy_timeout, on every connection)
 * rather than fail; writes in a transaction take the write lock at BEGIN, so they wait too instead
 * of failing at once when they reach their first write. Held longer than the timeout, the write
 * fails with the typed `store_busy` (503, translated, one operator log line), the legacy endpoints
 * answer "temporary failure", never "wrong", and everything works again once the lock is gone.
 *
 * The lock is held by a child process, never by this one: better-sqlite3 waits synchronously, so a
 * holder in this process could not let go while Sesame waits.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type SQLite from 'better-sqlite3';
import { CompiledQuery, sql } from 'kysely';
import { createContext, type AppContext } from '../../src/app/context.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { User } from '../../src/domain/accounts/model.js';
import { buildApp } from '../../src/app/server.js';
import { STORE_FAULT_LOG } from '../../src/storage/store-faults.js';
import { adminApiToken } from '../support/admin-mfa.js';
import { ROOT } from '../support/processes.js';
import { makeTestStore, type TestStore } from '../support/stores.js';
import { ADMIN, Browser, USER } from '../support/world.js';

/** What db.ts sets: how long a connection waits for another's lock. */
const BUSY_TIMEOUT_MS = 5_000;

/**
 * Holds the write lock of `file` from a child process: BEGIN IMMEDIATE and a write, until `holdMs`
 * has passed (its own timer: this process may be blocked waiting) or release() is called.
 */
async function holdWriteLock(file: string, holdMs = 0) {
  const script = `
    const Database = require('better-sqlite3');
    const [file, holdMs] = process.argv.slice(1);
    const db = new Database(file, { timeout: 10000 });
    db.exec('BEGIN IMMEDIATE');
    db.prepare("INSERT INTO rate_limits (key, points, expire) VALUES ('fault-holder', 1, NULL) ON CONFLICT (key) DO UPDATE SET points = points + 1").run();
    process.stdout.write('locked\\n');
    let done = false;
    const release = () => {
      if (done) return;
      done = true;
      db.exec('COMMIT');
      db.close();
      process.stdout.write('released\\n');
      process.exit(0);
    };
    if (Number(holdMs) > 0) setTimeout(release, Number(holdMs));
    setTimeout(release, 50000); // never outlive a test that forgot to let go
    process.stdin.on('data', release);
    process.stdin.on('end', release);
  `;
  const child: ChildProcess = spawn(process.execPath, ['-e', script, file, String(holdMs)], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const released = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('locked')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the lock holder exited (${code}) before locking: ${err}`)));
  });
  return {
    released,
    release: async () => {
      child.stdin!.end('release\n');
      await released;
    },
    kill: () => child.kill('SIGKILL'),
  };
}

describe('SQLite busy or locked by another process', { timeout: 60_000 }, () => {
  let store: TestStore;
  let ctx: AppContext;
  let app: Awaited<ReturnType<typeof buildApp>>;
  let file = '';
  let key = '';
  let token = '';
  let bob: User;
  let appPassword = '';
  const holders: { kill(): void }[] = [];
  const lines: { level: number; msg: string; code?: string }[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean))
        lines.push(JSON.parse(l) as { level: number; msg: string });
      cb();
    },
  });

  before(async () => {
    store = await makeTestStore('sqlite');
    ctx = await createContext(
      store.config({
        logLevel: 'info',
        accountFailureLimit: 100,
        ipFailureLimit: 100000,
        mailBackendImap: '127.0.0.1:10143',
      }),
    );
    file = path.join(store.dataDir, 'sesame.db');
    await ctx.accounts.addOrganization(OPERATOR, 'contoso.test', 'Contoso');
    await ctx.accounts.addUser(OPERATOR, { ...ADMIN, role: 'admin' });
    bob = await ctx.accounts.addUser(OPERATOR, { ...USER, role: 'user' });
    await ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enforced');
    appPassword = (await ctx.appPasswords.create(bob, null, 'Phone', { ip: '127.0.0.1', locale: 'en' })).password;
    key = (await ctx.integrations.add('dovecot')).key;
    app = await buildApp(ctx, { logStream: stream });
    token = await adminApiToken(app, ADMIN);
  });

  after(async () => {
    for (const h of holders) h.kill();
    // The last good password came from a new IP: its notice email is written in the background.
    await new Promise((r) => setTimeout(r, 300));
    await app?.close();
    await ctx?.close();
    await store?.dispose();
  });

  const addUser = (address: string) =>
    app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: { authorization: `Bearer ${token}` },
      payload: { address },
    });
  const mail = (password: string) =>
    app.inject({
      method: 'POST',
      url: '/auth/mail',
      headers: { authorization: `Bearer ${key}` },
      payload: { user: USER.address, password, service: 'imap', remoteIp: '198.51.100.9' },
    });
  const nginx = (password: string) =>
    app.inject({
      method: 'GET',
      url: '/auth/nginx-mail',
      headers: {
        authorization: `Bearer ${key}`,
        'auth-method': 'plain',
        'auth-user': encodeURIComponent(USER.address),
        'auth-pass': encodeURIComponent(password),
        'auth-protocol': 'imap',
        'auth-login-attempt': '1',
        'client-ip': '198.51.100.9',
      },
    });
  const timed = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
    const t0 = Date.now();
    const r = await f();
    return [r, Date.now() - t0];
  };

  it('sets busy_timeout on every connection: the main one, the rate limiter’s and the hot-path reader', async () => {
    const main = await sql<{ timeout: number }>`pragma busy_timeout`.execute(ctx.store.db);
    assert.deepEqual(main.rows, [{ timeout: BUSY_TIMEOUT_MS }], 'main (Kysely) connection');
    assert.equal(
      (ctx.store.limiterClient as SQLite.Database).pragma('busy_timeout', { simple: true }),
      BUSY_TIMEOUT_MS,
      'rate-limiter connection',
    );
    assert.deepEqual(
      await ctx.store.readHot(
        'fault_busy_timeout',
        CompiledQuery.raw('pragma busy_timeout') as CompiledQuery<{ timeout: number }>,
      ),
      [{ timeout: BUSY_TIMEOUT_MS }],
      'read-only hot-path connection',
    );
  });

  it('a write waits for a lock held shorter than the busy timeout, and succeeds (also inside a transaction)', async () => {
    let h = await holdWriteLock(file, 1_500);
    holders.push(h);
    const [created, waited] = await timed(() => addUser('carol@contoso.test'));
    assert.equal(created.statusCode, 201, created.body);
    assert.ok(waited >= 1_000 && waited < BUSY_TIMEOUT_MS, `the API write waited for the lock (${waited} ms)`);
    await h.released;

    // App-password creation counts and inserts in one transaction: it reads before it writes, so
    // with a deferred BEGIN it would fail at once instead of waiting (SQLite cannot wait there).
    h = await holdWriteLock(file, 1_500);
    holders.push(h);
    const [made, waited2] = await timed(() =>
      ctx.appPasswords.create(bob, null, 'Laptop', { ip: '127.0.0.1', locale: 'en' }),
    );
    assert.ok(made.password);
    assert.ok(waited2 >= 1_000 && waited2 < BUSY_TIMEOUT_MS, `the transaction waited for the lock (${waited2} ms)`);
    await h.released;
    console.log(
      `SQLite lock held 1.5 s: the API write waited ${waited} ms, the transaction ${waited2} ms, and both succeeded`,
    );
  });

  it('held longer than the busy timeout: store_busy (503, translated, one log line), legacy "temporary failure", then recovery', async () => {
    const h = await holdWriteLock(file);
    holders.push(h);
    try {
      // Reads do not wait for a writer (WAL): the API still answers what it can read.
      assert.equal(
        (await app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${token}` } }))
          .statusCode,
        200,
        'reads go on while another process writes',
      );

      const from = lines.length;
      const [refused, waited] = await timed(() => addUser('dave@contoso.test'));
      assert.equal(refused.statusCode, 503, refused.body);
      assert.deepEqual(refused.json(), {
        error: { code: 'store_busy', message: 'Sesame is busy. Please try again in a moment.' },
      });
      assert.equal(refused.headers['retry-after'], '5');
      assert.ok(waited >= BUSY_TIMEOUT_MS - 200, `it waited the busy timeout first (${waited} ms)`);
      const logged = lines.slice(from).filter((l) => l.level >= 50);
      assert.deepEqual(
        logged.map((l) => [l.code, l.msg]),
        [['store_busy', STORE_FAULT_LOG.store_busy]],
        'one operator line, at error level, that names the cause',
      );

      // A page, in Dutch: the sign-in writes (the sign-in log), so it says Sesame is busy.
      const nl = new Browser(app, { 'accept-language': 'nl' });
      const page = await nl.signIn(ADMIN.address, ADMIN.password);
      assert.equal(page.statusCode, 503);
      assert.match(page.body, /Sesame heeft het even te druk\. Probeer het zo nog eens\./);

      // A new wrong password must be remembered and counted (writes): a temporary failure, never "wrong".
      const wrong = await mail('a-new-wrong-password-1');
      assert.equal(wrong.statusCode, 503, wrong.body);
      assert.deepEqual(wrong.json(), { result: 'temporary' });
      const n = await nginx('a-new-wrong-password-2');
      assert.equal(n.headers['auth-status'], 'Temporary server problem, try again later');
      assert.equal(n.headers['auth-wait'], '5');
    } finally {
      await h.release();
    }

    // The lock is gone: the same process writes again, and the legacy answers are right again.
    const created = await addUser('dave@contoso.test');
    assert.equal(created.statusCode, 201, created.body);
    assert.equal((await mail('a-new-wrong-password-1')).json().result, 'wrong');
    assert.equal((await mail(appPassword)).json().result, 'ok');
    assert.equal((await nginx(appPassword)).headers['auth-status'], 'OK');
  });
});
