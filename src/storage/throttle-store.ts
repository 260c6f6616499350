/**
 * Throttling counters on rate-limiter-flexible, in the `rate_limits` table of whichever store
 * Sesame runs on, so every instance sees the same counts. Its upserts are single atomic
 * statements, which is what makes "50 parallel guesses are counted as 50" hold.
 */
import type SQLite from 'better-sqlite3';
import { RateLimiterPostgres, RateLimiterSQLite, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { CounterStore, CountKey, Peek } from '../domain/throttling/throttle.js';
import type { Store } from './db.js';
import { Precompiled } from './precompiled.js';

const DAY = 24 * 3600;
const MANY = 1_000_000_000;

/** The `rate_limits` rows peek() reads: the locks' rows, then the counts'. */
export function peekRowKeys(lockKeys: string[], countKeys: CountKey[]): string[] {
  return [...lockKeys.map((k) => `lock:${k}`), ...countKeys.map((c) => `f${c.windowSeconds}:${c.key}`)];
}

/** Reads a peek from the `rate_limits` rows found (by row key); expired rows count as absent. */
export function peekFromRows(
  lockKeys: string[],
  countKeys: CountKey[],
  found: Map<string, { points: number; expire: number | string | null }>,
): Peek {
  const now = Date.now();
  const live = (k: string) => {
    const r = found.get(k);
    return r && (r.expire === null || Number(r.expire) > now) ? r : undefined;
  };
  return {
    lockMs: lockKeys.map((k) => {
      const r = live(`lock:${k}`);
      return r && r.points > 1 ? (r.expire === null ? Number.MAX_SAFE_INTEGER : Number(r.expire) - now) : 0;
    }),
    counts: countKeys.map((c) => live(`f${c.windowSeconds}:${c.key}`)?.points ?? 0),
  };
}

export function createCounterStore(store: Store): CounterStore {
  const make = (keyPrefix: string, duration: number, points = MANY): RateLimiterAbstract => {
    const common = { tableName: 'rate_limits', tableCreated: true, keyPrefix, points, duration };
    return store.kind === 'sqlite'
      ? new RateLimiterSQLite({
          ...common,
          storeClient: store.limiterClient as SQLite.Database,
          storeType: 'better-sqlite3',
        })
      : new RateLimiterPostgres({ ...common, storeClient: store.limiterClient, storeType: 'pool' });
  };
  const windows = new Map<number, RateLimiterAbstract>();
  const failures = (windowSeconds: number) => {
    let l = windows.get(windowSeconds);
    if (!l) windows.set(windowSeconds, (l = make(`f${windowSeconds}`, windowSeconds)));
    return l;
  };
  const lockCount = make('lockn', DAY);
  const locks = make('lock', DAY, 1);

  // rate-limiter-flexible stores `${keyPrefix}:${key}` rows (its documented getKey()); a lock is a
  // row of the `lock` limiter (1 point) blocked to points + 1.
  const db = store.db;
  // One compiled query per number of keys (the legacy endpoints always ask for three).
  const peekQueries = new Map<number, Precompiled<{ key: string; points: number; expire: number | null }>>();
  const peekQuery = (n: number) => {
    let q = peekQueries.get(n);
    if (!q)
      peekQueries.set(
        n,
        (q = new Precompiled(n, (keys) =>
          db.selectFrom('rate_limits').select(['key', 'points', 'expire']).where('key', 'in', keys),
        )),
      );
    return q;
  };
  return {
    async peek(lockKeys, countKeys) {
      const rows = peekRowKeys(lockKeys, countKeys);
      if (rows.length === 0) return { lockMs: [], counts: [] };
      const found = await store.readHot(`sesame_peek_limits_${rows.length}`, peekQuery(rows.length).with(rows));
      return peekFromRows(lockKeys, countKeys, new Map(found.map((r) => [r.key, r])));
    },
    async lockRemainingMs(key) {
      const r = await locks.get(key);
      return r && r.consumedPoints > 1 ? Math.max(0, r.msBeforeNext) : 0;
    },
    async take(key, windowSeconds) {
      const r = await failures(windowSeconds).penalty(key, 1);
      return r.consumedPoints;
    },
    async giveBack(key, windowSeconds) {
      await failures(windowSeconds).reward(key, 1);
    },
    async clear(key, windowSeconds) {
      await failures(windowSeconds).delete(key);
    },
    async lock(key, seconds) {
      const n = (await lockCount.penalty(key, 1)).consumedPoints;
      await locks.block(key, seconds(n));
      return n;
    },
    async unlock(key) {
      await locks.delete(key);
    },
  };
}
