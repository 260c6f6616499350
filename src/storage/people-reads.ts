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
    const rows = await this.db
      .selectFrom('users')
      .select(['id', 'address', 'name'])
      .where('org_id', '=', orgId)
      .where('status', '=', 'active')
      .orderBy('address')
      .limit(limit)
      .execute();
    return this.withNumbers(rows);
  }

  async activePerson(orgId: string, address: string): Promise<Person | undefined> {
    const row = await this.db
      .selectFrom('users')
      .select(['id', 'address', 'name'])
      .where('org_id', '=', orgId)
      .where('address', '=', address)
      .where('status', '=', 'active')
      .executeTakeFirst();
    return row && (await this.withNumbers([row]))[0];
  }

  private async withNumbers(rows: Omit<Person, 'posixId'>[]): Promise<Person[]> {
    const numbers = await this.posix.numbersFor(rows.map((r) => r.id));
    return rows.map((r) => ({ ...r, posixId: numbers.get(r.id)! }));
  }
}
