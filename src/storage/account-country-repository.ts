/** AccountCountryRepository on Kysely (SQLite and PostgreSQL alike): the countries each account was used from. */
import type { Kysely } from 'kysely';
import type { AccountCountryRepository } from '../domain/legacy/country-watch.js';
import type { Database } from './schema.js';

export class KyselyAccountCountryRepository implements AccountCountryRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async record(userId: string, country: string, at: number): Promise<{ inserted: boolean; hadOthers: boolean }> {
    const r = await this.db
      .insertInto('account_countries')
      .values({ user_id: userId, country, first_seen_at: at })
      .onConflict((oc) => oc.columns(['user_id', 'country']).doNothing())
      .executeTakeFirst();
    const inserted = Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
    if (!inserted) return { inserted, hadOthers: true };
    // Read after the insert: two first uses from two countries at once cannot both see none.
    const other = await this.db
      .selectFrom('account_countries')
      .select('country')
      .where('user_id', '=', userId)
      .where('country', '!=', country)
      .limit(1)
      .executeTakeFirst();
    return { inserted, hadOthers: other !== undefined };
  }

  async recordAll(userId: string, countries: readonly string[], at: number): Promise<void> {
    if (!countries.length) return;
    await this.db
      .insertInto('account_countries')
      .values(countries.map((country) => ({ user_id: userId, country, first_seen_at: at })))
      .onConflict((oc) => oc.columns(['user_id', 'country']).doNothing())
      .execute();
  }

  async list(userId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('account_countries')
      .select('country')
      .where('user_id', '=', userId)
      .orderBy('first_seen_at')
      .orderBy('country')
      .execute();
    return rows.map((r) => r.country);
  }

  async ipsBefore(userId: string, before: number, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('app_password_ips as i')
      .innerJoin('app_passwords as p', 'p.id', 'i.app_password_id')
      .select('i.ip')
      .where('p.user_id', '=', userId)
      .where('i.first_seen_at', '<', before)
      .groupBy('i.ip')
      .orderBy((eb) => eb.fn.max('i.first_seen_at'), 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => r.ip);
  }
}
