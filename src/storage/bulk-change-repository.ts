/**
 * BulkChangeRepository on Kysely: reads of the users a bulk change names, and its writes inside
 * one transaction (Kysely's; BEGIN IMMEDIATE on SQLite, see db.ts), each statement covering a
 * chunk of users by id. Same SQL on SQLite and PostgreSQL.
 */
import type { Kysely, Transaction } from 'kysely';
import type { BulkChangeRepository, BulkChangeWriter, BulkTarget } from '../domain/accounts/bulk-changes.js';
import type { UserStatus } from '../domain/accounts/model.js';
import type { AuditEvent } from '../domain/audit/events.js';
import type { MfaState } from '../domain/mfa/model.js';
import { auditRow } from './audit-repository.js';
import type { Database } from './schema.js';

async function findTargets(db: Kysely<Database>, addresses: string[]): Promise<BulkTarget[]> {
  if (!addresses.length) return [];
  const rows = await db
    .selectFrom('users as u')
    .select(['u.id', 'u.org_id', 'u.address', 'u.mfa_state', 'u.status'])
    .select((eb) =>
      eb
        .selectFrom('mfa_methods as m')
        .select((e) => e.fn.countAll<number>().as('n'))
        .whereRef('m.user_id', '=', 'u.id')
        .as('methods'),
    )
    .select((eb) =>
      eb
        .selectFrom('app_passwords as a')
        .select((e) => e.fn.countAll<number>().as('n'))
        .whereRef('a.user_id', '=', 'u.id')
        .as('app_passwords'),
    )
    .where('u.address', 'in', addresses)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    orgId: r.org_id,
    address: r.address,
    mfaState: r.mfa_state as MfaState,
    status: r.status as UserStatus,
    methodCount: Number(r.methods ?? 0),
    appPasswordCount: Number(r.app_passwords ?? 0),
  }));
}

class Writer implements BulkChangeWriter {
  constructor(private readonly tx: Transaction<Database>) {}

  findTargets(addresses: string[]) {
    return findTargets(this.tx, addresses);
  }

  async setMfaState(userIds: string[], state: MfaState) {
    await this.tx.updateTable('users').set({ mfa_state: state }).where('id', 'in', userIds).execute();
  }

  async deleteAppPasswords(userIds: string[]) {
    const rows = await this.tx
      .selectFrom('app_passwords')
      .select(['user_id', 'name'])
      .where('user_id', 'in', userIds)
      .orderBy('created_at')
      .execute();
    await this.tx.deleteFrom('app_passwords').where('user_id', 'in', userIds).execute();
    const gone = new Map<string, string[]>();
    for (const r of rows) gone.set(r.user_id, [...(gone.get(r.user_id) ?? []), r.name]);
    return gone;
  }

  async clearMfa(userIds: string[]) {
    for (const table of ['mfa_methods', 'recovery_codes', 'trusted_devices', 'flows'] as const)
      await this.tx.deleteFrom(table).where('user_id', 'in', userIds).execute();
    await this.tx
      .updateTable('users')
      .set({ mfa_state: 'enabled', default_method_id: null })
      .where('id', 'in', userIds)
      .execute();
  }

  async setStatus(userIds: string[], status: UserStatus) {
    await this.tx.updateTable('users').set({ status }).where('id', 'in', userIds).execute();
  }

  async endSessions(userIds: string[]) {
    await this.tx.deleteFrom('sessions').where('user_id', 'in', userIds).execute();
  }

  async recordAudit(events: AuditEvent[]) {
    // 8 values a row: 1,000 rows a statement stay well below SQLite's 32,766 parameters.
    for (let i = 0; i < events.length; i += 1000) {
      await this.tx
        .insertInto('audit_events')
        .values(events.slice(i, i + 1000).map(auditRow))
        .execute();
    }
  }
}

export class KyselyBulkChangeRepository implements BulkChangeRepository {
  constructor(private readonly db: Kysely<Database>) {}

  findTargets(addresses: string[]) {
    return findTargets(this.db, addresses);
  }

  transaction<T>(fn: (tx: BulkChangeWriter) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((tx) => fn(new Writer(tx)));
  }
}
