/**
 * The legacy endpoints' hot read: the app password (with its owner and policy) and the smart
 * lockout's counters in one statement, so a good app password costs one read on SQLite and one
 * round trip on PostgreSQL. The counters are scalar subqueries on `rate_limits` by primary key,
 * named as the counter store names its rows (throttle-store.ts). When no app password has the
 * hash, the statement returns no row and the counters are read on their own (the rarer path of
 * a wrong password).
 */
import { sql, type Kysely } from 'kysely';
import type { VerificationReads } from '../domain/legacy/verifier.js';
import type { CounterStore, CountKey } from '../domain/throttling/throttle.js';
import { toVerificationRow, verificationSelect } from './app-password-repository.js';
import type { Store } from './db.js';
import { Precompiled } from './precompiled.js';
import type { Database } from './schema.js';
import { peekFromRows, peekRowKeys } from './throttle-store.js';

type Row = Parameters<typeof toVerificationRow>[0] & Record<string, number | string | null>;

function combined(db: Kysely<Database>, n: number) {
  return new Precompiled<Row>(
    1 + n,
    ([hash, ...keys]) =>
      verificationSelect(db, hash!).select(
        keys.flatMap((k, i) => [
          sql<number | null>`(select points from rate_limits where key = ${k})`.as(`c${i}_points`),
          sql<number | string | null>`(select expire from rate_limits where key = ${k})`.as(`c${i}_expire`),
        ]),
      ) as unknown as { compile(): import('kysely').CompiledQuery<Row> },
  );
}

export function createVerificationReads(store: Store, counters: CounterStore): VerificationReads {
  const queries = new Map<number, Precompiled<Row>>();
  return {
    async find(hash: string | undefined, locks: string[], counts: CountKey[]) {
      if (hash === undefined) return { row: undefined, peek: await counters.peek(locks, counts) };
      const keys = peekRowKeys(locks, counts);
      let q = queries.get(keys.length);
      if (!q) queries.set(keys.length, (q = combined(store.db, keys.length)));
      const r = (await store.readHot(`sesame_verify_with_counters_${keys.length}`, q.with([hash, ...keys])))[0];
      if (!r) return { row: undefined, peek: await counters.peek(locks, counts) };
      const found = new Map<string, { points: number; expire: number | string | null }>();
      keys.forEach((k, i) => {
        const points = r[`c${i}_points`];
        if (points !== null && points !== undefined)
          found.set(k, { points: Number(points), expire: r[`c${i}_expire`] ?? null });
      });
      return { row: toVerificationRow(r), peek: peekFromRows(locks, counts, found) };
    },
  };
}
