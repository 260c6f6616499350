/**
 * The user directory an admin pages through: filters (MFA state, methods registered, app
 * passwords, status, last sign-in, text), sorts, and keyset cursors, so that a page of an
 * organization of 50,000 users costs the same as the first page of ten. The web page, the JSON
 * API and `sesame users export` all read through here; storage does the filtering and paging in
 * SQL (storage/user-directory-repository.ts), never in memory.
 */
import { Buffer } from 'node:buffer';
import { SesameError } from '../errors.js';
import { isMethodKind, isMfaState, type MethodKind, type MfaState } from '../mfa/model.js';
import { type Actor, requireAdminOf } from './actor.js';
import type { User, UserStatus } from './model.js';

export const USER_SORTS = ['address', 'name', 'created', 'last_sign_in'] as const;
export type UserSort = (typeof USER_SORTS)[number];
export type SortOrder = 'asc' | 'desc';

/** `any`: at least one method; `none`: not one; a kind: at least one of that kind. */
export type MethodFilter = 'any' | 'none' | MethodKind;
/** `within:N`: signed in during the last N days; `over:N`: not (never included); `never`. */
export type LastSignInFilter = { kind: 'within' | 'over'; days: number } | { kind: 'never' };

export interface UserFilter {
  /** Part of the address or (lower-cased) name. */
  search?: string;
  mfaState?: MfaState;
  method?: MethodFilter;
  /** Whether the user has app passwords. */
  appPasswords?: boolean;
  status?: UserStatus;
  lastSignIn?: LastSignInFilter;
}

/** Where a page starts: just after (`next`) or just before (`prev`) the row with this sort value and id. */
export interface Cursor {
  sort: UserSort;
  order: SortOrder;
  value: string | number;
  id: string;
  dir: 'next' | 'prev';
}

export interface DirectoryQuery extends ParsedListRequest {
  orgId: string;
  /** For the last-sign-in filter. */
  now: number;
}

/** A user as the directory lists them. */
export interface DirectoryEntry extends User {
  /** null: never signed in (browser or API). */
  lastSignInAt: number | null;
  /** Kinds of the MFA methods registered, without repeats, sorted. */
  methods: MethodKind[];
  appPasswordCount: number;
}

export interface UserDirectoryRepository {
  /** One page in the query's order (rows in display order whichever way the cursor points), `limit + 1` rows at most to tell whether more follow. */
  page(q: DirectoryQuery): Promise<DirectoryEntry[]>;
  /** How many users match the filter. */
  count(orgId: string, filter: UserFilter, now: number): Promise<number>;
}

export interface DirectoryPage {
  users: DirectoryEntry[];
  total: number;
  /** Cursor of the following page, if any. */
  next?: string;
  /** Cursor of the page before, if any. */
  prev?: string;
}

/** What a caller may ask for, as text (query strings, CLI flags); see parseUserListRequest. */
export interface UserListRequest {
  q?: string;
  mfa?: string;
  method?: string;
  appPasswords?: string;
  status?: string;
  lastSignIn?: string;
  sort?: string;
  order?: string;
  cursor?: string;
  limit?: number;
  offset?: number;
}

/** A list request once checked: what DirectoryQuery asks beyond its organization and time. */
export interface ParsedListRequest {
  filter: UserFilter;
  sort: UserSort;
  order: SortOrder;
  limit: number;
  cursor?: Cursor;
  /** Plain offset paging (the API's `offset`); ignored when a cursor is given. */
  offset?: number;
}

export const PAGE_MAX = 200;
const DAY_MS = 86_400_000;
const DAYS_MAX = 3650;

const bad = (what: string) => new SesameError('invalid_input', `user list: ${what}`);

/** `within:30`, `over:90` or `never` -> the filter; anything else is refused. */
export function parseLastSignIn(raw: string): LastSignInFilter {
  if (raw === 'never') return { kind: 'never' };
  const m = /^(within|over):(\d{1,4})$/.exec(raw);
  const days = m ? Number(m[2]) : 0;
  if (!m || days < 1 || days > DAYS_MAX) throw bad(`lastSignIn ${JSON.stringify(raw.slice(0, 40))}`);
  return { kind: m[1] as 'within' | 'over', days };
}

/** The earliest sign-in time that counts as "within" `days` of `now`. */
export function sinceMs(now: number, days: number): number {
  return now - days * DAY_MS;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.sort, c.order, c.value, c.id, c.dir])).toString('base64url');
}

/**
 * Reads a cursor made by encodeCursor. It is not a secret and needs no signature: whatever it
 * says, the page is still limited to the admin's own organization; it only has to be well-formed
 * and made for the same sort, or it is refused.
 */
export function decodeCursor(raw: string, sort: UserSort, order: SortOrder): Cursor {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw bad('cursor is not one of ours');
  }
  const numeric = sort === 'created' || sort === 'last_sign_in';
  if (
    !Array.isArray(v) ||
    v.length !== 5 ||
    v[0] !== sort ||
    v[1] !== order ||
    (numeric ? !Number.isSafeInteger(v[2]) : typeof v[2] !== 'string' || v[2].length > 300) ||
    typeof v[3] !== 'string' ||
    v[3].length > 64 ||
    (v[4] !== 'next' && v[4] !== 'prev')
  ) {
    throw bad('cursor does not fit this sort');
  }
  return { sort, order, value: v[2] as string | number, id: v[3], dir: v[4] };
}

/** Checks and converts a listing request (the web page's and the API's query, the CLI's flags); bad values are refused, not ignored. */
export function parseUserListRequest(r: UserListRequest): ParsedListRequest {
  const filter: UserFilter = {};
  const search = r.q?.trim().toLowerCase().slice(0, 100);
  if (search) filter.search = search;
  if (r.mfa) {
    if (!isMfaState(r.mfa)) throw bad(`mfa ${JSON.stringify(r.mfa.slice(0, 40))}`);
    filter.mfaState = r.mfa;
  }
  if (r.method) {
    if (r.method !== 'any' && r.method !== 'none' && !isMethodKind(r.method))
      throw bad(`method ${JSON.stringify(r.method.slice(0, 40))}`);
    filter.method = r.method as MethodFilter;
  }
  if (r.appPasswords) {
    if (r.appPasswords !== 'yes' && r.appPasswords !== 'no') throw bad('appPasswords must be yes or no');
    filter.appPasswords = r.appPasswords === 'yes';
  }
  if (r.status) {
    if (r.status !== 'active' && r.status !== 'disabled') throw bad('status must be active or disabled');
    filter.status = r.status;
  }
  if (r.lastSignIn) filter.lastSignIn = parseLastSignIn(r.lastSignIn);
  const sort = (r.sort || 'address') as UserSort;
  if (!USER_SORTS.includes(sort)) throw bad(`sort ${JSON.stringify(String(r.sort).slice(0, 40))}`);
  const order = (r.order || 'asc') as SortOrder;
  if (order !== 'asc' && order !== 'desc') throw bad('order must be asc or desc');
  const limit = r.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > PAGE_MAX) throw bad(`limit ${limit}`);
  const offset = r.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0) throw bad(`offset ${offset}`);
  return {
    filter,
    sort,
    order,
    limit,
    cursor: r.cursor ? decodeCursor(r.cursor, sort, order) : undefined,
    offset: offset || undefined,
  };
}

/** The sort value of a row, as a cursor holds it. */
function sortValue(u: DirectoryEntry, sort: UserSort): string | number {
  switch (sort) {
    case 'address':
      return u.address;
    case 'name':
      return u.name;
    case 'created':
      return u.createdAt;
    case 'last_sign_in':
      return u.lastSignInAt ?? 0;
  }
}

export class UserDirectory {
  constructor(
    private readonly repo: UserDirectoryRepository,
    private readonly clock: { now(): number },
  ) {}

  /** One page of the organization's users, for an admin of it (or the operator). */
  async list(actor: Actor, orgId: string, request: UserListRequest | ParsedListRequest): Promise<DirectoryPage> {
    requireAdminOf(actor, orgId);
    const p = 'filter' in request ? request : parseUserListRequest(request);
    const now = this.clock.now();
    const [rows, total] = await Promise.all([
      this.repo.page({
        orgId,
        filter: p.filter,
        sort: p.sort,
        order: p.order,
        limit: p.limit,
        cursor: p.cursor,
        offset: p.cursor ? undefined : p.offset,
        now,
      }),
      this.repo.count(orgId, p.filter, now),
    ]);
    const backwards = p.cursor?.dir === 'prev';
    const more = rows.length > p.limit;
    // Backwards, the extra row is the one before the page; forwards, the one after it.
    const users = more ? (backwards ? rows.slice(1) : rows.slice(0, p.limit)) : rows;
    const at = (u: DirectoryEntry | undefined, dir: 'next' | 'prev') =>
      u ? encodeCursor({ sort: p.sort, order: p.order, value: sortValue(u, p.sort), id: u.id, dir }) : undefined;
    const hasNext = backwards || more;
    const hasPrev = backwards ? more : p.cursor !== undefined || (p.offset ?? 0) > 0;
    return {
      users,
      total,
      next: hasNext ? at(users.at(-1), 'next') : undefined,
      prev: hasPrev ? at(users[0], 'prev') : undefined,
    };
  }

  /**
   * Every user of the organization in address order, a batch at a time (keyset paging, so memory
   * stays at one batch whatever the size): what `sesame users export` writes out.
   */
  async *all(actor: Actor, orgId: string, batch = 1000): AsyncGenerator<DirectoryEntry[]> {
    requireAdminOf(actor, orgId);
    let cursor: Cursor | undefined;
    for (;;) {
      const rows = await this.repo.page({
        orgId,
        filter: {},
        sort: 'address',
        order: 'asc',
        limit: batch,
        cursor,
        now: this.clock.now(),
      });
      const page = rows.slice(0, batch);
      if (page.length) yield page;
      if (rows.length <= batch) return;
      const last = page.at(-1)!;
      cursor = { sort: 'address', order: 'asc', value: last.address, id: last.id, dir: 'next' };
    }
  }
}
