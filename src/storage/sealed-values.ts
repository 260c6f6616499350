/**
 * Every stored encrypted value, for `sesame keys reencrypt` (domain/keys/reencryption.ts): TOTP
 * seeds in mfa_methods and the data of flows that have not expired. One transaction; each write is
 * conditional on the row being as it was read, so a server running beside the command is never
 * overwritten: a seed is compared by value (it never changes once stored), a flow by its version
 * (every save of a flow bumps it). A flow the server saved meanwhile keeps what the server wrote;
 * running the command again re-encrypts it (it reports what is left).
 */
import type { Kysely } from 'kysely';
import type { FlowData } from '../domain/flows/flow.js';
import type { SealedValueStore, SealedVisitor } from '../domain/keys/reencryption.js';
import type { Database } from './schema.js';

export class KyselySealedValues implements SealedValueStore {
  constructor(private readonly db: Kysely<Database>) {}

  async visitSealed(now: number, visit: SealedVisitor): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      const seeds = await tx
        .selectFrom('mfa_methods as m')
        .innerJoin('users as u', 'u.id', 'm.user_id')
        .select(['m.id', 'm.secret_enc', 'u.address'])
        .where('m.secret_enc', 'is not', null)
        .orderBy('m.id')
        .execute();
      for (const s of seeds) {
        const sealed = s.secret_enc!;
        const next = visit.seed({ methodId: s.id, address: s.address, sealed });
        if (next !== sealed)
          await tx
            .updateTable('mfa_methods')
            .set({ secret_enc: next })
            .where('id', '=', s.id)
            .where('secret_enc', '=', sealed)
            .execute();
      }
      const flows = await tx
        .selectFrom('flows')
        .select(['id', 'version', 'data'])
        .where('expires_at', '>', now)
        .orderBy('id')
        .execute();
      for (const f of flows) {
        const data = JSON.parse(f.data) as FlowData;
        const next = visit.flow({ flowId: f.id, data });
        // The version is not bumped: a step the user takes in that flow right now still saves.
        if (next !== data)
          await tx
            .updateTable('flows')
            .set({ data: JSON.stringify(next) })
            .where('id', '=', f.id)
            .where('version', '=', f.version)
            .execute();
      }
      visit.finish?.();
    });
  }
}
