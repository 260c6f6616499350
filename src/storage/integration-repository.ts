/** Integrations and the recent-wrong-password memory of the smart lockout. */
import type { Kysely } from 'kysely';
import type { Integration, IntegrationRepository } from '../domain/legacy/integrations.js';
import type { BadPasswordMemory } from '../domain/legacy/lockout.js';
import type { Database } from './schema.js';

export class KyselyIntegrationRepository implements IntegrationRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async add(i: Integration, keyHash: string) {
    await this.db
      .insertInto('integrations')
      .values({ id: i.id, name: i.name, key_hash: keyHash, created_at: i.createdAt })
      .execute();
  }

  async findByKeyHash(keyHash: string) {
    const r = await this.db
      .selectFrom('integrations')
      .select(['id', 'name', 'created_at'])
      .where('key_hash', '=', keyHash)
      .executeTakeFirst();
    return r && { id: r.id, name: r.name, createdAt: r.created_at };
  }

  async findAmongKeyHashes(keyHashes: string[]) {
    if (keyHashes.length === 0) return undefined;
    const r = await this.db
      .selectFrom('integrations')
      .select(['id', 'name', 'created_at', 'key_hash'])
      .where('key_hash', 'in', keyHashes)
      .executeTakeFirst();
    return r && { integration: { id: r.id, name: r.name, createdAt: r.created_at }, keyHash: r.key_hash };
  }

  async rehash(id: string, from: string, to: string) {
    const r = await this.db
      .updateTable('integrations')
      .set({ key_hash: to })
      .where('id', '=', id)
      .where('key_hash', '=', from)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async list() {
    return (
      await this.db
        .selectFrom('integrations')
        .select(['id', 'name', 'created_at', 'last_config_error', 'last_config_error_at'])
        .orderBy('name')
        .execute()
    ).map((r) => ({
      id: r.id,
      name: r.name,
      createdAt: r.created_at,
      ...(r.last_config_error !== null && r.last_config_error_at !== null
        ? { lastConfigError: { at: Number(r.last_config_error_at), detail: r.last_config_error } }
        : {}),
    }));
  }

  async recordConfigError(id: string, at: number, detail: string) {
    await this.db
      .updateTable('integrations')
      .set({ last_config_error: detail, last_config_error_at: at })
      .where('id', '=', id)
      .execute();
  }

  async remove(name: string) {
    return (
      Number((await this.db.deleteFrom('integrations').where('name', '=', name).executeTakeFirst()).numDeletedRows) ===
      1
    );
  }
}

export class KyselyBadPasswordMemory implements BadPasswordMemory {
  constructor(private readonly db: Kysely<Database>) {}

  async seen(key: string, hash: string, since: number) {
    return !!(await this.db
      .selectFrom('recent_bad_passwords')
      .select('at')
      .where('key', '=', key)
      .where('hash', '=', hash)
      .where('at', '>=', since)
      .executeTakeFirst());
  }

  async remember(key: string, hash: string, at: number) {
    await this.db
      .insertInto('recent_bad_passwords')
      .values({ key, hash, at })
      .onConflict((oc) => oc.columns(['key', 'hash']).doUpdateSet({ at }))
      .execute();
  }

  async forget(key: string) {
    await this.db.deleteFrom('recent_bad_passwords').where('key', '=', key).execute();
  }
}
