/** Sign-in log and audit log. */
import type { Kysely } from 'kysely';
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
export function signInEventFromRow(r: SignInEventsTable & { app_password_name: string | null }): SignInEvent {
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
  };
}

export class KyselyAuditRepository implements AuditRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async recordSignIn(e: SignInEvent) {
    await this.recordSignIns([e]);
  }

  async recordSignIns(events: SignInEvent[]) {
    if (events.length === 0) return;
    await this.db
      .insertInto('sign_in_events')
      .values(
        events.map((e) => ({
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
        })),
      )
      // A batch retried after a commit whose answer was lost (the store went away at that moment)
      // must neither fail on its own rows nor write them twice.
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
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
