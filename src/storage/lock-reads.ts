/** The sign-in log read the lock console needs: which IPs a lock refused in an organization lately. */
import type { Kysely } from 'kysely';
import type { LockedIpReads } from '../domain/throttling/lock-admin.js';
import type { Database } from './schema.js';

export class KyselyLockedIpReads implements LockedIpReads {
  constructor(private readonly db: Kysely<Database>) {}

  async throttledIps(orgId: string, since: number, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('sign_in_events')
      .select('ip')
      .select((eb) => eb.fn.max('at').as('last'))
      .where('org_id', '=', orgId)
      .where('outcome', '=', 'throttled')
      .where('at', '>=', since)
      .groupBy('ip')
      .orderBy('last', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => r.ip);
  }
}
