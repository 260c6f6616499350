/**
 * POSIX numbers for the LDAP directory (posixAccount's uidNumber, posixGroup's gidNumber): one per
 * user or group id, from FIRST_NUMBER up, given at the first read that needs it and never given
 * twice. Two Sesame instances may give numbers at once: the unique index on `number` refuses the
 * second, which reads again and tries the next free ones.
 */
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/**
 * Above the local accounts of Debian (1000-59999), of NAS boxes (Synology 1024+, TrueNAS 3000+)
 * and of systemd's dynamic users (61184-65519), and below the ranges sssd and Samba map Active
 * Directory into (200000+ on many sites is Samba's idmap, so this starts well clear of the 16-bit
 * range but within what every NFS and SMB server stores).
 */
export const FIRST_NUMBER = 100_001;

// Each round at least one of the instances racing wins, so a loser retries at most once per racer.
const ATTEMPTS = 20;

export class KyselyPosixIds {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  /** The number of each id, giving the missing ones theirs. */
  async numbersFor(ids: readonly string[]): Promise<Map<string, number>> {
    const wanted = [...new Set(ids)];
    const found = await this.read(wanted);
    for (let attempt = 1; found.size < wanted.length; attempt++) {
      const missing = wanted.filter((id) => !found.has(id));
      try {
        await this.give(missing);
      } catch (e) {
        // Another instance took the same numbers first: read what it gave, then try the next free ones.
        if (attempt >= ATTEMPTS) throw e;
      }
      for (const [id, n] of await this.read(missing)) found.set(id, n);
    }
    return found;
  }

  private async read(ids: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    // In slices: SQLite allows 32,766 bound values per statement, PostgreSQL 65,535.
    for (let i = 0; i < ids.length; i += 5000) {
      const rows = await this.db
        .selectFrom('posix_ids')
        .select(['entity_id', 'number'])
        .where('entity_id', 'in', ids.slice(i, i + 5000))
        .execute();
      for (const r of rows) out.set(r.entity_id, Number(r.number));
    }
    return out;
  }

  private async give(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.transaction().execute(async (tx) => {
      const top = await tx
        .selectFrom('posix_ids')
        .select((eb) => eb.fn.max('number').as('top'))
        .executeTakeFirst();
      const next = Math.max(Number(top?.top ?? 0) + 1, FIRST_NUMBER);
      const at = this.now();
      for (let i = 0; i < ids.length; i += 1000) {
        await tx
          .insertInto('posix_ids')
          .values(ids.slice(i, i + 1000).map((id, k) => ({ entity_id: id, number: next + i + k, created_at: at })))
          .onConflict((oc) => oc.column('entity_id').doNothing())
          .execute();
      }
    });
  }
}
