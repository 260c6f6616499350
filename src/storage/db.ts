/**
 * Opens the store: SQLite (better-sqlite3, WAL, in the data folder) or PostgreSQL (pg pool), both
 * behind one Kysely instance with one schema. The raw handles are kept for rate-limiter-flexible,
 * which speaks to the same database through its own adapters.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { createPrivateFile, securePrivateData } from './private-files.js';
import {
  CompiledQuery,
  Kysely,
  PostgresDialect,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type PostgresDialectConfig,
} from 'kysely';
import { WatchingDriver } from './answer-watch.js';
import { VerifyListener } from './verify-listener.js';
import type pg from 'pg';
import type { Database } from './schema.js';

/**
 * pg, loaded when a PostgreSQL store is first opened (synchronously: it is CommonJS), so that a
 * SQLite install and its CLI commands do not pay ~0.1 s of CPU loading it at every start.
 */
let pgLibrary: typeof pg | undefined;
function loadPg(): typeof pg {
  if (!pgLibrary) {
    pgLibrary = createRequire(import.meta.url)('pg') as typeof pg;
    // BIGINT columns hold epoch milliseconds: return them as numbers, not strings.
    pgLibrary.types.setTypeParser(pgLibrary.types.builtins.INT8, (v) => Number(v));
  }
  return pgLibrary;
}

export type StoreKind = 'sqlite' | 'postgres';

export interface Store {
  kind: StoreKind;
  db: Kysely<Database>;
  /** Handle for rate-limiter-flexible: a second SQLite connection, or the pg pool. */
  limiterClient: SQLite.Database | pg.Pool;
  /**
   * Runs a read compiled once by Kysely (see precompiled.ts) straight on the driver: the hot path
   * of the legacy endpoints. On SQLite it runs on a read-only connection of its own, so it never
   * sees another request's open transaction; on PostgreSQL as a named prepared statement (parsed
   * and planned once per connection). Kysely's executor cost about as much as the SQLite read
   * itself (10 µs of 22 µs, measured); everything else goes through Kysely.
   */
  readHot<Row>(name: string, q: CompiledQuery<Row>): Promise<Row[]>;
  /**
   * The verification epoch (migration 29) as a token for the answer cache (domain/legacy/
   * answer-cache.ts): equal while nothing that decides a good app password's answer changed,
   * undefined while that cannot be known. SQLite: the epoch row, read again only when the file's
   * `data_version` moved (another connection or process committed). PostgreSQL: a counter that
   * every NOTIFY on `sesame_verify` moves, heard on a connection of its own; undefined until it
   * listens and whenever it is lost (then reconnected, every second).
   */
  verifyToken(): number | undefined;
  /** PostgreSQL: the connection that hears those changes, for tests and diagnostics. */
  verifyListener?: VerifyListener;
  /** A human-readable location without credentials, for logs. */
  where: string;
  /** What the store's connections are doing now, for monitoring (read when metrics are scraped). */
  stats(): StoreStats;
  close(): Promise<void>;
}

/**
 * PostgreSQL: the pg pool's counts (`waiting`: queries queued for a free connection, the sign of
 * a pool too small). SQLite: the open handles (better-sqlite3 is synchronous, so none is ever busy
 * between two turns of the event loop, and nothing waits) and the size of the write-ahead log,
 * which grows when checkpoints cannot keep up.
 */
export type StoreStats =
  | { kind: 'postgres'; connections: number; idle: number; waiting: number }
  | { kind: 'sqlite'; connections: number; walBytes: number };

export interface StoreOptions {
  dataDir: string;
  databaseUrl: string;
  /** PostgreSQL pool size. */
  poolMax?: number;
  /** Told what in the data folder was more open than 0600/0700 and has been narrowed (to warn about it). */
  onFixed?: (fixed: string[]) => void;
}

/**
 * better-sqlite3 compiles SQL on every prepare(), and both Kysely and rate-limiter-flexible prepare
 * each statement anew; profiling the legacy endpoints showed a fifth of the CPU there. Statements
 * are reusable, so the connection keeps the most recent ones by SQL text.
 */
function cachePreparedStatements(db: SQLite.Database, max = 500): void {
  const cache = new Map<string, SQLite.Statement>();
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    let stmt = cache.get(sql);
    if (!stmt) {
      stmt = prepare(sql);
      if (cache.size >= max) cache.delete(cache.keys().next().value!);
      cache.set(sql, stmt);
    }
    return stmt;
  }) as typeof db.prepare;
}

function openSqliteFile(file: string): SQLite.Database {
  const db = new SQLite(file);
  cachePreparedStatements(db);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  // The CLI and the server may write at the same time; wait rather than fail.
  db.pragma('busy_timeout = 5000');
  return db;
}

/**
 * Kysely's SQLite driver opens a transaction with a plain (deferred) BEGIN, which takes the write
 * lock only at the first write, after the transaction has read. If another process (the CLI) holds
 * the lock then, SQLite answers SQLITE_BUSY at once instead of waiting: the snapshot already read
 * could be stale once the lock is free. BEGIN IMMEDIATE takes the write lock first, where
 * busy_timeout applies, so a transaction waits like a single statement does (shown by
 * test/faults/sqlite-busy.test.ts). Every transaction here writes, and SQLite has one writer anyway.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly database: SQLite.Database) {
    super({ database });
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver({ database: this.database });
  }
}

/** PostgreSQL's dialect, its driver telling `changed` of this instance's writes that can change an answer. */
class WatchingPostgresDialect extends PostgresDialect {
  constructor(
    config: PostgresDialectConfig,
    private readonly changed: () => void,
  ) {
    super(config);
  }

  override createDriver(): Driver {
    return new WatchingDriver(super.createDriver(), this.changed);
  }
}

/** Opens the configured store. Does not migrate: see migrator.ts. */
export function openStore(opts: StoreOptions): Store {
  if (opts.databaseUrl) {
    const pool = new (loadPg().Pool)({
      connectionString: opts.databaseUrl,
      max: opts.poolMax ?? 10,
      // An unreachable database (a host that drops packets) must fail requests fast, as a
      // temporary failure, rather than hold every caller until TCP gives up minutes later.
      connectionTimeoutMillis: 5_000,
      query_timeout: 15_000,
    });
    // An idle client's error (server restart) must not crash the process; the next query reconnects.
    pool.on('error', () => {});
    // A client that is checked out (between acquire and query, or inside a transaction) has no pool
    // listener, and the server's goodbye on a restart (57P01) or a reset connection would then be an
    // unhandled 'error' event that ends the process (seen in test/faults/postgres-restart.test.ts).
    // The caller learns of the failure from its query; the client is no longer queryable, so the
    // pool drops it on release and the next query opens a new connection.
    pool.on('connect', (client) => client.on('error', () => {}));
    const listener = new VerifyListener(loadPg().Client, opts.databaseUrl);
    const db = new Kysely<Database>({ dialect: new WatchingPostgresDialect({ pool }, () => listener.changed()) });
    const u = new URL(opts.databaseUrl);
    return {
      kind: 'postgres',
      db,
      limiterClient: pool,
      verifyToken: () => listener.token(),
      verifyListener: listener,
      async readHot<Row>(name: string, q: CompiledQuery<Row>) {
        return (await pool.query({ name, text: q.sql, values: q.parameters as unknown[] })).rows as Row[];
      },
      where: `postgres://${u.hostname}:${u.port || 5432}${u.pathname}`,
      stats: () => ({
        kind: 'postgres',
        connections: pool.totalCount,
        idle: pool.idleCount,
        waiting: pool.waitingCount,
      }),
      async close() {
        await listener.close();
        await db.destroy();
      },
    };
  }
  // Private whatever existed before: the folder 0700, the store and its -wal and -shm 0600
  // (SQLite gives those two the database file's mode, so the file is made 0600 before SQLite
  // creates it with the process's umask, 0644 by default).
  const fixed = securePrivateData(opts.dataDir);
  if (fixed.length) opts.onFixed?.(fixed);
  const file = path.join(opts.dataDir, 'sesame.db');
  createPrivateFile(file);
  const main = openSqliteFile(file);
  const limiter = openSqliteFile(file);
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect(main) });
  let reader: SQLite.Database | undefined;
  // Opened on first use: the migrations have created the file and switched it to WAL by then.
  const hotReader = () => {
    if (!reader) {
      reader = new SQLite(file, { readonly: true, fileMustExist: true });
      cachePreparedStatements(reader);
      reader.pragma('busy_timeout = 5000');
    }
    return reader;
  };
  let seenVersion = -1;
  let dataVersion: SQLite.Statement | undefined;
  let epochRead: SQLite.Statement | undefined;
  let epoch: number | undefined;
  return {
    kind: 'sqlite',
    db,
    limiterClient: limiter,
    verifyToken() {
      try {
        // Prepared once and kept (asked at every attempt: ~3 µs, most of it SQLite's look at the
        // write-ahead log's shared index, which any read pays).
        if (!dataVersion) {
          const r = hotReader();
          dataVersion = r.prepare('PRAGMA data_version').pluck();
          epochRead = r.prepare('SELECT n FROM verify_epoch WHERE id = 1').pluck();
        }
        // data_version moves when any other connection commits (this process's writer included,
        // since this reader is a connection of its own): only then is the epoch read again.
        const version = dataVersion.get() as number;
        if (version !== seenVersion) {
          // The version first, then the epoch: a commit between the two is seen again next time.
          epoch = Number(epochRead!.get());
          seenVersion = version;
        }
        return epoch;
      } catch {
        seenVersion = -1;
        return undefined;
      }
    },
    readHot<Row>(_name: string, q: CompiledQuery<Row>) {
      try {
        return Promise.resolve(
          hotReader()
            .prepare(q.sql)
            .all(...(q.parameters as unknown[])) as Row[],
        );
      } catch (e) {
        return Promise.reject(e);
      }
    },
    where: file,
    stats() {
      let walBytes = 0;
      try {
        walBytes = fs.statSync(`${file}-wal`).size;
      } catch {
        // no WAL file (yet, or after a clean close): nothing pending
      }
      return { kind: 'sqlite', connections: [main, limiter, reader].filter((c) => c?.open).length, walBytes };
    },
    async close() {
      await db.destroy();
      limiter.close();
      reader?.close();
    },
  };
}
