/** NamedLocationRepository on Kysely (SQLite and PostgreSQL alike); networks and countries as JSON text. */
import type { Kysely, Selectable } from 'kysely';
import { locationNameKey, type NamedLocation, type NamedLocationRepository } from '../domain/locations/model.js';
import type { Database, NamedLocationsTable } from './schema.js';

function strings(json: string): string[] {
  const v: unknown = JSON.parse(json);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function toLocation(r: Selectable<NamedLocationsTable>): NamedLocation {
  return {
    id: r.id,
    orgId: r.org_id,
    name: r.name,
    networks: strings(r.networks),
    countries: strings(r.countries),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export class KyselyNamedLocationRepository implements NamedLocationRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(l: NamedLocation): Promise<boolean> {
    const r = await this.db
      .insertInto('named_locations')
      .values({
        id: l.id,
        org_id: l.orgId,
        name: l.name,
        name_key: locationNameKey(l.name),
        networks: JSON.stringify(l.networks),
        countries: JSON.stringify(l.countries),
        created_at: l.createdAt,
        updated_at: l.updatedAt,
      })
      .onConflict((oc) => oc.columns(['org_id', 'name_key']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async get(id: string): Promise<NamedLocation | undefined> {
    const r = await this.db.selectFrom('named_locations').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toLocation(r) : undefined;
  }

  async byName(orgId: string, name: string): Promise<NamedLocation | undefined> {
    const r = await this.db
      .selectFrom('named_locations')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('name_key', '=', locationNameKey(name))
      .executeTakeFirst();
    return r ? toLocation(r) : undefined;
  }

  async list(orgId: string): Promise<NamedLocation[]> {
    const rows = await this.db
      .selectFrom('named_locations')
      .selectAll()
      .where('org_id', '=', orgId)
      .orderBy('name_key')
      .execute();
    return rows.map(toLocation);
  }

  async update(l: NamedLocation): Promise<boolean> {
    const clash = await this.byName(l.orgId, l.name);
    if (clash && clash.id !== l.id) return false;
    const r = await this.db
      .updateTable('named_locations')
      .set({
        name: l.name,
        name_key: locationNameKey(l.name),
        networks: JSON.stringify(l.networks),
        countries: JSON.stringify(l.countries),
        updated_at: l.updatedAt,
      })
      .where('id', '=', l.id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async remove(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('named_locations').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) === 1;
  }
}
