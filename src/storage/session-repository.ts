/** Sessions by keyed token hash. The token itself is never stored. */
import type { Kysely } from 'kysely';
import type { Session, SessionRepository, SessionVia } from '../domain/sessions/session.js';
import type { Database, SessionsTable } from './schema.js';

function toSession(r: Omit<SessionsTable, 'via' | 'token_hash'> & { via: string }): Session {
  return {
    id: r.id,
    userId: r.user_id,
    createdAt: r.created_at,
    lastSeenAt: r.last_seen_at,
    expiresAt: r.expires_at,
    amr: JSON.parse(r.amr) as string[],
    ip: r.ip,
    userAgent: r.user_agent,
    mfaAt: r.mfa_at,
    reauthAt: r.reauth_at,
    via: r.via === 'api' ? 'api' : ('web' as SessionVia),
  };
}

export class KyselySessionRepository implements SessionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(s: Session & { tokenHash: string }) {
    await this.db
      .insertInto('sessions')
      .values({
        id: s.id,
        token_hash: s.tokenHash,
        user_id: s.userId,
        created_at: s.createdAt,
        last_seen_at: s.lastSeenAt,
        expires_at: s.expiresAt,
        amr: JSON.stringify(s.amr),
        ip: s.ip,
        user_agent: s.userAgent,
        mfa_at: s.mfaAt,
        reauth_at: s.reauthAt ?? null,
        via: s.via ?? 'web',
      })
      .execute();
    // A session starts only when a sign-in is complete (every factor proved), so this is the
    // user's last sign-in: one indexed write per sign-in keeps the admin Users page's filter and
    // sort on it an index read instead of a scan of the sign-in log.
    await this.db.updateTable('users').set({ last_sign_in_at: s.createdAt }).where('id', '=', s.userId).execute();
  }

  async findByTokenHash(tokenHash: string): Promise<Session | undefined> {
    const r = await this.db.selectFrom('sessions').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
    return r ? toSession(r) : undefined;
  }

  async findById(id: string): Promise<Session | undefined> {
    const r = await this.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toSession(r) : undefined;
  }

  async listForUser(userId: string): Promise<Session[]> {
    const rows = await this.db
      .selectFrom('sessions')
      .select([
        'id',
        'user_id',
        'created_at',
        'last_seen_at',
        'expires_at',
        'amr',
        'ip',
        'user_agent',
        'mfa_at',
        'reauth_at',
        'via',
      ])
      .where('user_id', '=', userId)
      .orderBy('created_at', 'desc')
      .limit(500)
      .execute();
    return rows.map(toSession);
  }

  async deleteForUser(userId: string, id: string) {
    const r = await this.db
      .deleteFrom('sessions')
      .where('user_id', '=', userId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async deleteOthersForUser(userId: string, keepId: string) {
    const r = await this.db
      .deleteFrom('sessions')
      .where('user_id', '=', userId)
      .where('id', '<>', keepId)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async touch(id: string, at: number) {
    await this.db.updateTable('sessions').set({ last_seen_at: at }).where('id', '=', id).execute();
  }

  async recordMfa(id: string, amr: string[], at: number) {
    await this.db
      .updateTable('sessions')
      .set({ amr: JSON.stringify(amr), mfa_at: at })
      .where('id', '=', id)
      .execute();
  }

  async reissue(id: string, tokenHash: string, amr: string[], mfaAt: number) {
    await this.db
      .updateTable('sessions')
      .set({ token_hash: tokenHash, amr: JSON.stringify(amr), mfa_at: mfaAt })
      .where('id', '=', id)
      .execute();
  }

  async reissueAfterPassword(id: string, tokenHash: string, at: number) {
    await this.db.updateTable('sessions').set({ token_hash: tokenHash, reauth_at: at }).where('id', '=', id).execute();
  }

  async delete(id: string) {
    await this.db.deleteFrom('sessions').where('id', '=', id).execute();
  }

  async deleteAllForUser(userId: string) {
    const r = await this.db.deleteFrom('sessions').where('user_id', '=', userId).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
