/**
 * PeopleReads on Kysely: an organization's active users for the LDAP address book (one range read
 * on the (org_id, address) index) or one of them, only the columns a directory entry shows.
 */
import type { Kysely } from 'kysely';
import type { PeopleReads, Person } from '../domain/directory/reads.js';
import { KyselyPosixIds } from './posix-ids.js';
import type { Database } from './schema.js';

export class KyselyPeopleReads implements PeopleReads {
  private readonly posix: KyselyPosixIds;

  constructor(private readonly db: Kysely<Database>) {
    this.posix = new KyselyPosixIds(db);
  }

  async activePeople(orgId: string, limit: number): Promise<Person[]> {
    const rows = await this.people()
      .where('users.org_id', '=', orgId)
      .where('users.status', '=', 'active')
      .orderBy('users.address')
      .limit(limit)
      .execute();
    return this.withNumbers(rows);
  }

  async activePerson(orgId: string, address: string): Promise<Person | undefined> {
    const row = await this.people()
      .where('users.org_id', '=', orgId)
      .where('users.address', '=', address)
      .where('users.status', '=', 'active')
      .executeTakeFirst();
    return row && (await this.withNumbers([row]))[0];
  }

  /** Users with the POSIX number they already have, read in the same query. */
  private people() {
    return this.db
      .selectFrom('users')
      .leftJoin('posix_ids', 'posix_ids.entity_id', 'users.id')
      .select(['users.id', 'users.address', 'users.name', 'posix_ids.number']);
  }

  /** Gives a number to those read without one (the first read of them); the others cost nothing more. */
  private async withNumbers(
    rows: { id: string; address: string; name: string; number: number | null }[],
  ): Promise<Person[]> {
    const missing = rows.filter((r) => r.number === null).map((r) => r.id);
    const given = missing.length ? await this.posix.numbersFor(missing) : new Map<string, number>();
    return rows.map(({ number, ...r }) => ({ ...r, posixId: number === null ? given.get(r.id)! : Number(number) }));
  }
}
