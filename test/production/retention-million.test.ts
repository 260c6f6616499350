/**
 * Issue 15, item 4: retention at scale, on both stores. A million old sign-in log rows (and
 * 100,000 expired sessions) are removed in small batches while recent rows stay; during the run
 * the event loop is never held longer than a bound (perf_hooks.monitorEventLoopDelay), and a
 * writer on another connection (another thread, as the CLI or a second instance would be) is
 * never kept waiting for the write lock longer than a bound. The rows are made by one
 * INSERT ... SELECT each (a recursive CTE on SQLite, generate_series on PostgreSQL), not a
 * million round trips, so the file stays within its share of the suite's time.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { sql } from 'kysely';
import { openStore, type Store } from '../../src/storage/db.js';
import { migrateToLatest } from '../../src/storage/migrator.js';
import { Retention } from '../../src/storage/retention.js';
import { makeTestStore, STORE_KINDS, type TestStore } from '../support/stores.js';

const DAY = 86_400_000;
const OLD = 1_000_000;
const OLD_SESSIONS = 100_000;
const RECENT = 1000;
// Bounds for one batch (2,000 rows, seven indexes) on a busy shared 2-core machine; a run measures
// a few milliseconds per batch when the machine is quiet. One statement over the million rows
// takes seconds: these bounds are what tells batches from that.
const MAX_LOOP_DELAY_MS = 250;
const MAX_WRITE_WAIT_MS = 500;

for (const kind of STORE_KINDS) {
  describe(`retention of a million rows on ${kind}`, () => {
    let ts: TestStore;
    let store: Store;
    const now = Date.now();
    before(async () => {
      ts = await makeTestStore(kind);
      store = openStore({ dataDir: ts.dataDir, databaseUrl: ts.databaseUrl });
      await migrateToLatest(store.db);
      await sql`insert into organizations (id, domain, name, created_at) values ('org1', 'contoso.test', 'Contoso', 0)`.execute(
        store.db,
      );
      await sql`insert into users (id, org_id, address, name, status, role, created_at) values ('u1', 'org1', 'alice@contoso.test', 'Alice', 'active', 'user', 0)`.execute(
        store.db,
      );
      const series = (from: number, to: number) =>
        kind === 'sqlite'
          ? sql`with recursive s(i) as (select ${from} union all select i + 1 from s where i < ${to}) select i from s`
          : sql`select i from generate_series(${from}::int, ${to}::int) as s(i)`;
      const oldAt = now - 200 * DAY;
      const t = performance.now();
      // In statements of 250,000 rows: PostgreSQL's client gives up on a query after 15 s (db.ts).
      for (let from = 1; from <= OLD; from += 250_000)
        await sql`insert into sign_in_events (id, at, org_id, user_id, address_typed, outcome, reason, protocol, ip, user_agent, attempts, last_at)
          select 'old-' || i, cast(${oldAt} as bigint) - i, 'org1', 'u1', 'alice@contoso.test', 'failure', 'wrong_password', 'imap', '192.0.2.1', 'agent', 1, cast(${oldAt} as bigint) - i
          from (${series(from, from + 249_999)}) as g`.execute(store.db);
      await sql`insert into sign_in_events (id, at, org_id, user_id, address_typed, outcome, reason, protocol, ip, user_agent, attempts, last_at)
        select 'new-' || i, cast(${now} as bigint) - i * 1000, 'org1', 'u1', 'alice@contoso.test', 'success', 'ok', 'web', '192.0.2.1', 'agent', 1, cast(${now} as bigint) - i * 1000
        from (${series(1, RECENT)}) as g`.execute(store.db);
      await sql`insert into sessions (id, token_hash, user_id, created_at, last_seen_at, expires_at, amr, ip, user_agent)
        select 's-' || i, 'h-' || i, 'u1', cast(${oldAt} as bigint), cast(${oldAt} as bigint), cast(${oldAt} as bigint) + i, 'pwd', '192.0.2.1', ''
        from (${series(1, OLD_SESSIONS)}) as g`.execute(store.db);
      await sql`insert into sessions (id, token_hash, user_id, created_at, last_seen_at, expires_at, amr, ip, user_agent)
        select 'live-' || i, 'live-h-' || i, 'u1', cast(${now} as bigint), cast(${now} as bigint), cast(${now} as bigint) + i * 1000, 'pwd', '192.0.2.1', ''
        from (${series(1, RECENT)}) as g`.execute(store.db);
      if (kind === 'postgres') await sql`analyze`.execute(store.db);
      console.log(`${kind}: ${OLD + OLD_SESSIONS + 2 * RECENT} rows made in ${Math.round(performance.now() - t)} ms`);
    });
    after(async () => {
      await store?.close();
      await ts?.dispose();
    });

    const count = async (table: 'sign_in_events' | 'sessions') =>
      Number(
        (
          await store.db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    it('removes every old row in small batches, keeps the recent ones, and never holds the loop or the lock for long', async () => {
      const retention = new Retention(store, { signInLogDays: 90, auditLogDays: 365, graceHours: 24 });
      const plan = await retention.plan(now);
      assert.equal(plan.find((p) => p.table === 'sign_in_events')!.rows, OLD);
      assert.equal(plan.find((p) => p.table === 'sessions')!.rows, OLD_SESSIONS);

      // Another writer, on its own connection: a thread on SQLite (so that it waits for the file's
      // write lock, not for this thread's event loop), the store's pool on PostgreSQL.
      let writer: Worker | undefined;
      let pgWrites: { stop: boolean; max: number; n: number; done?: Promise<void> } | undefined;
      if (kind === 'sqlite') {
        writer = new Worker(path.join(import.meta.dirname, '../support/sqlite-writer-worker.js'), {
          workerData: { file: path.join(ts.dataDir, 'sesame.db') },
        });
        await new Promise((resolve) => writer!.once('message', resolve));
      } else {
        const w = { stop: false, max: 0, n: 0 } as NonNullable<typeof pgWrites>;
        w.done = (async () => {
          while (!w.stop) {
            const t = performance.now();
            await sql`insert into audit_events (id, at, org_id, actor_id, actor_label, action, target_user_id, detail) values (${`w-${w.n}`}, ${Date.now()}, 'org1', null, 'writer', 'test.write', null, '')`.execute(
              store.db,
            );
            w.max = Math.max(w.max, performance.now() - t);
            w.n += 1;
            await new Promise((r) => setTimeout(r, 3));
          }
        })();
        pgWrites = w;
      }

      const loop = monitorEventLoopDelay({ resolution: 5 });
      loop.enable();
      const t = performance.now();
      const removed = await retention.apply(now);
      const ms = performance.now() - t;
      loop.disable();

      let writes: { max: number; n: number };
      if (writer) {
        writer.postMessage('stop');
        writes = await new Promise((resolve) => writer!.once('message', resolve));
        await writer.terminate();
      } else {
        pgWrites!.stop = true;
        await pgWrites!.done;
        writes = pgWrites!;
      }
      const maxLoopMs = loop.max / 1e6;
      console.log(
        `${kind}: removed ${OLD + OLD_SESSIONS} rows in ${Math.round(ms)} ms; event loop delay max ${maxLoopMs.toFixed(1)} ms, p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms; ${writes.n} concurrent writes, slowest ${writes.max.toFixed(1)} ms`,
      );

      assert.equal(removed.find((r) => r.table === 'sign_in_events')!.rows, OLD);
      assert.equal(removed.find((r) => r.table === 'sessions')!.rows, OLD_SESSIONS);
      assert.equal(await count('sign_in_events'), RECENT, 'every old row gone, every recent one kept');
      assert.equal(await count('sessions'), RECENT);
      assert.ok(maxLoopMs < MAX_LOOP_DELAY_MS, `event loop held ${maxLoopMs.toFixed(1)} ms at most`);
      assert.ok(writes.n > 10, 'the other writer kept writing during the run');
      assert.ok(writes.max < MAX_WRITE_WAIT_MS, `a concurrent write waited ${writes.max.toFixed(1)} ms at most`);
    });
  });
}
