/**
 * `sesame backup` and `sesame restore`: the SQLite store and the server secrets in one archive.
 *
 * The archive is a plain ustar file (inspect it with `tar -tvf`), mode 0600, of these members in
 * this order: manifest.json (format, time, schema version, sizes and SHA-256 of the others, where
 * each key came from), secrets.json (the keys taken from the data folder's secrets.json, in the same
 * format) and, unless --secrets-only, sesame.db (a consistent snapshot of the store). Without the keys a restored store is
 * of little use: app passwords, session tokens and one-time links are stored as keyed hashes under
 * the hash key, and TOTP seeds are encrypted under the encryption key.
 *
 * The snapshot is taken with `VACUUM INTO`, not better-sqlite3's `db.backup()`: the online backup
 * API restarts from the first page whenever another connection writes, and the server writes all the
 * time (every legacy sign-in queues a log row), so on a busy store it may never finish. VACUUM INTO
 * reads inside one read transaction, which in WAL mode is a snapshot that does not block the
 * server's writers, and writes a compact file with no -wal beside it.
 *
 * Keys given by environment variables are not copied into the archive (the operator keeps them
 * elsewhere on purpose); the manifest records a fingerprint of each, and restore refuses unless the
 * environment then supplies the same key. See docs/backup.md.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { inspectSecrets, previousEnv, type SecretName, type SecretSource } from '../config/secrets.js';
import { MIGRATIONS, migrateToLatest } from './migrator.js';
import { fsyncDir } from '../lib/fsync.js';

const FORMAT = 'sesame-backup';
const VERSION = 1;
const MANIFEST = 'manifest.json';
const SECRETS = 'secrets.json';
const DB = 'sesame.db';
/** Files that make a data folder hold a store: restore will not put a store beside them. */
const STORE_FILES = [DB, `${DB}-wal`, `${DB}-shm`, SECRETS];
const BLOCK = 512;
/** The ustar size field has 11 octal digits. */
const MAX_MEMBER = 8 ** 11 - 1;
/** manifest.json and secrets.json are read into memory; anything larger is not ours. */
const MAX_SMALL = 1 << 20;
const CHUNK = 1 << 20;

/** A refused or failed backup or restore; the message says why and what to do, and never holds a key. */
export class BackupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupError';
  }
}

type KeyName = SecretName;

interface Manifest {
  format: typeof FORMAT;
  version: number;
  createdAt: string;
  store: { kind: 'sqlite'; bytes: number; sha256: string; migrations: string[] } | null;
  secrets: { bytes: number; sha256: string; keys: Partial<Record<KeyName, KeyMeta>> };
}

interface KeyMeta {
  env: string;
  source: 'file' | 'environment';
  fingerprint: string;
  /** Fingerprints of the key's previous keys (after a rotation), newest first; absent when none. */
  previous?: string[];
}

/** secrets.json, in the archive as in the data folder (see config/secrets.ts). */
interface SecretsJson {
  hashKey?: string;
  cookieKey?: string;
  encryptionKey?: string;
  previous?: Partial<Record<KeyName, string[]>>;
}

export interface BackupOptions {
  dataDir: string;
  /** Non-empty: the store is PostgreSQL, which this command refuses to copy (see secretsOnly). */
  databaseUrl: string;
  /** The archive to write. */
  file: string;
  /** Replace `file` if it exists. */
  force?: boolean;
  /** Write the server secrets alone (beside pg_dump, or whenever the store is backed up otherwise). */
  secretsOnly?: boolean;
  env?: Record<string, string | undefined>;
}

export interface BackupResult {
  file: string;
  bytes: number;
  store: { bytes: number; migrations: string[] } | null;
  /** Keys copied into the archive (from `secretsFile`). */
  keysInArchive: KeyName[];
  /** How many previous keys (after a rotation) each key has, where it has any; those from secrets.json are in the archive too. */
  previousKeys: Partial<Record<KeyName, number>>;
  secretsFile: string;
  /** Environment variables whose keys are not in the archive and must be kept with it. */
  keysFromEnvironment: string[];
}

export interface RestoreOptions {
  dataDir: string;
  databaseUrl: string;
  file: string;
  /** Replace a store already in the data folder (it is moved into a subfolder, not deleted). */
  force?: boolean;
  env?: Record<string, string | undefined>;
}

export interface RestoreResult {
  file: string;
  dataDir: string;
  createdAt: string;
  store: { migrations: string[]; applied: string[] } | null;
  keysWritten: KeyName[];
  /** Environment variables checked to hold the keys the backup was made with. */
  keysFromEnvironment: string[];
  /** Where the replaced store went (with --force), or null. */
  movedAside: string | null;
}

/** Not secret: lets restore tell whether a key from the environment is the one the backup needs. */
function fingerprint(key: Buffer): string {
  return createHash('sha256').update('sesame key fingerprint\0').update(key).digest('hex').slice(0, 16);
}

function sha256File(file: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (let n; (n = fs.readSync(fd, buf, 0, CHUNK, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

function sqliteCode(e: unknown): string {
  return typeof (e as { code?: unknown })?.code === 'string' ? (e as { code: string }).code : '';
}

function secretSources(dataDir: string, env: Record<string, string | undefined>): SecretSource[] {
  try {
    return inspectSecrets(dataDir, env);
  } catch (e) {
    // decode() names the variable or file key, never the value; JSON.parse quotes the text, so its message is not passed on.
    const why = e instanceof SyntaxError ? `${path.join(dataDir, SECRETS)} is not valid JSON` : (e as Error).message;
    throw new BackupError(`the server secrets cannot be read: ${why}`);
  }
}

/**
 * Checks a SQLite file (PRAGMA integrity_check) and returns the migrations applied to it, in order.
 * `what` names the file in messages.
 */
function inspectSqlite(file: string, what: string): string[] {
  let db: SQLite.Database | undefined;
  try {
    db = new SQLite(file, { readonly: true, fileMustExist: true });
    const problems = db.prepare('PRAGMA integrity_check').pluck().all() as string[];
    if (problems.length !== 1 || problems[0] !== 'ok')
      throw new BackupError(`${what} fails SQLite's integrity check: ${problems.slice(0, 3).join('; ')}`);
    const tracked = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kysely_migration'").get();
    return tracked ? (db.prepare('SELECT name FROM kysely_migration ORDER BY name').pluck().all() as string[]) : [];
  } catch (e) {
    if (e instanceof BackupError) throw e;
    throw new BackupError(`${what} is not a readable SQLite database (${sqliteCode(e) || (e as Error).message})`);
  } finally {
    db?.close();
  }
}

// ---- ustar -------------------------------------------------------------------------------

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

function tarHeader(name: string, size: number, mtime: number): Buffer {
  if (size > MAX_MEMBER)
    throw new BackupError(`${name} is ${size} bytes; the archive format holds at most 8 GiB per file`);
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(0o600, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(mtime, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write('0', 156, 'ascii');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

const padding = (size: number) => (BLOCK - (size % BLOCK)) % BLOCK;

function writeAll(fd: number, b: Buffer): void {
  for (let off = 0; off < b.length; ) off += fs.writeSync(fd, b, off, b.length - off);
}

type Member = { name: string; data: Buffer } | { name: string; file: string; size: number };

/** Writes the archive to a new file (mode 0600) and syncs it to disk. */
function writeArchive(dest: string, members: Member[]): void {
  const fd = fs.openSync(dest, 'wx', 0o600);
  try {
    const mtime = Math.floor(Date.now() / 1000);
    for (const m of members) {
      const size = 'data' in m ? m.data.length : m.size;
      writeAll(fd, tarHeader(m.name, size, mtime));
      if ('data' in m) {
        writeAll(fd, m.data);
      } else {
        const src = fs.openSync(m.file, 'r');
        try {
          const buf = Buffer.allocUnsafe(CHUNK);
          let left = size;
          while (left > 0) {
            const n = fs.readSync(src, buf, 0, Math.min(CHUNK, left), null);
            if (n === 0) throw new BackupError(`${m.file} shrank while it was being archived`);
            writeAll(fd, buf.subarray(0, n));
            left -= n;
          }
        } finally {
          fs.closeSync(src);
        }
      }
      writeAll(fd, Buffer.alloc(padding(size)));
    }
    writeAll(fd, Buffer.alloc(2 * BLOCK));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads the archive front to back; every shortfall or inconsistency is a BackupError naming the file. */
class ArchiveReader {
  private pos = 0;
  constructor(
    private readonly fd: number,
    private readonly file: string,
  ) {}

  private damaged(why: string): BackupError {
    return new BackupError(`${this.file} is damaged (${why}): it cannot be restored`);
  }

  private read(n: number, what: string): Buffer {
    const b = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const r = fs.readSync(this.fd, b, got, n - got, this.pos + got);
      if (r === 0) throw new BackupError(`${this.file} is truncated (it ends inside ${what}): it cannot be restored`);
      got += r;
    }
    this.pos += n;
    return b;
  }

  /** The next member's header, which must name `expected`; returns its size. */
  header(expected: string, first = false): number {
    let h: Buffer;
    try {
      h = this.read(BLOCK, `the header of ${expected}`);
    } catch (e) {
      if (first) throw new BackupError(`${this.file} is not a Sesame backup (it is too short)`);
      throw e;
    }
    if (h.every((b) => b === 0))
      throw first ? new BackupError(`${this.file} is not a Sesame backup`) : this.damaged(`${expected} is missing`);
    if (h.toString('latin1', 257, 262) !== 'ustar')
      throw first
        ? new BackupError(`${this.file} is not a Sesame backup (not a tar archive)`)
        : this.damaged(`bad header before ${expected}`);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    const stored = h.toString('ascii', 148, 156).replace(/[\0 ]/g, '');
    if (!/^[0-7]+$/.test(stored) || parseInt(stored, 8) !== sum)
      throw this.damaged(`header checksum wrong before ${expected}`);
    const name = h.toString('utf8', 0, 100).replace(/\0[\s\S]*$/, '');
    if (name !== expected)
      throw first
        ? new BackupError(
            `${this.file} is not a Sesame backup (it starts with ${JSON.stringify(name)}, not ${MANIFEST})`,
          )
        : this.damaged(`found ${JSON.stringify(name)} where ${expected} belongs`);
    const type = h[156];
    if (type !== 0x30 && type !== 0) throw this.damaged(`${expected} is not a regular file`);
    const size = h.toString('ascii', 124, 136).replace(/[\0 ]/g, '');
    if (!/^[0-7]{1,11}$/.test(size)) throw this.damaged(`bad size of ${expected}`);
    return parseInt(size, 8);
  }

  /** A member small enough for memory (manifest, secrets). */
  small(name: string, size: number): Buffer {
    if (size > MAX_SMALL) throw this.damaged(`${name} is ${size} bytes`);
    const data = this.read(size, name);
    this.read(padding(size), name);
    return data;
  }

  /** Copies a member into a new file (mode 0600) and returns its SHA-256. */
  extract(name: string, size: number, dest: string): string {
    const h = createHash('sha256');
    const out = fs.openSync(dest, 'wx', 0o600);
    try {
      for (let left = size; left > 0; ) {
        const chunk = this.read(Math.min(CHUNK, left), name);
        h.update(chunk);
        writeAll(out, chunk);
        left -= chunk.length;
      }
      fs.fsyncSync(out);
    } finally {
      fs.closeSync(out);
    }
    this.read(padding(size), name);
    return h.digest('hex');
  }

  /** The end-of-archive marker: two zero blocks. */
  end(): void {
    const z = this.read(2 * BLOCK, 'the end-of-archive marker');
    if (!z.every((b) => b === 0)) throw this.damaged('unexpected data after the last member');
  }

  checksum(name: string, data: Buffer | string, size: number, expected: { bytes: number; sha256: string }): void {
    const actual = typeof data === 'string' ? data : createHash('sha256').update(data).digest('hex');
    if (size !== expected.bytes || actual !== expected.sha256)
      throw this.damaged(`${name} does not match the checksum in its manifest`);
  }
}

function parseManifest(raw: Buffer, file: string): Manifest {
  let m: Manifest;
  try {
    m = JSON.parse(raw.toString('utf8')) as Manifest;
  } catch {
    throw new BackupError(`${file} is damaged (its manifest is not JSON): it cannot be restored`);
  }
  if (m?.format !== FORMAT) throw new BackupError(`${file} is not a Sesame backup`);
  if (m.version !== VERSION)
    throw new BackupError(
      `${file} is a Sesame backup of format ${String(m.version)}, which this version does not read (it reads ${VERSION}): restore it with the Sesame that made it`,
    );
  const okStore =
    m.store === null ||
    (typeof m.store?.bytes === 'number' && typeof m.store.sha256 === 'string' && Array.isArray(m.store.migrations));
  const okSecrets =
    typeof m.secrets?.bytes === 'number' &&
    typeof m.secrets.sha256 === 'string' &&
    typeof m.secrets.keys === 'object' &&
    m.secrets.keys !== null;
  if (!okStore || !okSecrets)
    throw new BackupError(`${file} is damaged (its manifest is incomplete): it cannot be restored`);
  return m;
}

// ---- backup ------------------------------------------------------------------------------

/**
 * Writes a backup archive: a consistent snapshot of the SQLite store taken while the server keeps
 * serving, and the server secrets. Refuses (BackupError) with PostgreSQL unless `secretsOnly`, when
 * `file` exists unless `force`, and when keys are missing. Writes nothing on refusal or failure:
 * the archive is built in a private folder beside `file` and moved into place whole.
 */
export function createBackup(opts: BackupOptions): BackupResult {
  const env = opts.env ?? process.env;
  if (opts.databaseUrl && !opts.secretsOnly) {
    throw new BackupError(
      'DATABASE_URL is set: the store is PostgreSQL, which this command does not copy. Back the database up with pg_dump -Fc ' +
        '(see docs/backup.md), and keep the server secrets with it: "sesame backup --secrets-only FILE" writes them.',
    );
  }
  const file = path.resolve(opts.file);
  const dir = path.dirname(file);
  if (!fs.existsSync(dir)) throw new BackupError(`folder ${dir} does not exist`);
  if (fs.existsSync(file) && !opts.force)
    throw new BackupError(`${file} already exists; choose another name, or add --force to replace it`);
  if (fs.existsSync(file) && !fs.statSync(file).isFile()) throw new BackupError(`${file} exists and is not a file`);
  const dataDir = path.resolve(opts.dataDir);
  const dbFile = path.join(dataDir, DB);
  if (!opts.secretsOnly && !fs.existsSync(dbFile))
    throw new BackupError(`there is no SQLite store at ${dbFile} (is SESAME_DATA_DIR right?)`);
  const sources = secretSources(dataDir, env);
  const missing = sources.filter((s) => s.source === 'missing');
  if (missing.length) {
    throw new BackupError(
      `server secrets missing: ${missing.map((s) => s.key).join(', ')} is neither in ${path.join(dataDir, SECRETS)} nor in ${missing.map((s) => s.env).join(', ')}; ` +
        'a backup without them could not restore app passwords, sessions or TOTP',
    );
  }
  const fromFile = sources.filter((s) => s.source === 'file');
  // Previous keys go with their key: until `sesame keys reencrypt` has run and unused app passwords
  // have moved to the new hash key, the store in the backup still needs them.
  const archivedJson: SecretsJson = Object.fromEntries(fromFile.map((s) => [s.key, s.value!.toString('base64')]));
  const archivedPrevious = fromFile.filter((s) => s.previous.length);
  if (archivedPrevious.length)
    archivedJson.previous = Object.fromEntries(
      archivedPrevious.map((s) => [s.key, s.previous.map((k) => k.toString('base64'))]),
    );
  const secretsJson = Buffer.from(`${JSON.stringify(archivedJson, null, 2)}\n`);

  const work = fs.mkdtempSync(path.join(dir, '.sesame-backup-'));
  try {
    let store: { file: string; bytes: number; sha256: string; migrations: string[] } | null = null;
    if (!opts.secretsOnly) {
      const snap = path.join(work, DB);
      let live: SQLite.Database | undefined;
      try {
        // Read-write, not readonly: a read-only connection to a store nobody has open would leave
        // -wal and -shm files behind, owned by whoever runs the backup.
        live = new SQLite(dbFile, { fileMustExist: true });
        live.pragma('busy_timeout = 5000');
        live.prepare('VACUUM INTO ?').run(snap);
      } catch (e) {
        throw new BackupError(`could not take a snapshot of ${dbFile}: ${(e as Error).message}`);
      } finally {
        live?.close();
      }
      const migrations = inspectSqlite(snap, `the snapshot of ${dbFile}`);
      store = { file: snap, bytes: fs.statSync(snap).size, sha256: sha256File(snap), migrations };
    }
    const manifest: Manifest = {
      format: FORMAT,
      version: VERSION,
      createdAt: new Date().toISOString(),
      store: store && { kind: 'sqlite', bytes: store.bytes, sha256: store.sha256, migrations: store.migrations },
      secrets: {
        bytes: secretsJson.length,
        sha256: createHash('sha256').update(secretsJson).digest('hex'),
        keys: Object.fromEntries(
          sources.map((s): [KeyName, KeyMeta] => [
            s.key,
            {
              env: s.env,
              source: s.source as 'file' | 'environment',
              fingerprint: fingerprint(s.value!),
              ...(s.previous.length ? { previous: s.previous.map(fingerprint) } : {}),
            },
          ]),
        ),
      },
    };
    const members: Member[] = [
      { name: MANIFEST, data: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`) },
      { name: SECRETS, data: secretsJson },
      ...(store ? [{ name: DB, file: store.file, size: store.bytes }] : []),
    ];
    const archive = path.join(work, 'backup.tar');
    writeArchive(archive, members);
    publish(archive, file, Boolean(opts.force));
    return {
      file,
      bytes: fs.statSync(file).size,
      store: store && { bytes: store.bytes, migrations: store.migrations },
      keysInArchive: fromFile.map((s) => s.key),
      previousKeys: Object.fromEntries(sources.filter((s) => s.previous.length).map((s) => [s.key, s.previous.length])),
      secretsFile: path.join(dataDir, SECRETS),
      keysFromEnvironment: sources.filter((s) => s.source === 'environment').map((s) => s.env),
    };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Moves the finished archive to `file` in one step; without `force`, never over an existing file. */
function publish(archive: string, file: string, force: boolean): void {
  if (force) {
    fs.renameSync(archive, file);
  } else {
    try {
      // link() fails if the name was taken meanwhile, where rename() would silently replace it.
      fs.linkSync(archive, file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST')
        throw new BackupError(`${file} already exists; choose another name, or add --force to replace it`);
      // Some file systems (SMB, some FUSE mounts) have no hard links.
      if (fs.existsSync(file))
        throw new BackupError(`${file} already exists; choose another name, or add --force to replace it`);
      fs.renameSync(archive, file);
    }
  }
  fsyncDir(path.dirname(file));
}

// ---- restore -----------------------------------------------------------------------------

const CONSEQUENCE: Record<KeyName, string> = {
  hashKey: 'app passwords, session tokens and one-time links in the backup would not verify',
  encryptionKey: 'TOTP seeds in the backup could not be decrypted',
  cookieKey: 'open sign-in forms would fail their CSRF check',
};

/** Throws unless a store can be opened exclusively, that is unless no process has it open. */
function assertNotInUse(dbFile: string): void {
  if (!fs.existsSync(dbFile)) return;
  let db: SQLite.Database | undefined;
  try {
    db = new SQLite(dbFile, { fileMustExist: true });
    db.pragma('busy_timeout = 0');
    // In WAL mode every open connection keeps a shared lock on the file for as long as it is open,
    // so the exclusive lock fails at once while a server or CLI has the store open, even idle.
    // Nothing is written.
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE; COMMIT');
  } catch (e) {
    const code = sqliteCode(e);
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
      throw new BackupError(
        `${dbFile} is in use (a server or another sesame command has it open): stop the server, then run restore again`,
      );
    }
    // Not a database at all: nothing can be using it as one; it is moved aside like the rest.
  } finally {
    db?.close();
  }
}

/**
 * Restores a backup into the configured data folder. Everything is checked before the folder is
 * touched: the archive's structure and checksums, SQLite's integrity check, that this version knows
 * every migration in it, and that keys given by environment are the ones the backup was made with.
 * Pending migrations are applied to the copy before it is put in place. The store files are then
 * moved in (secrets.json first, sesame.db last), so a failure leaves the folder as it was.
 * Refuses when the folder already holds a store unless `force`; with `force` the old files are kept
 * in `<dataDir>/replaced-<time>/`, and refused if a process has the old store open.
 */
export async function restoreBackup(opts: RestoreOptions): Promise<RestoreResult> {
  const env = opts.env ?? process.env;
  const file = path.resolve(opts.file);
  const dataDir = path.resolve(opts.dataDir);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BackupError(
      code === 'ENOENT' ? `${file} does not exist` : `cannot read ${file}: ${code ?? (e as Error).message}`,
    );
  }
  try {
    const r = new ArchiveReader(fd, file);
    const manifest = parseManifest(r.small(MANIFEST, r.header(MANIFEST, true)), file);
    if (manifest.store && opts.databaseUrl) {
      throw new BackupError(
        `${file} holds a SQLite store, and DATABASE_URL is set: restore a PostgreSQL database with pg_restore (see docs/backup.md), or unset DATABASE_URL to restore into the data folder`,
      );
    }
    const targets = manifest.store ? STORE_FILES : [SECRETS];
    const present = () => targets.filter((f) => fs.existsSync(path.join(dataDir, f)));
    const before = present();
    if (before.length && !opts.force) {
      throw new BackupError(
        `${dataDir} already holds a store (${before.join(', ')}): restore into an empty data folder, or add --force to replace it (its files are kept in a subfolder)`,
      );
    }

    const secretsSize = r.header(SECRETS);
    const secretsRaw = r.small(SECRETS, secretsSize);
    r.checksum(SECRETS, secretsRaw, secretsSize, manifest.secrets);
    let archived: SecretsJson;
    try {
      archived = JSON.parse(secretsRaw.toString('utf8')) as SecretsJson;
    } catch {
      throw new BackupError(`${file} is damaged (its secrets.json is not JSON): it cannot be restored`);
    }
    // Only the environment matters here: a folder without secrets.json makes inspectSecrets report just that.
    const fromEnv = new Map(secretSources(path.join(dataDir, '.no-such-folder'), env).map((s) => [s.key, s]));
    const keysWritten: KeyName[] = [];
    const previousWritten: Partial<Record<KeyName, string[]>> = {};
    const keysFromEnvironment: string[] = [];
    for (const [key, meta] of Object.entries(manifest.secrets.keys) as [KeyName, KeyMeta][]) {
      const given = fromEnv.get(key);
      const givenValue = given?.source === 'environment' ? given.value! : undefined;
      // A backup made during a key rotation may hold hashes and seeds only a previous key reads:
      // the restored server must have those previous keys too, from wherever its key will come.
      const requirePrevious = (configured: Buffer[]) => {
        const missing = (meta.previous ?? []).filter((f) => !configured.some((k) => fingerprint(k) === f));
        if (missing.length) {
          throw new BackupError(
            `the backup was made while ${meta.env} had previous keys (a rotation was under way), which the store in it may still need: ` +
              `set ${previousEnv(key)} to hold them too (fingerprint ${missing.join(', ')}) and run restore again; without them ${CONSEQUENCE[key]} (those from before the rotation)`,
          );
        }
      };
      if (meta.source === 'environment') {
        if (!givenValue)
          throw new BackupError(
            `the backup was made with ${meta.env} from the environment and does not contain it: set ${meta.env} to that key (fingerprint ${meta.fingerprint}) and run restore again`,
          );
        if (fingerprint(givenValue) !== meta.fingerprint)
          throw new BackupError(
            `${meta.env} is not the key this backup was made with (fingerprint ${fingerprint(givenValue)}, needed ${meta.fingerprint}): ${CONSEQUENCE[key]}`,
          );
        requirePrevious(given!.previous);
        keysFromEnvironment.push(meta.env);
        continue;
      }
      const value = archived[key] ? Buffer.from(archived[key], 'base64') : undefined;
      if (!value || fingerprint(value) !== meta.fingerprint)
        throw new BackupError(`${file} is damaged (its ${key} does not match the manifest): it cannot be restored`);
      const previous = archived.previous?.[key] ?? [];
      if (
        !Array.isArray(previous) ||
        previous.map((k) => fingerprint(Buffer.from(String(k), 'base64'))).join() !== (meta.previous ?? []).join()
      ) {
        throw new BackupError(
          `${file} is damaged (the previous keys of its ${key} do not match the manifest): it cannot be restored`,
        );
      }
      if (givenValue && fingerprint(givenValue) !== meta.fingerprint) {
        throw new BackupError(
          `${meta.env} is set and is not the key in this backup (fingerprint ${fingerprint(givenValue)}, backup ${meta.fingerprint}): ${CONSEQUENCE[key]}. Unset ${meta.env} to use the key from the backup, or set it to that key`,
        );
      }
      // With the key in the environment too, the server takes its previous keys from there.
      if (givenValue) requirePrevious(given!.previous);
      if (previous.length) previousWritten[key] = previous;
      keysWritten.push(key);
    }

    // From here on the data folder is touched: everything made is removed again on failure.
    const createdDir = fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const staging = fs.mkdtempSync(path.join(dataDir, '.restore-'));
    let committed = false;
    try {
      let store: RestoreResult['store'] = null;
      if (manifest.store) {
        const size = r.header(DB);
        const staged = path.join(staging, DB);
        r.checksum(DB, r.extract(DB, size, staged), size, manifest.store);
        r.end();
        store = await prepareStore(staged, file);
      } else {
        r.end();
      }
      if (keysWritten.length) {
        const restored: SecretsJson = Object.fromEntries(keysWritten.map((k) => [k, archived[k]]));
        if (Object.keys(previousWritten).length) restored.previous = previousWritten;
        const json = `${JSON.stringify(restored, null, 2)}\n`;
        fs.writeFileSync(path.join(staging, SECRETS), json, { mode: 0o600, flag: 'wx' });
      }
      let movedAside: string | null = null;
      if (before.length) {
        assertNotInUse(path.join(dataDir, DB));
        movedAside = path.join(dataDir, `replaced-${new Date().toISOString().replace(/[:.]/g, '-')}`);
        fs.mkdirSync(movedAside, { mode: 0o700 });
      }
      commit(dataDir, staging, movedAside, movedAside ? present() : [], [
        ...(keysWritten.length ? [SECRETS] : []),
        ...(store ? [DB] : []),
      ]);
      committed = true;
      return { file, dataDir, createdAt: manifest.createdAt, store, keysWritten, keysFromEnvironment, movedAside };
    } finally {
      fs.rmSync(staging, { recursive: true, force: true });
      if (!committed && createdDir) fs.rmSync(createdDir, { recursive: true, force: true });
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Checks the staged store, refuses a schema newer than this build, applies pending migrations. */
async function prepareStore(staged: string, file: string): Promise<{ migrations: string[]; applied: string[] }> {
  const migrations = inspectSqlite(staged, `the store in ${file}`);
  const unknown = migrations.filter((m) => !Object.hasOwn(MIGRATIONS, m));
  if (unknown.length) {
    throw new BackupError(
      `the store in ${file} has a newer schema than this version of Sesame knows (${unknown.join(', ')}): restore it with the version that made it, or a newer one`,
    );
  }
  const raw = new SQLite(staged, { fileMustExist: true });
  raw.pragma('foreign_keys = ON'); // as the server runs its migrations (db.ts)
  const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: raw }) }); // migrations assume no schema type
  try {
    const applied = await migrateToLatest(db);
    // As the server would have it; closing the only connection folds the WAL back into the file.
    raw.pragma('journal_mode = WAL');
    return { migrations, applied };
  } catch (e) {
    throw new BackupError(`the store in ${file} could not be brought up to date: ${(e as Error).message}`);
  } finally {
    await db.destroy();
  }
}

/**
 * Moves the old store files aside (if any), then the staged files in: secrets.json before
 * sesame.db, so that a store never appears without its keys. Undoes what it did if a step fails.
 */
function commit(dataDir: string, staging: string, asideDir: string | null, old: string[], fresh: string[]): void {
  const undo: (() => void)[] = [];
  try {
    for (const f of old) {
      const from = path.join(dataDir, f);
      const to = path.join(asideDir!, f);
      fs.renameSync(from, to);
      undo.push(() => fs.renameSync(to, from));
    }
    for (const f of fresh) {
      const to = path.join(dataDir, f);
      fs.renameSync(path.join(staging, f), to);
      undo.push(() => fs.rmSync(to, { force: true }));
    }
    fsyncDir(dataDir);
  } catch (e) {
    for (const step of undo.reverse()) {
      try {
        step();
      } catch {
        // keep undoing the rest; the error below is what the operator needs
      }
    }
    if (asideDir) fs.rmSync(asideDir, { recursive: true, force: true });
    throw new BackupError(
      `could not put the restored files in ${dataDir}: ${(e as Error).message}; the folder is as it was`,
    );
  }
}

// ---- reports -----------------------------------------------------------------------------

function size(n: number): string {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} bytes`;
}

/** What `sesame backup` prints: what was written and what must be kept with it. Never a key. */
export function describeBackup(r: BackupResult): string[] {
  const lines = [`backup written to ${r.file} (${size(r.bytes)}, mode 0600)`];
  lines.push(
    r.store
      ? `  store: consistent SQLite snapshot, ${size(r.store.bytes)}, integrity ok, schema ${r.store.migrations.at(-1) ?? '(empty)'} (${r.store.migrations.length} migrations)`
      : '  store: not included (--secrets-only)',
  );
  if (r.keysInArchive.length) lines.push(`  server secrets: ${r.keysInArchive.join(', ')} (from ${r.secretsFile})`);
  const previous = Object.entries(r.previousKeys);
  if (previous.length)
    lines.push(
      `  previous keys (a key rotation is under way; restore needs them too): ${previous.map(([k, n]) => `${k} ${n}`).join(', ')}`,
    );
  if (r.keysFromEnvironment.length) {
    lines.push(
      `  not in the backup: ${r.keysFromEnvironment.join(', ')} (set in the environment); keep them with the backup, restore needs the same values`,
    );
  }
  lines.push('  the file holds the server keys: keep it as safe as secrets.json');
  return lines;
}

/** What `sesame restore` prints. */
export function describeRestore(r: RestoreResult): string[] {
  const lines = [`restored ${r.file} (made ${r.createdAt}) into ${r.dataDir}`];
  if (r.store) {
    lines.push(`  store: sesame.db, integrity ok, schema ${r.store.migrations.at(-1) ?? '(empty)'}`);
    if (r.store.applied.length) lines.push(`  migrations applied: ${r.store.applied.join(', ')}`);
  } else {
    lines.push('  store: none in this backup (secrets only)');
  }
  if (r.keysWritten.length)
    lines.push(`  server secrets: ${r.keysWritten.join(', ')} written to ${path.join(r.dataDir, SECRETS)} (mode 0600)`);
  if (r.keysFromEnvironment.length)
    lines.push(`  from the environment, checked to match the backup: ${r.keysFromEnvironment.join(', ')}`);
  if (r.movedAside) lines.push(`  the store it replaced is in ${r.movedAside}`);
  if (r.store) lines.push('  start the server on this data folder');
  return lines;
}
