/**
 * Issue 15, item 4, on both stores: repeated identical sign-in failures are one row with a count
 * (also with parallel writers on separate connections, as several instances would be), the
 * dashboard counts attempts rather than rows, and each retention rule removes what is old or
 * expired, keeps the rest, and is audited once per run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kysely } from 'kysely';
import type { SignInEvent } from '../../src/domain/audit/events.js';
import { KyselyAuditRepository } from '../../src/storage/audit-repository.js';
import { openStore, type Store } from '../../src/storage/db.js';
import { migrateToLatest } from '../../src/storage/migrator.js';
import { KyselyReportRepository } from '../../src/storage/report-repository.js';
import { Retention, type RetainedTable, retentionRules, runRetention } from '../../src/storage/retention.js';
import type { Database } from '../../src/storage/schema.js';
import { makeTestStore, STORE_KINDS, type TestStore } from '../support/stores.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
// The start of a 15-minute window, so that a test's attempts a few seconds apart share it.
const T0 = Math.floor(Date.UTC(2026, 11, 7, 10, 0) / (15 * MIN)) * 15 * MIN;

let seq = 0;
function failure(over: Partial<SignInEvent> = {}): SignInEvent {
  seq += 1;
  return {
    id: `ev-${seq}-${Math.random().toString(36).slice(2)}`,
    at: T0 + 1000,
    orgId: 'org1',
    userId: 'u1',
    addressTyped: 'alice@contoso.test',
    outcome: 'failure',
    reason: 'wrong_password',
    protocol: 'basic',
    ip: '192.0.2.10',
    userAgent: 'curl/8',
    appPasswordId: null,
    ...over,
  };
}

async function rows(db: Kysely<Database>) {
  return db.selectFrom('sign_in_events').selectAll().orderBy('at').orderBy('id').execute();
}

for (const kind of STORE_KINDS) {
  describe(`sign-in aggregation and retention on ${kind}`, () => {
    let ts: TestStore;
    let store: Store;
    let other: Store;
    before(async () => {
      ts = await makeTestStore(kind);
      store = openStore({ dataDir: ts.dataDir, databaseUrl: ts.databaseUrl });
      await migrateToLatest(store.db);
      // A second connection (pool) to the same store: another instance, as far as the store can tell.
      other = openStore({ dataDir: ts.dataDir, databaseUrl: ts.databaseUrl });
    });
    after(async () => {
      await other.close();
      await store.close();
      await ts.dispose();
    });
    const clear = async () => {
      await store.db.deleteFrom('sign_in_events').execute();
      await store.db.deleteFrom('audit_events').execute();
    };

    it('identical failures within the window are one row with their count, first and last time', async () => {
      await clear();
      const repo = new KyselyAuditRepository(store.db, { aggregationWindowMs: 15 * MIN });
      // In several batches, and within each batch several of the same key (merged before the upsert).
      for (let b = 0; b < 5; b++)
        await repo.recordSignIns(Array.from({ length: 10 }, (_, i) => failure({ at: T0 + 1000 + (b * 10 + i) * 100 })));
      // A late-arriving batch with an earlier attempt moves the first time back.
      await repo.recordSignIns([failure({ at: T0 + 500 })]);
      const r = await rows(store.db);
      assert.equal(r.length, 1, 'one row for 51 identical failures');
      assert.equal(Number(r[0]!.attempts), 51);
      assert.equal(Number(r[0]!.at), T0 + 500);
      assert.equal(Number(r[0]!.last_at), T0 + 1000 + 49 * 100);
      const listed = await repo.listSignIns({ orgId: 'org1', limit: 10, offset: 0 });
      assert.equal(listed.events[0]!.count, 51);
      assert.equal(listed.events[0]!.lastAt, T0 + 1000 + 49 * 100);
    });

    it('any differing field, another window, or a success makes its own row', async () => {
      await clear();
      const repo = new KyselyAuditRepository(store.db, { aggregationWindowMs: 15 * MIN });
      await repo.recordSignIns([
        failure(),
        failure({ ip: '192.0.2.11' }),
        failure({ addressTyped: 'Alice@contoso.test' }),
        failure({ protocol: 'imap' }),
        failure({ reason: 'unknown_user', userId: null }),
        failure({ outcome: 'throttled', reason: 'ip_locked' }),
        failure({ at: T0 + 15 * MIN + 1 }),
        failure({ outcome: 'success', reason: 'ok' }),
        failure({ outcome: 'success', reason: 'ok' }),
      ]);
      const r = await rows(store.db);
      assert.equal(r.length, 9);
      assert.ok(r.every((x) => Number(x.attempts) === 1));
      assert.equal(
        r.filter((x) => x.outcome === 'success' && x.agg_key === null).length,
        2,
        'successes are never aggregated',
      );
    });

    it('a window of 0 keeps one row per attempt', async () => {
      await clear();
      const repo = new KyselyAuditRepository(store.db, { aggregationWindowMs: 0 });
      await repo.recordSignIns([failure(), failure(), failure()]);
      assert.equal((await rows(store.db)).length, 3);
    });

    it('parallel writers on two connections add up in one row, losing no attempt', async () => {
      await clear();
      const a = new KyselyAuditRepository(store.db, { aggregationWindowMs: 15 * MIN });
      const b = new KyselyAuditRepository(other.db, { aggregationWindowMs: 15 * MIN });
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 40; i++) {
        const repo = i % 2 ? a : b;
        writes.push(
          i % 4 < 2
            ? repo.recordSignIn(failure({ at: T0 + 2000 + i }))
            : repo.recordSignIns([failure({ at: T0 + 2000 + i }), failure({ at: T0 + 2000 + i })]),
        );
      }
      await Promise.all(writes);
      const r = await rows(store.db);
      assert.equal(r.length, 1);
      assert.equal(Number(r[0]!.attempts), 60);
      assert.equal(Number(r[0]!.at), T0 + 2000);
      assert.equal(Number(r[0]!.last_at), T0 + 2039);
    });

    it('the dashboard counts attempts, not rows', async () => {
      await clear();
      const repo = new KyselyAuditRepository(store.db, { aggregationWindowMs: 15 * MIN });
      await repo.recordSignIns(Array.from({ length: 30 }, () => failure()));
      await repo.recordSignIns(
        Array.from({ length: 7 }, () => failure({ outcome: 'throttled', reason: 'ip_locked', protocol: 'imap' })),
      );
      await repo.recordSignIns([failure({ outcome: 'success', reason: 'ok' })]);
      const d = await new KyselyReportRepository(store.db).dashboard('org1', T0 - HOUR, T0 + HOUR, 0);
      const sum = (o: string) => d.hourly.filter((h) => h.outcome === o).reduce((n, h) => n + h.count, 0);
      assert.equal(sum('failure'), 30);
      assert.equal(sum('throttled'), 7);
      assert.equal(sum('success'), 1);
      assert.deepEqual(d.locked, [{ reason: 'ip_locked', count: 7 }]);
      assert.equal(d.legacy.find((l) => l.protocol === 'imap' && l.outcome === 'throttled')?.count, 7);
    });

    it('each table is kept by its rule: old and expired rows go, recent ones stay, one audit row per run', async () => {
      await clear();
      const db = store.db;
      const now = T0 + 400 * DAY;
      const settings = { signInLogDays: 90, auditLogDays: 365, graceHours: 24 };
      await db
        .insertInto('organizations')
        .values({ id: 'org1', domain: 'contoso.test', name: 'Contoso', created_at: 0 })
        .onConflict((oc) => oc.doNothing())
        .execute();
      await db
        .insertInto('users')
        .values({
          id: 'u1',
          org_id: 'org1',
          address: 'alice@contoso.test',
          name: 'Alice',
          status: 'active',
          role: 'user',
          password_hash: null,
          password_changed_at: null,
          created_at: 0,
        })
        .onConflict((oc) => oc.doNothing())
        .execute();
      // For each table: 7 rows just past its cutoff (more than one batch of 3) and 2 just inside it.
      const cut = Object.fromEntries(retentionRules(settings, now).map((r) => [r.table, r.cutoff])) as Record<
        RetainedTable,
        number
      >;
      const times = (t: RetainedTable) => [
        ...Array.from({ length: 7 }, (_, i) => ({ old: true, at: cut[t] - 1 - i * 1000 })),
        { old: false, at: cut[t] },
        { old: false, at: cut[t] + 1000 },
      ];
      let n = 0;
      const id = () => `r${++n}`;
      for (const { at } of times('sign_in_events'))
        await db
          .insertInto('sign_in_events')
          .values({ ...signInRow(id(), at) })
          .execute();
      for (const { at } of times('audit_events'))
        await db
          .insertInto('audit_events')
          .values({
            id: id(),
            at,
            org_id: 'org1',
            actor_id: null,
            actor_label: 'x',
            action: 'x',
            target_user_id: null,
            detail: '',
          })
          .execute();
      for (const { at } of times('sessions'))
        await db
          .insertInto('sessions')
          .values({
            id: id(),
            token_hash: id(),
            user_id: 'u1',
            created_at: at - HOUR,
            last_seen_at: at - HOUR,
            expires_at: at,
            amr: 'pwd',
            ip: '192.0.2.1',
            user_agent: '',
            mfa_at: null,
            reauth_at: null,
          })
          .execute();
      for (const { at } of times('flows'))
        await db
          .insertInto('flows')
          .values({
            id: id(),
            token_hash: id(),
            kind: 'sign_in',
            state: 'x',
            user_id: 'u1',
            version: 1,
            created_at: at - HOUR,
            expires_at: at,
            data: '{}',
          })
          .execute();
      for (const [i, { at }] of times('one_time_tokens').entries())
        await db
          .insertInto('one_time_tokens')
          .values({
            token_hash: id(),
            purpose: 'set_password',
            user_id: 'u1',
            expires_at: at,
            used_at: i % 2 ? at - 1 : null,
          })
          .execute();
      for (const { at } of times('trusted_devices'))
        await db
          .insertInto('trusted_devices')
          .values({ token_hash: id(), user_id: 'u1', created_at: at - DAY, expires_at: at })
          .execute();
      for (const { at } of times('rate_limits'))
        await db.insertInto('rate_limits').values({ key: id(), points: 3, expire: at }).execute();
      await db.insertInto('rate_limits').values({ key: 'forever', points: 1, expire: null }).execute();
      for (const { at } of times('recent_bad_passwords'))
        await db.insertInto('recent_bad_passwords').values({ key: 'k', hash: id(), at }).execute();
      for (const { at } of times('oidc_payloads'))
        await db
          .insertInto('oidc_payloads')
          .values({
            model: 'AuthorizationCode',
            id: id(),
            payload: '{}',
            grant_id: null,
            uid: null,
            user_code: null,
            expires_at: at,
            consumed_at: null,
          })
          .execute();
      await db
        .insertInto('app_passwords')
        .values({
          id: 'ap1',
          user_id: 'u1',
          name: 'Phone',
          hash: 'h-ap1',
          protocols: 'imap',
          created_at: 0,
          created_ip: '',
          expires_at: null,
          last_used_at: null,
          last_used_protocol: null,
          last_used_ip: null,
        })
        .execute();
      for (const [i, { at }] of times('profile_links').entries())
        await db
          .insertInto('profile_links')
          .values({
            id_hash: id(),
            user_id: 'u1',
            app_password_id: 'ap1',
            session_id: null,
            sealed: 'x',
            created_at: at - 600_000,
            expires_at: at,
            used_at: i % 2 ? at - 1 : null,
          })
          .execute();

      const retention = new Retention(store, settings);
      const plan = await retention.plan(now);
      assert.equal(plan.length, 10, 'a rule for each growing table');
      for (const p of plan) assert.equal(p.rows, 7, `${p.table}: 7 rows to remove`);
      const auditBefore = await db.selectFrom('audit_events').select('id').execute();

      const applied = await runRetention(retention, new KyselyAuditRepository(db), now, {
        batch: 3,
        pauseMs: 0,
      });
      for (const a of applied) assert.equal(a.rows, 7, `${a.table}: 7 rows removed`);
      const count = async (t: RetainedTable) =>
        Number(
          (
            await db
              .selectFrom(t)
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        );
      for (const t of Object.keys(cut) as RetainedTable[]) {
        const expected = t === 'rate_limits' ? 3 : t === 'audit_events' ? 3 : 2;
        assert.equal(await count(t), expected, `${t}: the recent rows stay`);
      }
      const audits = await db
        .selectFrom('audit_events')
        .selectAll()
        .where(
          'id',
          'not in',
          auditBefore.map((r) => r.id),
        )
        .execute();
      assert.equal(audits.length, 1, 'one audit row for the run, not one per batch');
      assert.equal(audits[0]!.action, 'retention.applied');
      assert.match(audits[0]!.detail, /sign_in_events=7 .*oidc_payloads=7 .*profile_links=7/);
      // Nothing left to remove: no audit row.
      await runRetention(retention, new KyselyAuditRepository(db), now, { batch: 3, pauseMs: 0 });
      assert.equal(await count('audit_events'), 3);
      // A log kept forever (0 days) has no rule.
      assert.deepEqual(
        retentionRules({ signInLogDays: 0, auditLogDays: 0, graceHours: 24 }, now)
          .map((r) => r.table)
          .filter((t) => t.endsWith('_events')),
        [],
      );
    });
  });
}

function signInRow(id: string, at: number) {
  return {
    id,
    at,
    org_id: 'org1',
    user_id: 'u1',
    address_typed: 'alice@contoso.test',
    outcome: 'success',
    reason: 'ok',
    protocol: 'web',
    ip: '192.0.2.1',
    user_agent: '',
    app_password_id: null,
    last_at: at,
    agg_key: null,
  };
}
