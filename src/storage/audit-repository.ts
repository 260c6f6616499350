/**
 * Sign-in log and audit log. Repeated identical failures are aggregated here, in the write path
 * (issue 15, item 4): every writer (the pages, the API, the batched log of the legacy endpoints)
 * goes through recordSignIns, so one place decides what is one row.
 */
import { createHash } from 'node:crypto';
import { type Insertable, type Kysely, type Selectable, sql } from 'kysely';
import type {
  AuditEvent,
  AuditRepository,
  SignInEvent,
  SignInOutcome,
  SignInQuery,
  SignInReason,
} from '../domain/audit/events.js';
import type { AuditEventsTable, Database, SignInEventsTable } from './schema.js';

/** An audit event as its table row; shared by every writer of the audit log. */
export function auditRow(e: AuditEvent): AuditEventsTable {
  return {
    id: e.id,
    at: e.at,
    org_id: e.orgId,
    actor_id: e.actorId,
    actor_label: e.actorLabel,
    action: e.action,
    target_user_id: e.targetUserId,
    detail: e.detail,
  };
}

/** A sign-in log row (joined with its app password's name) as the domain's event; shared by every reader of the log. */
export function signInEventFromRow(
  r: Selectable<SignInEventsTable> & { app_password_name: string | null },
): SignInEvent {
  return {
    id: r.id,
    at: r.at,
    orgId: r.org_id,
    userId: r.user_id,
    addressTyped: r.address_typed,
    outcome: r.outcome as SignInOutcome,
    reason: r.reason as SignInReason,
    protocol: r.protocol,
    ip: r.ip,
    userAgent: r.user_agent,
    appPasswordId: r.app_password_id,
    appPasswordName: r.app_password_name,
    count: Number(r.attempts ?? 1),
    lastAt: r.last_at ?? r.at,
  };
}

/**
 * The aggregation key of a failure: its fields and its window (the window's number since the
 * epoch; fixed windows, so every instance computes the same key for the same attempt without
 * asking the store). Hashed only to keep the unique index small: the fields are in the row anyway.
 */
export function aggregationKey(e: SignInEvent, windowMs: number): string {
  const fields = [
    e.orgId,
    e.userId,
    e.addressTyped,
    e.ip,
    e.protocol,
    e.outcome,
    e.reason,
    e.appPasswordId ?? null,
    Math.floor(e.at / windowMs),
  ];
  return createHash('sha256').update(JSON.stringify(fields)).digest('base64url');
}

export interface AuditRepositoryOptions {
  /** Failures identical within a window this long are one row; 0: every attempt is its own row. */
  aggregationWindowMs?: number;
}

function signInRow(e: SignInEvent): Insertable<SignInEventsTable> {
  return {
    id: e.id,
    at: e.at,
    org_id: e.orgId,
    user_id: e.userId,
    address_typed: e.addressTyped,
    outcome: e.outcome,
    reason: e.reason,
    protocol: e.protocol,
    ip: e.ip,
    user_agent: e.userAgent,
    app_password_id: e.appPasswordId ?? null,
    attempts: 1,
    last_at: e.at,
    agg_key: null,
  };
}

export class KyselyAuditRepository implements AuditRepository {
  private readonly windowMs: number;

  constructor(
    private readonly db: Kysely<Database>,
    opts: AuditRepositoryOptions = {},
  ) {
    this.windowMs = opts.aggregationWindowMs ?? 15 * 60_000;
  }

  async recordSignIn(e: SignInEvent) {
    await this.recordSignIns([e]);
  }

  /**
   * Successes are one row each: each one opened a session or let a client in, which the log must
   * show one by one (and successes are limited per IP elsewhere, so they cannot flood it). Failures
   * of the same key are first merged within the batch (one statement cannot touch a row twice on
   * PostgreSQL), then added to the window's row if another batch, or another instance, wrote it
   * first: the unique index on agg_key makes that one atomic upsert on both stores.
   */
  async recordSignIns(events: SignInEvent[]) {
    if (events.length === 0) return;
    const single: Insertable<SignInEventsTable>[] = [];
    const merged = new Map<string, Insertable<SignInEventsTable> & { attempts: number; last_at: number }>();
    for (const e of events) {
      if (e.outcome === 'success' || this.windowMs <= 0) {
        single.push(signInRow(e));
        continue;
      }
      const key = aggregationKey(e, this.windowMs);
      const m = merged.get(key);
      if (!m) {
        merged.set(key, { ...signInRow(e), agg_key: key, attempts: 1, last_at: e.at });
        continue;
      }
      m.attempts += 1;
      if (e.at < m.at) m.at = e.at;
      if (e.at > m.last_at) m.last_at = e.at;
    }
    if (single.length)
      await this.db
        .insertInto('sign_in_events')
        .values(single)
        // A batch retried after a commit whose answer was lost (the store went away at that moment)
        // must neither fail on its own rows nor write them twice.
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
    if (merged.size) {
      const lastOf = sql<number>`coalesce(sign_in_events.last_at, sign_in_events.at)`;
      await this.db
        .insertInto('sign_in_events')
        .values([...merged.values()])
        // Such a retry adds its attempts once more (it cannot tell them from new ones): an
        // over-count of one batch after a lost commit, never a lost attempt.
        .onConflict((oc) =>
          oc.column('agg_key').doUpdateSet({
            attempts: sql<number>`sign_in_events.attempts + excluded.attempts`,
            at: sql<number>`case when excluded.at < sign_in_events.at then excluded.at else sign_in_events.at end`,
            last_at: sql<number>`case when excluded.last_at > ${lastOf} then excluded.last_at else ${lastOf} end`,
          }),
        )
        .execute();
    }
  }

  async listSignIns(q: SignInQuery) {
    let base = this.db.selectFrom('sign_in_events').where('sign_in_events.org_id', '=', q.orgId);
    if (q.userId !== undefined) base = base.where('sign_in_events.user_id', '=', q.userId);
    if (q.id !== undefined) base = base.where('sign_in_events.id', '=', q.id);
    const [rows, count] = await Promise.all([
      base
        .leftJoin('app_passwords', 'app_passwords.id', 'sign_in_events.app_password_id')
        .selectAll('sign_in_events')
        .select('app_passwords.name as app_password_name')
        .orderBy('sign_in_events.at', 'desc')
        .orderBy('sign_in_events.id')
        .limit(q.limit)
        .offset(q.offset)
        .execute(),
      base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { events: rows.map(signInEventFromRow), total: Number(count.n) };
  }

  async recordAudit(e: AuditEvent) {
    await this.db.insertInto('audit_events').values(auditRow(e)).execute();
  }

  async listAudit(orgId: string, limit: number) {
    const rows = await this.db
      .selectFrom('audit_events')
      .selectAll()
      .where('org_id', '=', orgId)
      .orderBy('at', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      id: r.id,
      at: r.at,
      orgId: r.org_id,
      actorId: r.actor_id,
      actorLabel: r.actor_label,
      action: r.action,
      targetUserId: r.target_user_id,
      detail: r.detail,
    }));
  }
}
