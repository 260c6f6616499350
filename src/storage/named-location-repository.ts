/**
 * NamedLocationRepository on Kysely (SQLite and PostgreSQL alike); networks and countries as JSON
 * text. Also the organization's location rules and their version (location_policies).
 */
import type { Kysely, Selectable } from 'kysely';
import { isProtocol } from '../domain/app-passwords/model.js';
import type { LocationRulesStore } from '../domain/locations/gate.js';
import { locationNameKey, type NamedLocation, type NamedLocationRepository } from '../domain/locations/model.js';
import { LOCATION_MODES, type LocationRule } from '../domain/locations/rules.js';
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

/** Rules as stored; anything that no longer reads as a rule is left out (the admin's page shows what holds). */
export function parseRules(json: string): LocationRule[] {
  const v: unknown = JSON.parse(json);
  if (!Array.isArray(v)) return [];
  return v.flatMap((r: Record<string, unknown>) =>
    r &&
    isProtocol(r.protocol) &&
    (LOCATION_MODES as readonly unknown[]).includes(r.mode) &&
    (r.groupId === null || typeof r.groupId === 'string')
      ? [
          {
            protocol: r.protocol,
            groupId: r.groupId as string | null,
            mode: r.mode as LocationRule['mode'],
            locationIds: Array.isArray(r.locationIds)
              ? r.locationIds.filter((x): x is string => typeof x === 'string')
              : [],
          },
        ]
      : [],
  );
}

export class KyselyNamedLocationRepository implements NamedLocationRepository, LocationRulesStore {
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

  async rules(orgId: string): Promise<{ version: number; rules: LocationRule[] }> {
    const r = await this.db
      .selectFrom('location_policies')
      .select(['rules', 'version'])
      .where('org_id', '=', orgId)
      .executeTakeFirst();
    return r ? { version: Number(r.version), rules: parseRules(r.rules) } : { version: 0, rules: [] };
  }

  async saveRules(orgId: string, rules: readonly LocationRule[], at: number): Promise<number> {
    return this.raise(orgId, at, JSON.stringify(rules));
  }

  async touch(orgId: string, at: number): Promise<number> {
    return this.raise(orgId, at);
  }

  /** Raises the version (and writes the rules, if given) in one statement: two instances never write the same version. */
  private async raise(orgId: string, at: number, rules?: string): Promise<number> {
    const r = await this.db
      .insertInto('location_policies')
      .values({ org_id: orgId, rules: rules ?? '[]', version: 1, updated_at: at })
      .onConflict((oc) =>
        oc.column('org_id').doUpdateSet((eb) => ({
          ...(rules === undefined ? {} : { rules }),
          version: eb('location_policies.version', '+', 1),
          updated_at: at,
        })),
      )
      .returning('version')
      .executeTakeFirstOrThrow();
    return Number(r.version);
  }

  async pinnedTo(locationId: string): Promise<number> {
    // Ids are UUIDs, quoted in the JSON: a LIKE on the quoted id finds exactly the arrays holding it.
    const r = await this.db
      .selectFrom('app_passwords')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('pinned_locations', 'like', `%"${locationId.replace(/[%_"\\]/g, '')}"%`)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  // LocationRulesStore: what the location gate compiles.
  async load(orgId: string): Promise<{ version: number; rules: LocationRule[]; locations: NamedLocation[] }> {
    const { version, rules } = await this.rules(orgId);
    return { version, rules, locations: await this.list(orgId) };
  }

  async version(orgId: string): Promise<number> {
    return (await this.rules(orgId)).version;
  }
}
