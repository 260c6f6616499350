/**
 * The dashboard's counts and the filtered sign-in log, on both stores. Everything is aggregated
 * in SQL; hours are bucketed by integer division of the epoch-ms BIGINT (`at / 3600000`), which
 * both SQLite and PostgreSQL compute the same way on integers, so no date function (which differ
 * between the two, and in PostgreSQL depend on the session's time zone) is involved.
 */
import { type ExpressionBuilder, type Kysely, type SelectQueryBuilder, sql } from 'kysely';
import type { SignInEvent, SignInOutcome } from '../domain/audit/events.js';
import {
  type DashboardCounts,
  LEGACY_PROTOCOLS,
  type ReportRepository,
  type SignInFilter,
} from '../domain/audit/reports.js';
import { signInEventFromRow } from './audit-repository.js';
import type { Database } from './schema.js';

type Q = SelectQueryBuilder<Database, 'sign_in_events', object>;

/** At most this many (address, outcome) groups feed the dashboard's countries. */
const LEGACY_IPS_MAX = 20_000;

/** ReportRepository over Kysely, the same queries on SQLite and PostgreSQL. */
export class KyselyReportRepository implements ReportRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async dashboard(orgId: string, since: number, until: number, unusedBefore: number): Promise<DashboardCounts> {
    const window = this.db
      .selectFrom('sign_in_events')
      .where('org_id', '=', orgId)
      .where('at', '>=', since)
      .where('at', '<', until);
    // A literal divisor, not a parameter: PostgreSQL must see the same expression in SELECT and GROUP BY.
    const hour = sql<number>`cast(at / 3600000 as bigint)`;
    // Attempts, not rows: an aggregated failure row stands for `attempts` of them (migration 17).
    const attempts = sql<number>`sum(attempts)`;
    const [hourly, legacy, legacyByIp, locked, lockedAccounts, mfa, ap] = await Promise.all([
      window
        .select([hour.as('bucket'), 'outcome', attempts.as('n')])
        .groupBy([hour, 'outcome'])
        .execute(),
      window
        .where('protocol', 'in', [...LEGACY_PROTOCOLS])
        .select(['protocol', 'outcome', attempts.as('n')])
        .groupBy(['protocol', 'outcome'])
        .execute(),
      // By address, for the countries (mapped in the reports, from the offline table): one row per
      // address and outcome; the busiest first, at most LEGACY_IPS_MAX of them (a spray from more
      // addresses than that in a day leaves the rest uncounted there, not the page unbounded).
      window
        .where('protocol', 'in', [...LEGACY_PROTOCOLS])
        .select(['ip', 'outcome', attempts.as('n')])
        .groupBy(['ip', 'outcome'])
        .orderBy(attempts, 'desc')
        .limit(LEGACY_IPS_MAX)
        .execute(),
      window
        .where('outcome', '=', 'throttled')
        .select(['reason', attempts.as('n')])
        .groupBy('reason')
        .execute(),
      window
        .where('outcome', '=', 'throttled')
        .select(sql<number>`count(distinct lower(address_typed))`.as('n'))
        .executeTakeFirstOrThrow(),
      this.db
        .selectFrom('users')
        .where('org_id', '=', orgId)
        .where('status', '=', 'active')
        .select(['mfa_state', (eb) => eb.fn.countAll<number>().as('n')])
        .groupBy('mfa_state')
        .execute(),
      this.db
        .selectFrom('app_passwords')
        .innerJoin('users', 'users.id', 'app_passwords.user_id')
        .where('users.org_id', '=', orgId)
        .where((eb) => eb.or([eb('app_passwords.expires_at', 'is', null), eb('app_passwords.expires_at', '>', until)]))
        .select([
          (eb) => eb.fn.countAll<number>().as('total'),
          sql<number>`sum(case when coalesce(app_passwords.last_used_at, app_passwords.created_at) < ${unusedBefore} then 1 else 0 end)`.as(
            'unused',
          ),
        ])
        .executeTakeFirstOrThrow(),
    ]);
    return {
      hourly: hourly.map((r) => ({
        hour: Number(r.bucket) * 3_600_000,
        outcome: r.outcome as SignInOutcome,
        count: Number(r.n),
      })),
      legacy: legacy.map((r) => ({ protocol: r.protocol, outcome: r.outcome as SignInOutcome, count: Number(r.n) })),
      legacyByIp: legacyByIp.map((r) => ({ ip: r.ip, outcome: r.outcome as SignInOutcome, count: Number(r.n) })),
      locked: locked.map((r) => ({ reason: r.reason, count: Number(r.n) })),
      lockedAccounts: Number(lockedAccounts.n),
      mfa: mfa.map((r) => ({ state: r.mfa_state, count: Number(r.n) })),
      appPasswords: { total: Number(ap.total), unused: Number(ap.unused ?? 0) },
    };
  }

  async listSignIns(orgId: string, filter: SignInFilter, limit: number, offset: number) {
    const base = this.filtered(orgId, filter);
    const [rows, count] = await Promise.all([
      this.withNames(base)
        .orderBy('sign_in_events.at', 'desc')
        .orderBy('sign_in_events.id', 'desc')
        .limit(limit)
        .offset(offset)
        .execute(),
      base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { events: rows.map(signInEventFromRow), total: Number(count.n) };
  }

  /**
   * Keyset pages (after the last row's time and id), not OFFSET: each page costs the same however
   * deep the export is, and no read transaction stays open between pages (on SQLite a long one
   * would keep the WAL from being checkpointed while a slow client downloads).
   */
  async *scanSignIns(orgId: string, filter: SignInFilter, pageSize: number): AsyncIterable<SignInEvent[]> {
    let after: { at: number; id: string } | undefined;
    for (;;) {
      let q = this.filtered(orgId, filter);
      if (after) {
        const { at, id } = after;
        q = q.where((eb) =>
          eb.or([
            eb('sign_in_events.at', '<', at),
            eb.and([eb('sign_in_events.at', '=', at), eb('sign_in_events.id', '<', id)]),
          ]),
        );
      }
      const rows = await this.withNames(q)
        .orderBy('sign_in_events.at', 'desc')
        .orderBy('sign_in_events.id', 'desc')
        .limit(pageSize)
        .execute();
      if (rows.length === 0) return;
      yield rows.map(signInEventFromRow);
      if (rows.length < pageSize) return;
      const last = rows[rows.length - 1]!;
      after = { at: last.at, id: last.id };
    }
  }

  private withNames(q: Q) {
    return q
      .leftJoin('app_passwords', 'app_passwords.id', 'sign_in_events.app_password_id')
      .selectAll('sign_in_events')
      .select('app_passwords.name as app_password_name');
  }

  /** The organization's rows matching every given field of the filter. */
  private filtered(orgId: string, f: SignInFilter): Q {
    let q: Q = this.db.selectFrom('sign_in_events').where('sign_in_events.org_id', '=', orgId);
    if (f.user) {
      const user = f.user;
      // The user's own rows (whatever was typed), and attempts that typed the address (also for made-up accounts).
      q = q.where((eb: ExpressionBuilder<Database, 'sign_in_events'>) =>
        eb.or([
          eb(
            'sign_in_events.user_id',
            'in',
            eb
              .selectFrom('users')
              .select('users.id')
              .where('users.org_id', '=', orgId)
              .where('users.address', '=', user),
          ),
          eb(eb.fn('lower', ['sign_in_events.address_typed']), '=', user),
        ]),
      );
    }
    if (f.outcome) q = q.where('sign_in_events.outcome', '=', f.outcome);
    if (f.protocol) q = q.where('sign_in_events.protocol', '=', f.protocol);
    if (f.ip) q = q.where('sign_in_events.ip', '=', f.ip);
    if (f.from !== undefined) q = q.where('sign_in_events.at', '>=', f.from);
    if (f.to !== undefined) q = q.where('sign_in_events.at', '<', f.to);
    return q;
  }
}
