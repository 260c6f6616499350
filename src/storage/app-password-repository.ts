/** App passwords on Kysely. Only the keyed hash is stored; reads never return it. */
import type { Kysely, Selectable } from 'kysely';
import type { Store } from './db.js';
import { DEFAULT_APP_PASSWORD_POLICY } from '../domain/app-passwords/model.js';
import { Precompiled } from './precompiled.js';
import type {
  AppPassword,
  AppPasswordPin,
  AppPasswordRepository,
  AppPasswordUse,
  NewAppPassword,
  Protocol,
  VerificationRow,
} from '../domain/app-passwords/model.js';
import type { AppPasswordsTable, Database } from './schema.js';

const COLUMNS = [
  'id',
  'user_id',
  'name',
  'protocols',
  'created_at',
  'created_ip',
  'expires_at',
  'last_used_at',
  'last_used_protocol',
  'last_used_ip',
  'pinned_locations',
  'pinned_network',
] as const;

/**
 * Pins already parsed, by their stored text: every verification of a pinned app password reads its
 * pin, and parsing ten ids of JSON each time was measurable in the legacy bench. Pins are never
 * changed in place (a new pin is a new object), so one object may serve every row that holds it.
 */
const parsedPins = new Map<string, AppPasswordPin>();

/** A pin as stored (JSON ids, CIDR text); null when neither is set. */
function toPin(locations: string | null, network: string | null): AppPasswordPin | null {
  if (!locations && !network) return null;
  // Most pins are locations only: their stored text is the key as it is, with no string built.
  const key = network ? `${locations ?? ''}\n${network}` : locations!;
  const known = parsedPins.get(key);
  if (known) return known;
  const ids: unknown = locations ? JSON.parse(locations) : [];
  const locationIds = Array.isArray(ids) ? ids.filter((x): x is string => typeof x === 'string') : [];
  const pin = locationIds.length === 0 && !network ? null : { locationIds, network: network || null };
  if (!pin) return null;
  if (parsedPins.size >= 10_000) parsedPins.clear();
  parsedPins.set(key, pin);
  return pin;
}

function pinColumns(pin: AppPasswordPin | null | undefined) {
  return {
    pinned_locations: pin?.locationIds.length ? JSON.stringify(pin.locationIds) : null,
    pinned_network: pin?.network ?? null,
  };
}

export function toAppPassword(r: Pick<Selectable<AppPasswordsTable>, (typeof COLUMNS)[number]>): AppPassword {
  return {
    id: r.id,
    userId: r.user_id,
    name: r.name,
    protocols: r.protocols.split(',').filter(Boolean) as Protocol[],
    createdAt: r.created_at,
    createdIp: r.created_ip,
    expiresAt: r.expires_at,
    lastUsedAt: r.last_used_at,
    lastUsedProtocol: r.last_used_protocol,
    lastUsedIp: r.last_used_ip,
    pin: toPin(r.pinned_locations, r.pinned_network),
  };
}

export class KyselyAppPasswordRepository implements AppPasswordRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly kind: 'sqlite' | 'postgres',
    private readonly readHot: Store['readHot'],
  ) {}

  async createWithinCap(p: NewAppPassword, cap: number): Promise<boolean | 'exists'> {
    // Count and insert in one transaction that first locks the owner's row (PostgreSQL), so that
    // parallel creations queue up and cannot pass the cap; SQLite runs writers one at a time anyway.
    return this.db.transaction().execute(async (tx) => {
      if (this.kind === 'postgres')
        await tx.selectFrom('users').select('id').where('id', '=', p.userId).forUpdate().execute();
      // The same id again (a form posted twice): after the lock, so the second of two parallel posts sees the first's row.
      if (await tx.selectFrom('app_passwords').select('id').where('id', '=', p.id).executeTakeFirst()) return 'exists';
      const n = await tx
        .selectFrom('app_passwords')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('user_id', '=', p.userId)
        .executeTakeFirstOrThrow();
      if (Number(n.n) >= cap) return false;
      await tx
        .insertInto('app_passwords')
        .values({
          id: p.id,
          user_id: p.userId,
          name: p.name,
          hash: p.hash,
          protocols: p.protocols.join(','),
          created_at: p.createdAt,
          created_ip: p.createdIp,
          expires_at: p.expiresAt,
          ...pinColumns(p.pin),
        })
        .execute();
      return true;
    });
  }

  async list(userId: string) {
    const rows = await this.db
      .selectFrom('app_passwords')
      .select(COLUMNS)
      .where('user_id', '=', userId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toAppPassword);
  }

  async delete(userId: string, id: string) {
    const r = await this.db
      .deleteFrom('app_passwords')
      .where('user_id', '=', userId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numDeletedRows) === 1;
  }

  async rename(userId: string, id: string, name: string) {
    const r = await this.db
      .updateTable('app_passwords')
      .set({ name })
      .where('user_id', '=', userId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async setPin(userId: string, id: string, pin: AppPasswordPin | null) {
    const r = await this.db
      .updateTable('app_passwords')
      .set(pinColumns(pin))
      .where('user_id', '=', userId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async findOwner(hash: string) {
    return (await this.db.selectFrom('app_passwords').select('user_id').where('hash', '=', hash).executeTakeFirst())
      ?.user_id;
  }

  /** The verification read, compiled once (it runs on every mail-server connection). */
  private readonly verificationQuery = new Precompiled(1, ([hash]) => verificationSelect(this.db, hash!));

  async findForVerification(hash: string): Promise<VerificationRow | undefined> {
    const r = (await this.readHot('sesame_verify_app_password', this.verificationQuery.with([hash])))[0];
    return r ? toVerificationRow(r) : undefined;
  }

  async findForVerificationAmong(hashes: string[]): Promise<{ row: VerificationRow; hash: string } | undefined> {
    if (hashes.length === 0) return undefined;
    const r = await verificationColumns(this.db).select('a.hash').where('a.hash', 'in', hashes).executeTakeFirst();
    return r ? { row: toVerificationRow(r), hash: r.hash } : undefined;
  }

  async rehash(id: string, from: string, to: string) {
    // Compared with `from`, so that two instances upgrading the same row at once write it once.
    const r = await this.db
      .updateTable('app_passwords')
      .set({ hash: to })
      .where('id', '=', id)
      .where('hash', '=', from)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async recordUses(uses: AppPasswordUse[]) {
    const latest = new Map<string, AppPasswordUse>();
    for (const u of uses) if ((latest.get(u.id)?.at ?? -1) <= u.at) latest.set(u.id, u);
    for (const u of latest.values()) {
      await this.db
        .updateTable('app_passwords')
        .set({ last_used_at: u.at, last_used_protocol: u.protocol, last_used_ip: u.ip })
        .where('id', '=', u.id)
        .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<=', u.at)]))
        .execute();
    }
  }

  async recordIp(id: string, ip: string, at: number): Promise<boolean> {
    const r = await this.db
      .insertInto('app_password_ips')
      .values({ app_password_id: id, ip, first_seen_at: at })
      .onConflict((oc) => oc.columns(['app_password_id', 'ip']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async deleteUnusedSince(orgId: string, before: number): Promise<{ deleted: number; owners: string[] }> {
    // RETURNING (both stores) names exactly the rows this statement deleted, whatever ran meanwhile.
    const rows = await this.db
      .deleteFrom('app_passwords')
      .where('user_id', 'in', (eb) => eb.selectFrom('users').select('id').where('org_id', '=', orgId))
      .where((eb) => eb(eb.fn.coalesce('last_used_at', 'created_at'), '<', before))
      .returning('user_id')
      .execute();
    const ids = [...new Set(rows.map((r) => r.user_id))];
    const owners = ids.length
      ? (await this.db.selectFrom('users').select('address').where('id', 'in', ids).orderBy('address').execute()).map(
          (u) => u.address,
        )
      : [];
    return { deleted: rows.length, owners };
  }

  async ownersExpiredBetween(since: number, until: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('app_passwords as a')
      .innerJoin('users as u', 'u.id', 'a.user_id')
      .select('u.address')
      .distinct()
      .where('a.expires_at', '>', since)
      .where('a.expires_at', '<=', until)
      .orderBy('u.address')
      .execute();
    return rows.map((r) => r.address);
  }

  async deleteAll(userId: string) {
    const r = await this.db.deleteFrom('app_passwords').where('user_id', '=', userId).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

/** The verification read: the app password with this keyed hash, its owner, and the parts of the organization's policy that matter. */
export function verificationSelect(db: Kysely<Database>, hash: string) {
  return verificationColumns(db).where('a.hash', '=', hash);
}

function verificationColumns(db: Kysely<Database>) {
  return (
    db
      .selectFrom('app_passwords as a')
      .innerJoin('users as u', 'u.id', 'a.user_id')
      .leftJoin('org_policies as p', 'p.org_id', 'u.org_id')
      // The group app passwords require (no row: none) and whether the owner is in it, in this same
      // read: a second query for known users only would make them measurably slower to answer.
      // The version of the organization's location rules: the gate recompiles when it changes.
      .leftJoin('location_policies as lp', 'lp.org_id', 'u.org_id')
      .leftJoin('group_limits as gl', (j) => j.onRef('gl.org_id', '=', 'u.org_id').on('gl.use', '=', 'app_passwords'))
      // The groups LDAP and RADIUS require, read the same way: the protocol is known only to the caller.
      .leftJoin('group_limits as gl_ldap', (j) =>
        j.onRef('gl_ldap.org_id', '=', 'u.org_id').on('gl_ldap.use', '=', 'ldap'),
      )
      .leftJoin('group_limits as gl_radius', (j) =>
        j.onRef('gl_radius.org_id', '=', 'u.org_id').on('gl_radius.use', '=', 'radius'),
      )
      .select([
        'a.id',
        'a.user_id',
        'a.name',
        'a.protocols',
        'a.created_at',
        'a.created_ip',
        'a.expires_at',
        'a.last_used_at',
        'a.last_used_protocol',
        'a.last_used_ip',
        'a.pinned_locations',
        'a.pinned_network',
        'u.address',
        'u.name as user_name',
        'u.status',
        'u.mfa_state',
        'u.org_id',
      ])
      .select([
        'p.app_passwords_allowed',
        'p.app_passwords_keep_when_off',
        'p.app_password_unused_days',
        'p.app_password_protocols',
        'p.app_password_max_days',
        'lp.version as location_version',
        'gl.group_id as required_group_id',
        'gl_ldap.group_id as ldap_group_id',
        'gl_radius.group_id as radius_group_id',
      ])
      .select((eb) =>
        eb
          .case()
          .when(
            eb.exists(
              eb
                .selectFrom('group_members as gm')
                .select('gm.user_id')
                .whereRef('gm.group_id', '=', 'gl.group_id')
                .whereRef('gm.user_id', '=', 'u.id'),
            ),
          )
          .then(1)
          .else(0)
          .end()
          .as('in_required_group'),
      )
      .select((eb) => [
        memberOf(eb, 'gl_ldap.group_id').as('in_ldap_group'),
        memberOf(eb, 'gl_radius.group_id').as('in_radius_group'),
      ])
  );
}

/** 1 when the owner is a member of the group in `groupColumn` (0 without one). */
// biome-ignore lint/suspicious/noExplicitAny: Kysely's expression builder over this query's joined tables
function memberOf(eb: any, groupColumn: string) {
  return eb
    .case()
    .when(
      eb.exists(
        eb
          .selectFrom('group_members as gm2')
          .select('gm2.user_id')
          .whereRef('gm2.group_id', '=', groupColumn)
          .whereRef('gm2.user_id', '=', 'u.id'),
      ),
    )
    .then(1)
    .else(0)
    .end();
}

type VerificationSelectRow = Awaited<ReturnType<ReturnType<typeof verificationSelect>['executeTakeFirstOrThrow']>>;

export function toVerificationRow(r: VerificationSelectRow): VerificationRow {
  const d = DEFAULT_APP_PASSWORD_POLICY;
  return {
    ...toAppPassword(r),
    address: r.address,
    userName: r.user_name,
    userStatus: r.status,
    mfaState: r.mfa_state,
    orgId: r.org_id,
    locationVersion: r.location_version === null ? 0 : Number(r.location_version),
    requiredGroup:
      r.required_group_id === null ? null : { id: r.required_group_id, member: Number(r.in_required_group) === 1 },
    protocolGroups: {
      ...(r.ldap_group_id === null ? {} : { ldap: { id: r.ldap_group_id, member: Number(r.in_ldap_group) === 1 } }),
      ...(r.radius_group_id === null
        ? {}
        : { radius: { id: r.radius_group_id, member: Number(r.in_radius_group) === 1 } }),
    },
    policy: {
      allowed: r.app_passwords_allowed === null ? d.allowed : r.app_passwords_allowed === 1,
      keepExistingWhenOff:
        r.app_passwords_keep_when_off === null ? d.keepExistingWhenOff : r.app_passwords_keep_when_off === 1,
      revokeUnusedDays: r.app_passwords_allowed === null ? d.revokeUnusedDays : r.app_password_unused_days,
      protocols:
        r.app_password_protocols === null
          ? d.protocols
          : (r.app_password_protocols.split(',').filter(Boolean) as Protocol[]),
      maxLifetimeDays: r.app_passwords_allowed === null ? d.maxLifetimeDays : r.app_password_max_days,
    },
  };
}
