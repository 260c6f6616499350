/**
 * UserDirectoryRepository on Kysely: the admin Users page's filters, sorts and keyset paging in
 * SQL, identical on SQLite and PostgreSQL. A page is one indexed range read of `limit + 1` users
 * (index per sort: migration 2026-11-27-11-admin-scale) plus two small reads for those users'
 * method kinds and app-password counts; filters on methods and app passwords are EXISTS probes on
 * the per-user indexes. Nothing loads the organization's users into memory.
 */
import type { ExpressionBuilder, Kysely, SelectQueryBuilder } from 'kysely';
import type {
  Cursor,
  DirectoryEntry,
  DirectoryQuery,
  UserDirectoryRepository,
  UserFilter,
  UserSort,
} from '../domain/accounts/directory.js';
import { sinceMs } from '../domain/accounts/directory.js';
import type { MethodKind } from '../domain/mfa/model.js';
import { likePattern, toUser, USER_COLUMNS } from './account-repository.js';
import type { Database } from './schema.js';

const SORT_COLUMN = {
  address: 'u.address',
  name: 'u.name',
  created: 'u.created_at',
  last_sign_in: 'u.last_sign_in_at',
} as const satisfies Record<UserSort, string>;

type UsersQuery<O> = SelectQueryBuilder<Database & { u: Database['users'] }, 'u', O>;
type Eb = ExpressionBuilder<Database & { u: Database['users'] }, 'u'>;

/** The filter as WHERE clauses on `users as u`. */
function filtered<O>(q: UsersQuery<O>, orgId: string, f: UserFilter, now: number): UsersQuery<O> {
  let out = q.where('u.org_id', '=', orgId);
  if (f.search) {
    const p = likePattern(f.search);
    out = out.where((eb) => eb.or([eb('u.address', 'like', p), eb(eb.fn('lower', ['u.name']), 'like', p)]));
  }
  if (f.mfaState) out = out.where('u.mfa_state', '=', f.mfaState);
  if (f.status) out = out.where('u.status', '=', f.status);
  if (f.method) {
    const kind = f.method;
    const methods = (eb: Eb) => {
      const sub = eb.selectFrom('mfa_methods as m').select('m.id').whereRef('m.user_id', '=', 'u.id');
      return kind === 'any' || kind === 'none' ? sub : sub.where('m.kind', '=', kind);
    };
    out = out.where((eb) => (kind === 'none' ? eb.not(eb.exists(methods(eb))) : eb.exists(methods(eb))));
  }
  if (f.appPasswords !== undefined) {
    const want = f.appPasswords;
    out = out.where((eb) => {
      const has = eb.exists(eb.selectFrom('app_passwords as a').select('a.id').whereRef('a.user_id', '=', 'u.id'));
      return want ? has : eb.not(has);
    });
  }
  const ls = f.lastSignIn;
  if (ls) {
    // 0 is "never" (see the migration), so "over" includes those who never signed in.
    if (ls.kind === 'never') out = out.where('u.last_sign_in_at', '=', 0);
    else if (ls.kind === 'within') out = out.where('u.last_sign_in_at', '>=', sinceMs(now, ls.days));
    else out = out.where('u.last_sign_in_at', '<', sinceMs(now, ls.days));
  }
  return out;
}

/** Rows strictly after (ascending) or before (descending) the cursor's (value, id) in the walk's direction. */
function afterCursor<O>(q: UsersQuery<O>, sort: UserSort, c: Cursor, ascending: boolean): UsersQuery<O> {
  const col = SORT_COLUMN[sort];
  return q.where((eb) => eb(eb.refTuple(col, 'u.id'), ascending ? '>' : '<', eb.tuple(c.value as never, c.id)));
}

export class KyselyUserDirectoryRepository implements UserDirectoryRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async page(q: DirectoryQuery): Promise<DirectoryEntry[]> {
    // A "prev" cursor walks the other way from the cursor and the rows are turned round after.
    const backwards = q.cursor?.dir === 'prev';
    const ascending = (q.order === 'asc') !== backwards;
    const dir = ascending ? 'asc' : 'desc';
    let sel = filtered(
      this.db.selectFrom('users as u').select([...USER_COLUMNS.map((c) => `u.${c}` as const), 'u.last_sign_in_at']),
      q.orgId,
      q.filter,
      q.now,
    );
    if (q.cursor) sel = afterCursor(sel, q.sort, q.cursor, ascending);
    sel = sel
      .orderBy(SORT_COLUMN[q.sort], dir)
      .orderBy('u.id', dir)
      .limit(q.limit + 1);
    if (q.offset) sel = sel.offset(q.offset);
    const rows = await sel.execute();
    if (backwards) rows.reverse();
    if (!rows.length) return [];
    const ids = rows.map((r) => r.id);
    const [methods, counts] = await Promise.all([
      this.db.selectFrom('mfa_methods').select(['user_id', 'kind']).distinct().where('user_id', 'in', ids).execute(),
      this.db
        .selectFrom('app_passwords')
        .select(['user_id', (eb) => eb.fn.countAll<number>().as('n')])
        .where('user_id', 'in', ids)
        .groupBy('user_id')
        .execute(),
    ]);
    const kinds = new Map<string, MethodKind[]>();
    for (const m of methods) kinds.set(m.user_id, [...(kinds.get(m.user_id) ?? []), m.kind as MethodKind]);
    const apCount = new Map(counts.map((c) => [c.user_id, Number(c.n)]));
    return rows.map((r) => ({
      ...toUser(r),
      lastSignInAt: r.last_sign_in_at === 0 ? null : r.last_sign_in_at,
      methods: (kinds.get(r.id) ?? []).sort(),
      appPasswordCount: apCount.get(r.id) ?? 0,
    }));
  }

  async count(orgId: string, filter: UserFilter, now: number): Promise<number> {
    const r = await filtered(
      this.db.selectFrom('users as u').select((eb) => eb.fn.countAll<number>().as('n')),
      orgId,
      filter,
      now,
    ).executeTakeFirstOrThrow();
    return Number(r.n);
  }
}
