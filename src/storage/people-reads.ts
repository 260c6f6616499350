/**
 * PeopleReads on Kysely: an organization's active users for the LDAP address book (one range read
 * on the (org_id, address) index) or one of them, only the columns a directory entry shows.
 */
import type { Kysely } from 'kysely';
import type { PeopleReads, Person } from '../domain/directory/reads.js';
import type { Database } from './schema.js';

export class KyselyPeopleReads implements PeopleReads {
  constructor(private readonly db: Kysely<Database>) {}

  async activePeople(orgId: string, limit: number): Promise<Person[]> {
    return this.db
      .selectFrom('users')
      .select(['id', 'address', 'name'])
      .where('org_id', '=', orgId)
      .where('status', '=', 'active')
      .orderBy('address')
      .limit(limit)
      .execute();
  }

  async activePerson(orgId: string, address: string): Promise<Person | undefined> {
    return this.db
      .selectFrom('users')
      .select(['id', 'address', 'name'])
      .where('org_id', '=', orgId)
      .where('address', '=', address)
      .where('status', '=', 'active')
      .executeTakeFirst();
  }
}
