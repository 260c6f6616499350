/** One-time tokens: consumed by a single conditional UPDATE, so exactly one caller wins. */
import type { Kysely } from 'kysely';
import type { OneTimeTokenRepository } from '../domain/accounts/repository.js';
import type { Database } from './schema.js';

export class KyselyOneTimeTokenRepository implements OneTimeTokenRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(t: { tokenHash: string; purpose: string; userId: string; expiresAt: number }) {
    await this.db
      .insertInto('one_time_tokens')
      .values({
        token_hash: t.tokenHash,
        purpose: t.purpose,
        user_id: t.userId,
        expires_at: t.expiresAt,
        used_at: null,
      })
      .execute();
  }

  async consume(tokenHash: string, purpose: string, now: number) {
    const r = await this.db
      .updateTable('one_time_tokens')
      .set({ used_at: now })
      .where('token_hash', '=', tokenHash)
      .where('purpose', '=', purpose)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .returning('user_id')
      .executeTakeFirst();
    return r?.user_id;
  }

  async peek(tokenHash: string, purpose: string, now: number) {
    const r = await this.db
      .selectFrom('one_time_tokens')
      .select('user_id')
      .where('token_hash', '=', tokenHash)
      .where('purpose', '=', purpose)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return r?.user_id;
  }

  async revokeForUser(userId: string, now: number, purposes: string | string[]) {
    const r = await this.db
      .updateTable('one_time_tokens')
      .set({ used_at: now })
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .where('purpose', 'in', typeof purposes === 'string' ? [purposes] : purposes)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }
}
