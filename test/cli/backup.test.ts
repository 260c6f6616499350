/**
 * `sesame backup` and `sesame restore`, for real: the server (`node dist/src/main.js`) on SQLite in a
 * temporary folder on a free loopback port, the CLI (`node bin/sesame.js`) beside it.
 *
 *   - A user with a password registers an authenticator app through the JSON API (codes from
 *     oathtool) and gets an app password; while /auth/basic answers that app password in a loop, the
 *     backup is taken (online). A second app password is made after the backup.
 *   - The backup is restored into a new data folder and a second server started on it: the password
 *     signs in, the TOTP method is still there and a code from its secret verifies, the first app
 *     password is accepted at /auth/basic and the later one is not.
 *   - Refusals change nothing: restore into a folder that holds a store (and with --force while a
 *     server has it open), truncated and corrupted archives, a backup over an existing file.
 *   - Keys given by environment stay out of the archive and restore insists on the same keys;
 *     PostgreSQL is refused (secrets only on request); an older store is migrated on restore and a
 *     newer one refused.
 * Everything started is stopped and the temporary folder removed in `after`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Kysely, SqliteDialect, sql } from 'kysely';
import SQLite from 'better-sqlite3';
import { createContext } from '../../src/app/context.js';
import { loadConfig } from '../../src/config/config.js';
import { loadSecrets } from '../../src/config/secrets.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { createBackup, restoreBackup, BackupError } from '../../src/storage/backup.js';
import { MIGRATIONS, migrateUp } from '../../src/storage/migrator.js';
import { freePort, requireBuild, ROOT, serverEnv, startServer, type StartedServer } from '../support/processes.js';
import { oathtoolTotp } from '../support/world.js';
import type { ApiAnswer } from '../support/api-answer.js';

const USER = { address: 'bob@contoso.test', password: 'quiet-meadow-copper-77', name: 'Bob Builder' };

interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** Runs `node bin/sesame.js ...args` and resolves with its exit code and output, whatever the code. */
function sesame(env: NodeJS.ProcessEnv, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/sesame.js', ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
/** Every file under `dir` with its SHA-256: a folder that "changed nothing" compares equal. */
function snapshot(dir: string): Record<string, string> {
  if (!fs.existsSync(dir)) return {};
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = path.join(e.parentPath, e.name);
    out[path.relative(dir, p)] = e.isFile() ? sha(p) : 'dir';
  }
  return out;
}

describe('sesame backup and restore on SQLite, with the server running', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-backup-'));
  const dataA = path.join(root, 'a');
  const dataB = path.join(root, 'restored');
  const archive = path.join(root, 'sesame.backup.tar');
  let envA: NodeJS.ProcessEnv;
  let envB: NodeJS.ProcessEnv;
  let serverA: StartedServer | undefined;
  let serverB: StartedServer | undefined;
  let totpSecret = '';
  let appPassword = '';
  let sessionToken = '';
  let lateAppPassword = '';

  const api = async (base: string, url: string, body: object, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}/api/v1${url}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as ApiAnswer };
  };
  const authBasic = async (base: string, password: string) => {
    const res = await fetch(`${base}/auth/basic`, { headers: { authorization: basic(USER.address, password) } });
    await res.arrayBuffer();
    return res.status;
  };

  before(async () => {
    requireBuild();
    envA = serverEnv(dataA, await freePort());
    envB = serverEnv(dataB, await freePort());
    // The organization and the user are made before the server starts, on the same data folder.
    const ctx = await createContext(loadConfig(envA));
    try {
      await ctx.accounts.addOrganization(OPERATOR, 'contoso.test', 'Contoso');
      await ctx.accounts.addUser(OPERATOR, { ...USER, role: 'user' });
      await ctx.mfaAdmin.setUserState(OPERATOR, USER.address, 'enabled');
    } finally {
      await ctx.close();
    }
    serverA = await startServer({ env: envA });
    // Registration as a client does it: password, authenticator app, the app password, recovery codes.
    const A = serverA.base;
    const start = await api(A, '/sessions', { email: USER.address, password: USER.password });
    assert.equal(start.json.state, 'more_info_required', JSON.stringify(start.json));
    const flow = { 'x-sesame-flow': start.json.token as string };
    assert.equal((await api(A, '/flow/setup', {}, flow)).json.state, 'choose_method');
    const enrol = await api(A, '/flow/method', { kind: 'totp' }, flow);
    totpSecret = enrol.json.prompt!.secret;
    assert.equal(
      (await api(A, '/flow/verify', { code: oathtoolTotp(totpSecret, Date.now()) }, flow)).json.state,
      'enrolled',
    );
    const keep = await api(A, '/flow/next', {}, flow);
    assert.equal(keep.json.state, 'app_password');
    appPassword = keep.json.appPassword!.password;
    assert.equal((await api(A, '/flow/next', {}, flow)).json.state, 'recovery_codes');
    const done = await api(A, '/flow/done', {}, flow);
    assert.equal(done.status, 201);
    sessionToken = done.json.token as string;
    assert.equal(await authBasic(A, appPassword), 200);
  });

  after(async () => {
    await serverA?.stop();
    await serverB?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('backs up while the server keeps answering /auth/basic, into a file of mode 0600', async () => {
    let stop = false;
    const statuses: number[] = [];
    const loop = (async () => {
      while (!stop) statuses.push(await authBasic(serverA!.base, appPassword));
    })();
    try {
      while (statuses.length < 5) await new Promise((r) => setTimeout(r, 10));
      const before = statuses.length;
      const r = await sesame(envA, ['backup', archive]);
      const during = statuses.length - before;
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, new RegExp(`^backup written to ${archive.replace(/[.]/g, '\\.')} \\(`));
      assert.match(r.out, /store: consistent SQLite snapshot, .*integrity ok/);
      assert.match(r.out, /server secrets: hashKey, cookieKey, encryptionKey/);
      assert.ok(during > 0, 'the server answered legacy requests while the backup ran');
    } finally {
      stop = true;
      await loop;
    }
    assert.ok(
      statuses.every((s) => s === 200),
      `every legacy request succeeded: ${[...new Set(statuses)].join(',')}`,
    );
    assert.equal(fs.statSync(archive).mode & 0o777, 0o600);
    const late = await api(
      serverA!.base,
      '/me/app-passwords',
      { name: 'Made after the backup' },
      { authorization: `Bearer ${sessionToken}` },
    );
    assert.equal(late.status, 201, JSON.stringify(late.json));
    lateAppPassword = late.json.password as string;
    assert.equal(await authBasic(serverA!.base, lateAppPassword), 200);
  });

  it('refuses to write over an existing file, and leaves it as it was', async () => {
    const before = sha(archive);
    const r = await sesame(envA, ['backup', archive]);
    assert.equal(r.code, 1);
    assert.match(r.err, /already exists; choose another name, or add --force/);
    assert.equal(sha(archive), before);
  });

  it('restores into a new data folder where users, methods and app passwords work', async () => {
    const r = await sesame(envB, ['restore', archive]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^restored .* into .*restored\n/);
    assert.match(r.out, /integrity ok/);
    assert.doesNotMatch(
      r.out + r.err,
      new RegExp(loadSecrets(dataA).hashKey.toString('base64').slice(0, 12).replace(/[+/]/g, '.')),
      'no key is printed',
    );
    assert.equal(fs.statSync(path.join(dataB, 'secrets.json')).mode & 0o777, 0o600);
    assert.deepEqual(loadSecrets(dataB), loadSecrets(dataA));
    serverB = await startServer({ env: envB });
    const B = serverB.base;
    // The password is accepted, and the TOTP method is asked for: it came along.
    const signIn = await api(B, '/sessions', { email: USER.address, password: USER.password });
    assert.equal(signIn.status, 200);
    assert.equal(signIn.json.state, 'second_factor', JSON.stringify(signIn.json));
    assert.equal(signIn.json.current?.kind, 'totp');
    // The seed decrypts under the restored key: a code one step ahead (the enrolment used this one) verifies.
    const verified = await api(
      B,
      '/flow/verify',
      { code: oathtoolTotp(totpSecret, Date.now() + 30_000) },
      { 'x-sesame-flow': signIn.json.token as string },
    );
    assert.equal(verified.status, 201, JSON.stringify(verified.json));
    assert.equal(await authBasic(B, appPassword), 200, 'the app password from before the backup');
    assert.equal(await authBasic(B, lateAppPassword), 401, 'the app password made after the backup');
    assert.equal(await authBasic(B, 'wrong wrong wrong'), 401);
  });

  it('refuses a data folder that holds a store, and with --force while a server has it open', async () => {
    const before = fs.readdirSync(dataB).sort();
    const secrets = sha(path.join(dataB, 'secrets.json'));
    const plain = await sesame(envB, ['restore', archive]);
    assert.equal(plain.code, 1);
    assert.match(plain.err, /already holds a store .*add --force/);
    const forced = await sesame(envB, ['restore', '--force', archive]);
    assert.equal(forced.code, 1);
    assert.match(forced.err, /is in use .*stop the server/);
    assert.deepEqual(fs.readdirSync(dataB).sort(), before);
    assert.equal(sha(path.join(dataB, 'secrets.json')), secrets);
    assert.equal(await authBasic(serverB!.base, appPassword), 200, 'the server kept serving');
  });

  it('refuses truncated and corrupted archives with a clear message, changing nothing', async () => {
    await serverB!.stop();
    serverB = undefined;
    const whole = fs.readFileSync(archive);
    const truncated = path.join(root, 'truncated.tar');
    fs.writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length / 2)));
    const corrupted = path.join(root, 'corrupted.tar');
    const flipped = Buffer.from(whole);
    flipped.writeUInt8(flipped.readUInt8(whole.length - 4096) ^ 0xff, whole.length - 4096); // inside sesame.db, the last member
    fs.writeFileSync(corrupted, flipped);
    const notBackup = path.join(root, 'notes.txt');
    fs.writeFileSync(notBackup, 'not a backup\n'.repeat(100));
    const fresh = path.join(root, 'never');
    const envC = serverEnv(fresh, 1);
    const stored = snapshot(dataB);
    for (const [file, message] of [
      [truncated, /is truncated \(it ends inside sesame\.db\): it cannot be restored/],
      [corrupted, /is damaged \(sesame\.db does not match the checksum in its manifest\)/],
      [notBackup, /is not a Sesame backup/],
    ] as const) {
      const intoNew = await sesame(envC, ['restore', file]);
      assert.equal(intoNew.code, 1, intoNew.out);
      assert.match(intoNew.err, message);
      assert.equal(intoNew.err.trim().split('\n').length, 1);
      assert.equal(fs.existsSync(fresh), false, 'no data folder is left behind');
      const overOld = await sesame(envB, ['restore', '--force', file]);
      assert.equal(overOld.code, 1);
      assert.match(overOld.err, message);
      assert.deepEqual(snapshot(dataB), stored, 'the existing store is untouched');
    }
  });

  it('with --force on a stopped server, replaces the store and keeps the old one aside', async () => {
    const r = await sesame(envB, ['restore', '--force', archive]);
    assert.equal(r.code, 0, r.err);
    const aside = /the store it replaced is in (.+)$/m.exec(r.out)?.[1];
    assert.ok(
      aside && fs.existsSync(path.join(aside, 'sesame.db')) && fs.existsSync(path.join(aside, 'secrets.json')),
      r.out,
    );
    serverB = await startServer({ env: envB });
    assert.equal(await authBasic(serverB.base, appPassword), 200);
  });
});

describe('sesame backup and restore: keys from the environment, PostgreSQL, schema versions', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-backup-keys-'));
  after(() => fs.rmSync(root, { recursive: true, force: true }));
  const env = (dataDir: string, extra: NodeJS.ProcessEnv = {}) =>
    serverEnv(dataDir, 1, { LOG_LEVEL: 'silent', ...extra });

  it('leaves keys given by environment out of the archive, and restore insists on the same keys', async () => {
    const hashKey = randomBytes(32).toString('base64');
    const src = path.join(root, 'env-src');
    assert.equal((await sesame(env(src, { SESAME_HASH_KEY: hashKey }), ['org', 'add', 'contoso.test'])).code, 0);
    const file = path.join(root, 'env.tar');
    const b = await sesame(env(src, { SESAME_HASH_KEY: hashKey }), ['backup', file]);
    assert.equal(b.code, 0, b.err);
    assert.match(b.out, /server secrets: cookieKey, encryptionKey/);
    assert.match(b.out, /not in the backup: SESAME_HASH_KEY \(set in the environment\)/);
    assert.doesNotMatch(b.out, new RegExp(hashKey.slice(0, 16).replace(/[+/]/g, '.')));
    const dst = path.join(root, 'env-dst');
    const without = await sesame(env(dst), ['restore', file]);
    assert.equal(without.code, 1);
    assert.match(
      without.err,
      /made with SESAME_HASH_KEY from the environment and does not contain it: set SESAME_HASH_KEY/,
    );
    const wrong = await sesame(env(dst, { SESAME_HASH_KEY: randomBytes(32).toString('base64') }), ['restore', file]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /SESAME_HASH_KEY is not the key this backup was made with .*app passwords/);
    const wrongFileKey = await sesame(
      env(dst, { SESAME_HASH_KEY: hashKey, SESAME_ENCRYPTION_KEY: randomBytes(32).toString('base64') }),
      ['restore', file],
    );
    assert.equal(wrongFileKey.code, 1);
    assert.match(wrongFileKey.err, /SESAME_ENCRYPTION_KEY is set and is not the key in this backup .*TOTP/);
    assert.equal(fs.existsSync(dst), false);
    const ok = await sesame(env(dst, { SESAME_HASH_KEY: hashKey }), ['restore', file]);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /checked to match the backup: SESAME_HASH_KEY/);
    assert.deepEqual(Object.keys(JSON.parse(fs.readFileSync(path.join(dst, 'secrets.json'), 'utf8'))).sort(), [
      'cookieKey',
      'encryptionKey',
    ]);
  });

  it('with DATABASE_URL refuses to pretend, and writes the server secrets alone on request', async () => {
    const data = path.join(root, 'pg');
    fs.mkdirSync(data, { mode: 0o700 });
    loadSecrets(data);
    const pg = { DATABASE_URL: 'postgres://sesame@127.0.0.1:1/sesame' };
    const file = path.join(root, 'pg-secrets.tar');
    const refused = await sesame(env(data, pg), ['backup', file]);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /DATABASE_URL is set: .*pg_dump -Fc \(see docs\/backup\.md\).*--secrets-only/);
    assert.equal(fs.existsSync(file), false);
    const secretsOnly = await sesame(env(data, pg), ['backup', '--secrets-only', file]);
    assert.equal(secretsOnly.code, 0, secretsOnly.err);
    assert.match(secretsOnly.out, /store: not included \(--secrets-only\)/);
    const other = path.join(root, 'pg-other');
    const restored = await sesame(env(other, pg), ['restore', file]);
    assert.equal(restored.code, 0, restored.err);
    assert.deepEqual(fs.readdirSync(other), ['secrets.json']);
    assert.deepEqual(loadSecrets(other), loadSecrets(data));
    const full = path.join(root, 'sqlite.tar');
    const sqliteData = path.join(root, 'sqlite');
    assert.equal((await sesame(env(sqliteData), ['org', 'add', 'contoso.test'])).code, 0);
    assert.equal((await sesame(env(sqliteData), ['backup', full])).code, 0);
    const intoPg = await sesame(env(path.join(root, 'pg-3'), pg), ['restore', full]);
    assert.equal(intoPg.code, 1);
    assert.match(intoPg.err, /holds a SQLite store, and DATABASE_URL is set: .*pg_restore/);
  });

  /** A SQLite store with the first `steps` migrations applied, plus `extra` rows in the migration table. */
  async function storeAt(dir: string, steps: number, extra: string[] = []): Promise<void> {
    fs.mkdirSync(dir, { mode: 0o700 });
    loadSecrets(dir, {});
    const db = new Kysely<unknown>({
      dialect: new SqliteDialect({ database: new SQLite(path.join(dir, 'sesame.db')) }),
    });
    try {
      for (let i = 0; i < steps; i++) await migrateUp(db);
      for (const name of extra)
        await sql`INSERT INTO kysely_migration (name, timestamp) VALUES (${name}, ${new Date().toISOString()})`.execute(
          db,
        );
    } finally {
      await db.destroy();
    }
  }

  it('brings an older store up to date on restore, and refuses one newer than this version', async () => {
    const names = Object.keys(MIGRATIONS);
    const old = path.join(root, 'old');
    await storeAt(old, 3);
    const oldFile = path.join(root, 'old.tar');
    createBackup({ dataDir: old, databaseUrl: '', file: oldFile, env: {} });
    const restored = await restoreBackup({
      dataDir: path.join(root, 'old-restored'),
      databaseUrl: '',
      file: oldFile,
      env: {},
    });
    assert.deepEqual(restored.store?.migrations, names.slice(0, 3));
    assert.deepEqual(restored.store?.applied, names.slice(3));
    const check = new SQLite(path.join(root, 'old-restored', 'sesame.db'), { readonly: true });
    try {
      assert.deepEqual(check.prepare('SELECT name FROM kysely_migration ORDER BY name').pluck().all(), names);
      assert.equal(check.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      check.close();
    }
    const future = path.join(root, 'future');
    await storeAt(future, names.length, ['2999-01-01-01-from-the-future']);
    const futureFile = path.join(root, 'future.tar');
    createBackup({ dataDir: future, databaseUrl: '', file: futureFile, env: {} });
    const target = path.join(root, 'future-restored');
    await assert.rejects(
      restoreBackup({ dataDir: target, databaseUrl: '', file: futureFile, env: {} }),
      (e: unknown) =>
        e instanceof BackupError &&
        /newer schema than this version of Sesame knows \(2999-01-01-01-from-the-future\)/.test(e.message),
    );
    assert.equal(fs.existsSync(target), false);
  });
});
