/**
 * Retention (issue 15, item 4): nothing grows forever. One rule per table that grows; each removes
 * the rows whose time column is before a cutoff, in batches of a few thousand rows, one short
 * statement each (by the rows' physical id: SQLite's rowid, PostgreSQL's ctid, so every table is
 * handled alike whatever its key), with a pause between batches. A batch holds SQLite's write lock,
 * and in this process the event loop (better-sqlite3 is synchronous), for a few milliseconds only;
 * other writers get the lock in the pauses. Every rule is idempotent: two instances running it at
 * once remove each row once between them.
 *
 * Tables without a rule, and why they stay bounded: users, organizations, policies, methods,
 * integrations, OIDC clients and keys are what admins manage; recovery codes are replaced as a set
 * (at most ten per user); app passwords are capped per user and revoked when unused by policy, and
 * their IP rows (app_password_ips) go with them and are written only after a good app password, so
 * a stranger cannot add one; an account's countries (account_countries) are written the same way
 * and are at most one per country.
 */
import { performance } from 'node:perf_hooks';
import { type Kysely, type RawBuilder, sql } from 'kysely';
import { type AuditRepository, auditEvent } from '../domain/audit/events.js';
import type { Database } from './schema.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface RetentionSettings {
  /** Days sign-in log rows are kept (0: forever). */
  signInLogDays: number;
  /** Days audit log rows are kept (0: forever). */
  auditLogDays: number;
  /** Hours expired things are kept after their expiry. */
  graceHours: number;
}

export type RetainedTable =
  | 'sign_in_events'
  | 'audit_events'
  | 'sessions'
  | 'flows'
  | 'one_time_tokens'
  | 'trusted_devices'
  | 'rate_limits'
  | 'recent_bad_passwords'
  | 'oidc_payloads'
  | 'profile_links';

export interface RetentionRule {
  table: RetainedTable;
  /** The indexed time column compared with the cutoff. */
  column: string;
  /** Rows with `column` before this are removed. */
  cutoff: number;
  /** The rule in words, for `sesame retention` and the docs. */
  rule: string;
}

/** The rules in force at `now`; a log kept forever (0 days) has none. */
export function retentionRules(s: RetentionSettings, now: number): RetentionRule[] {
  const grace = s.graceHours * HOUR;
  const g = `${s.graceHours} h`;
  const rules: RetentionRule[] = [];
  if (s.signInLogDays > 0)
    rules.push({
      table: 'sign_in_events',
      column: 'at',
      cutoff: now - s.signInLogDays * DAY,
      rule: `sign-in log rows older than ${s.signInLogDays} days`,
    });
  if (s.auditLogDays > 0)
    rules.push({
      table: 'audit_events',
      column: 'at',
      cutoff: now - s.auditLogDays * DAY,
      rule: `audit log rows older than ${s.auditLogDays} days`,
    });
  const expired = (table: RetainedTable, column: string, what: string): RetentionRule => ({
    table,
    column,
    cutoff: now - grace,
    rule: `${what} expired more than ${g} ago`,
  });
  rules.push(
    expired('sessions', 'expires_at', 'sessions'),
    expired('flows', 'expires_at', 'sign-in and enrolment flows'),
    // Used tokens and links expire as well (hours after they were made); used or not, an expired one is refused.
    expired('one_time_tokens', 'expires_at', 'one-time tokens and links (used or not)'),
    expired('trusted_devices', 'expires_at', 'remembered devices'),
    expired('rate_limits', 'expire', 'lock and rate counters'),
    expired('oidc_payloads', 'expires_at', 'OpenID Connect codes, tokens, sessions and interactions'),
    expired('profile_links', 'expires_at', 'one-time configuration profile links (used or not)'),
  );
  // A wrong password is remembered for a day (a repeat counts once); kept that day plus the grace.
  rules.push({
    table: 'recent_bad_passwords',
    column: 'at',
    cutoff: now - DAY - grace,
    rule: `remembered wrong passwords older than 1 day + ${g}`,
  });
  return rules;
}

export interface RetentionOptions {
  /** Rows per statement (default 2000). */
  batch?: number;
  /** Least pause between batches in ms (default 5; at least the batch's own time): other writers take the lock then. */
  pauseMs?: number;
  /** Asked before each batch: stop early (shutdown). */
  stopped?: () => boolean;
}

export interface RetentionCount {
  table: RetainedTable;
  rule: string;
  rows: number;
}

export class Retention {
  constructor(
    private readonly store: { kind: 'sqlite' | 'postgres'; db: Kysely<Database> },
    private readonly settings: RetentionSettings,
  ) {}

  /** What a run would remove now, per table (counted with the same conditions; nothing is changed). */
  async plan(now: number): Promise<RetentionCount[]> {
    const out: RetentionCount[] = [];
    for (const r of retentionRules(this.settings, now)) {
      const row = await this.table(r)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where(this.store.db.dynamic.ref(r.column), '<', r.cutoff)
        .executeTakeFirst();
      out.push({ table: r.table, rule: r.rule, rows: Number(row?.n ?? 0) });
    }
    return out;
  }

  /** Removes what the rules say, table by table in small batches; returns what each removed. */
  async apply(now: number, o: RetentionOptions = {}): Promise<RetentionCount[]> {
    const batch = o.batch ?? 2000;
    const pauseMs = o.pauseMs ?? 5;
    const out: RetentionCount[] = [];
    for (const r of retentionRules(this.settings, now)) {
      let rows = 0;
      for (;;) {
        if (o.stopped?.()) break;
        const started = performance.now();
        const n = await this.deleteBatch(r, batch);
        rows += n;
        if (n < batch) break;
        // At least as long as the batch took: retention holds the lock at most half the time
        // however slow the disk, so a writer that waits (SQLite's busy handler sleeps and retries
        // on its own schedule) finds it free soon.
        await new Promise((resolve) => setTimeout(resolve, Math.max(pauseMs, performance.now() - started)));
      }
      out.push({ table: r.table, rule: r.rule, rows });
    }
    return out;
  }

  /** The rule's table, for a SELECT; its name comes from the fixed list of rules, never from input. */
  private table(r: RetentionRule) {
    return this.store.db.selectFrom(r.table as 'sessions');
  }

  private async deleteBatch(r: RetentionRule, batch: number): Promise<number> {
    const db = this.store.db;
    // The inner SELECT walks the time column's index up to the cutoff and stops after `batch` rows;
    // the rows are named by their physical id, so every table is handled alike whatever its key.
    const victims = (id: RawBuilder<string>) =>
      this.table(r).select(id.as('rid')).where(db.dynamic.ref(r.column), '<', r.cutoff).limit(batch);
    const q =
      this.store.kind === 'sqlite'
        ? db.deleteFrom(r.table as 'sessions').where(sql`rowid`, 'in', victims(sql`rowid`))
        : // `ctid = any(array(...))` is a TID scan; `ctid in (select ...)` could plan a join over the table.
          db.deleteFrom(r.table as 'sessions').where(sql`ctid`, '=', sql`any(array(${victims(sql`ctid`)}))`);
    const res = await q.executeTakeFirst();
    return Number(res.numDeletedRows ?? 0);
  }
}

/**
 * One retention run: applies the rules and, when it removed anything, records one audit row for
 * the whole run (`retention.applied`, by Sesame, no organization; its detail counts the rows per
 * table), not one per batch: the audit log must not grow with what retention removes.
 */
export async function runRetention(
  retention: Retention,
  audit: Pick<AuditRepository, 'recordAudit'>,
  now: number,
  o: RetentionOptions & { by?: string } = {},
): Promise<RetentionCount[]> {
  const counts = await retention.apply(now, o);
  const removed = counts.filter((c) => c.rows > 0);
  if (removed.length)
    await audit.recordAudit(
      auditEvent({ kind: 'sesame' }, now, {
        orgId: null,
        action: 'retention.applied',
        targetUserId: null,
        detail: `${o.by ? `${o.by}: ` : ''}${removed.map((c) => `${c.table}=${c.rows}`).join(' ')}`,
      }),
    );
  return counts;
}
