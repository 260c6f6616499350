/** Stored flows, found by the keyed hash of their token; saved with optimistic versioning. */
import type { Kysely } from 'kysely';
import type { Flow, FlowData, FlowKind, FlowRepository, FlowState } from '../domain/flows/flow.js';
import type { Database } from './schema.js';

export class KyselyFlowRepository implements FlowRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(f: Flow, tokenHash: string) {
    await this.db
      .insertInto('flows')
      .values({
        id: f.id,
        token_hash: tokenHash,
        kind: f.kind,
        state: f.state,
        user_id: f.userId,
        version: f.version,
        created_at: f.createdAt,
        expires_at: f.expiresAt,
        data: JSON.stringify(f.data),
      })
      .execute();
  }

  async findByTokenHash(tokenHash: string): Promise<Flow | undefined> {
    const r = await this.db.selectFrom('flows').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
    if (!r) return undefined;
    return {
      id: r.id,
      kind: r.kind as FlowKind,
      state: r.state as FlowState,
      userId: r.user_id,
      version: r.version,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
      data: JSON.parse(r.data) as FlowData,
    };
  }

  async save(f: Flow) {
    const r = await this.db
      .updateTable('flows')
      .set({ state: f.state, version: f.version + 1, data: JSON.stringify(f.data), expires_at: f.expiresAt })
      .where('id', '=', f.id)
      .where('version', '=', f.version)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) return false;
    f.version += 1;
    return true;
  }

  async delete(id: string) {
    await this.db.deleteFrom('flows').where('id', '=', id).execute();
  }

  async deleteForUser(userId: string, exceptId?: string) {
    let q = this.db.deleteFrom('flows').where('user_id', '=', userId);
    if (exceptId) q = q.where('id', '!=', exceptId);
    await q.execute();
  }
}
