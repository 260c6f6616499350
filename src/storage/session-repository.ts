/** Sessions by keyed token hash. The token itself is never stored. */
import type { Kysely } from 'kysely';
import type { Session, SessionRepository } from '../domain/sessions/session.js';
import type { Database } from './schema.js';

export class KyselySessionRepository implements SessionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(s: Session & { tokenHash: string }) {
    await this.db
      .insertInto('sessions')
      .values({ id: s.id, token_hash: s.tokenHash, user_id: s.userId, created_at: s.createdAt, last_seen_at: s.lastSeenAt, expires_at: s.expiresAt, amr: JSON.stringify(s.amr), ip: s.ip, user_agent: s.userAgent, mfa_at: s.mfaAt })
      .execute();
  }

  async findByTokenHash(tokenHash: string): Promise<Session | undefined> {
    const r = await this.db.selectFrom('sessions').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
    if (!r) return undefined;
    return { id: r.id, userId: r.user_id, createdAt: r.created_at, lastSeenAt: r.last_seen_at, expiresAt: r.expires_at, amr: JSON.parse(r.amr) as string[], ip: r.ip, userAgent: r.user_agent, mfaAt: r.mfa_at };
  }

  async touch(id: string, at: number) {
    await this.db.updateTable('sessions').set({ last_seen_at: at }).where('id', '=', id).execute();
  }

  async recordMfa(id: string, amr: string[], at: number) {
    await this.db.updateTable('sessions').set({ amr: JSON.stringify(amr), mfa_at: at }).where('id', '=', id).execute();
  }

  async reissue(id: string, tokenHash: string, amr: string[], mfaAt: number) {
    await this.db.updateTable('sessions').set({ token_hash: tokenHash, amr: JSON.stringify(amr), mfa_at: mfaAt }).where('id', '=', id).execute();
  }

  async delete(id: string) {
    await this.db.deleteFrom('sessions').where('id', '=', id).execute();
  }

  async deleteAllForUser(userId: string) {
    const r = await this.db.deleteFrom('sessions').where('user_id', '=', userId).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
