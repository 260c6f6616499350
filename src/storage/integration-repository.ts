/** Integrations and the recent-wrong-password memory of the smart lockout. */
import type { Kysely } from 'kysely';
import { randomUUID } from 'node:crypto';
import type { BadKeyCall, Integration, IntegrationRepository, IntegrationUse } from '../domain/legacy/integrations.js';
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
        .select(['id', 'name', 'created_at', 'last_config_error', 'last_config_error_at', 'last_seen', 'last_seen_at'])
        .orderBy('name')
        .execute()
    ).map((r) => {
      const seen =
        r.last_seen !== null && r.last_seen_at !== null ? seenFrom(r.last_seen, Number(r.last_seen_at)) : undefined;
      return {
        id: r.id,
        name: r.name,
        createdAt: Number(r.created_at),
        ...(r.last_config_error !== null && r.last_config_error_at !== null
          ? { lastConfigError: { at: Number(r.last_config_error_at), detail: r.last_config_error } }
          : {}),
        ...(seen ? { lastSeen: seen } : {}),
      };
    });
  }

  async recordSeen(uses: { id: string; use: IntegrationUse }[]) {
    for (const { id, use } of uses) {
      const { at, ...rest } = use;
      // Never older over newer: another instance may have saved a later request.
      await this.db
        .updateTable('integrations')
        .set({ last_seen_at: at, last_seen: JSON.stringify(rest) })
        .where('id', '=', id)
        .where((eb) => eb.or([eb('last_seen_at', 'is', null), eb('last_seen_at', '<=', at)]))
        .execute();
    }
  }

  async recordBadKeys(calls: BadKeyCall[], keep: number) {
    await this.db
      .insertInto('integration_bad_keys')
      .values(
        calls.map((c) => ({
          id: randomUUID(),
          at: c.at,
          endpoint: c.endpoint,
          peer: c.peer,
          key_sent: c.keySent ? 1 : 0,
        })),
      )
      .execute();
    // Keep the newest few: whoever sends bad keys cannot grow the table.
    const edge = await this.db
      .selectFrom('integration_bad_keys')
      .select('at')
      .orderBy('at', 'desc')
      .offset(keep - 1)
      .limit(1)
      .executeTakeFirst();
    if (edge) await this.db.deleteFrom('integration_bad_keys').where('at', '<', edge.at).execute();
  }

  async recentBadKeys(limit: number) {
    return (
      await this.db
        .selectFrom('integration_bad_keys')
        .select(['at', 'endpoint', 'peer', 'key_sent'])
        .orderBy('at', 'desc')
        .limit(limit)
        .execute()
    ).map((r) => ({ at: Number(r.at), endpoint: r.endpoint, peer: r.peer, keySent: Number(r.key_sent) === 1 }));
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

/** A saved last request; a row written by a later version with fields this one does not know keeps what it knows. */
function seenFrom(json: string, at: number): IntegrationUse | undefined {
  try {
    const v = JSON.parse(json) as Partial<IntegrationUse>;
    if (typeof v.endpoint !== 'string' || typeof v.peer !== 'string') return undefined;
    return {
      at,
      endpoint: v.endpoint,
      peer: v.peer,
      outcome: v.outcome === 'config_error' ? 'config_error' : 'answered',
      ...(typeof v.service === 'string' ? { service: v.service } : {}),
      ...(typeof v.reportedAddress === 'string' ? { reportedAddress: v.reportedAddress } : {}),
    };
  } catch {
    return undefined;
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
