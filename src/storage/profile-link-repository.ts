/** One-time profile links (domain/device-setup/profile-links.ts): used by a single conditional UPDATE. */
import type { Kysely } from 'kysely';
import type { ProfileLinkRepository, ProfileLinkRow } from '../domain/device-setup/profile-links.js';
import type { Database } from './schema.js';

export class KyselyProfileLinkRepository implements ProfileLinkRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(r: ProfileLinkRow): Promise<void> {
    await this.db
      .insertInto('profile_links')
      .values({
        id_hash: r.idHash,
        user_id: r.userId,
        app_password_id: r.appPasswordId,
        session_id: r.sessionId,
        sealed: r.sealed,
        created_at: r.createdAt,
        expires_at: r.expiresAt,
        used_at: r.usedAt,
      })
      .execute();
  }

  async find(idHash: string): Promise<ProfileLinkRow | undefined> {
    const r = await this.db.selectFrom('profile_links').selectAll().where('id_hash', '=', idHash).executeTakeFirst();
    return r
      ? {
          idHash: r.id_hash,
          userId: r.user_id,
          appPasswordId: r.app_password_id,
          sessionId: r.session_id,
          sealed: r.sealed,
          createdAt: Number(r.created_at),
          expiresAt: Number(r.expires_at),
          usedAt: r.used_at === null ? null : Number(r.used_at),
        }
      : undefined;
  }

  async consume(idHash: string, now: number): Promise<boolean> {
    const r = await this.db
      .updateTable('profile_links')
      .set({ used_at: now })
      .where('id_hash', '=', idHash)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }
}
