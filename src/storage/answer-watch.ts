/**
 * Which writes can change a good app password's answer, known to the instance that makes them at
 * the moment they end (issue #21, item 1). Migration 29's triggers announce such a write to every
 * instance: SQLite through the epoch row (which this process's hot reader sees at its next read),
 * PostgreSQL through a NOTIFY that reaches each listening connection a little after the commit.
 * The instance that wrote must not wait for its own notification: an admin who revokes an app
 * password and then tries it must be refused at once. So the PostgreSQL driver is wrapped, and a
 * connection that ran such a write moves this instance's token when it is released (after its
 * commit, or after the statement when there was no transaction).
 *
 * WATCHED repeats migration 29's list (a migration is frozen and exports nothing for runtime code);
 * test/contract/verify-epoch checks, write by write, that the two agree.
 */
import type {
  CompiledQuery,
  DatabaseConnection,
  Driver,
  OperationNode,
  QueryResult,
  TransactionSettings,
} from 'kysely';

/** Per table: whether an insert or a delete is watched, and which updated columns are. */
const WATCHED: Record<string, { insert: boolean; delete: boolean; update: 'all' | ReadonlySet<string> }> = {
  app_passwords: {
    insert: false,
    delete: true,
    update: new Set([
      'hash',
      'user_id',
      'name',
      'protocols',
      'expires_at',
      'created_at',
      'pinned_locations',
      'pinned_network',
    ]),
  },
  users: {
    insert: false,
    delete: true,
    update: new Set(['address', 'name', 'status', 'mfa_state', 'org_id', 'role']),
  },
  org_policies: { insert: true, delete: true, update: 'all' },
  group_limits: { insert: true, delete: true, update: 'all' },
  group_members: { insert: true, delete: true, update: new Set() },
  location_policies: { insert: true, delete: true, update: 'all' },
};

// Kysely's operation nodes, as far as they are read here (their types are not all exported).
type Node = OperationNode & Record<string, unknown>;
const identifier = (n: unknown): string | undefined => {
  const node = n as Node | undefined;
  if (!node) return undefined;
  if (node.kind === 'AliasNode') return identifier(node.node);
  if (node.kind === 'TableNode') return identifier(node.table);
  if (node.kind === 'SchemableIdentifierNode') return identifier(node.identifier);
  if (node.kind === 'ColumnNode') return identifier(node.column);
  if (node.kind === 'IdentifierNode') return node.name as string;
  return undefined;
};
const updatedColumns = (updates: unknown): string[] =>
  ((updates as Node[] | undefined) ?? []).map((u) => identifier(u.column) ?? '?');
const updateWatched = (table: string | undefined, columns: string[]) => {
  const w = table === undefined ? undefined : WATCHED[table];
  if (!w) return table === undefined;
  return w.update === 'all' || columns.some((c) => c === '?' || (w.update as ReadonlySet<string>).has(c));
};

/** Raw statements this project runs that change nothing an answer reads (transactions' own words). */
const QUIET_RAW = /^\s*(begin|commit|rollback|savepoint|release|start transaction|select)\b/i;
/** A raw write's verb and table, when it is a plain one. */
const RAW_WRITE = /^\s*(insert\s+into|update|delete\s+from)\s+"?(\w+)"?/i;

/**
 * Whether `q` may change what a good app password is answered. Errs on the side of yes: an
 * unknown statement (DDL, a CTE, raw SQL it cannot read) counts, which costs only a refill.
 */
export function changesAnswers(q: CompiledQuery): boolean {
  const node = q.query as Node;
  switch (node.kind) {
    case 'SelectQueryNode':
      return false;
    case 'InsertQueryNode': {
      const table = identifier(node.into);
      const w = table === undefined ? undefined : WATCHED[table];
      if (table === undefined) return true;
      if (w?.insert) return true;
      // INSERT ... ON CONFLICT DO UPDATE fires the update triggers.
      const conflict = node.onConflict as Node | undefined;
      return conflict?.updates !== undefined && updateWatched(table, updatedColumns(conflict.updates));
    }
    case 'UpdateQueryNode':
      return updateWatched(identifier(node.table), updatedColumns(node.updates));
    case 'DeleteQueryNode': {
      const froms = ((node.from as Node | undefined)?.froms as unknown[] | undefined) ?? [];
      return froms.some((f) => {
        const table = identifier(f);
        return table === undefined || WATCHED[table]?.delete === true;
      });
    }
    case 'RawNode': {
      if (QUIET_RAW.test(q.sql)) return false;
      const write = RAW_WRITE.exec(q.sql);
      return !write || write[2]!.toLowerCase() in WATCHED;
    }
    default:
      return true;
  }
}

/** A connection handed out by WatchingDriver: notes whether it ran a watched write. */
class WatchedConnection implements DatabaseConnection {
  wrote = false;
  constructor(readonly inner: DatabaseConnection) {}
  executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
    if (!this.wrote && changesAnswers(q)) this.wrote = true;
    return this.inner.executeQuery<R>(q);
  }
  streamQuery<R>(q: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    if (!this.wrote && changesAnswers(q)) this.wrote = true;
    return this.inner.streamQuery<R>(q, chunkSize);
  }
}

/**
 * Kysely's driver, with `changed()` called each time a connection that ran a watched write is
 * released: after its transaction's commit (or rollback: a needless refill), or after its one
 * statement.
 */
export class WatchingDriver implements Driver {
  private readonly outer = new WeakMap<DatabaseConnection, WatchedConnection>();

  constructor(
    private readonly inner: Driver,
    private readonly changed: () => void,
  ) {}

  init(): Promise<void> {
    return this.inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const c = await this.inner.acquireConnection();
    let w = this.outer.get(c);
    if (!w) this.outer.set(c, (w = new WatchedConnection(c)));
    return w;
  }

  beginTransaction(c: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.inner.beginTransaction((c as WatchedConnection).inner, settings);
  }

  commitTransaction(c: DatabaseConnection): Promise<void> {
    return this.inner.commitTransaction((c as WatchedConnection).inner);
  }

  rollbackTransaction(c: DatabaseConnection): Promise<void> {
    return this.inner.rollbackTransaction((c as WatchedConnection).inner);
  }

  async savepoint(
    c: DatabaseConnection,
    name: string,
    compile: Parameters<NonNullable<Driver['savepoint']>>[2],
  ): Promise<void> {
    await this.inner.savepoint?.((c as WatchedConnection).inner, name, compile);
  }

  async rollbackToSavepoint(
    c: DatabaseConnection,
    name: string,
    compile: Parameters<NonNullable<Driver['rollbackToSavepoint']>>[2],
  ): Promise<void> {
    await this.inner.rollbackToSavepoint?.((c as WatchedConnection).inner, name, compile);
  }

  async releaseSavepoint(
    c: DatabaseConnection,
    name: string,
    compile: Parameters<NonNullable<Driver['releaseSavepoint']>>[2],
  ): Promise<void> {
    await this.inner.releaseSavepoint?.((c as WatchedConnection).inner, name, compile);
  }

  async releaseConnection(c: DatabaseConnection): Promise<void> {
    const w = c as WatchedConnection;
    try {
      await this.inner.releaseConnection(w.inner);
    } finally {
      if (w.wrote) {
        w.wrote = false;
        this.changed();
      }
    }
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}
