/** AccountRepository on Kysely: identical SQL for SQLite and PostgreSQL. */
import { randomUUID } from 'node:crypto';
import { type Kysely, type Selectable, sql } from 'kysely';
import type { Organization, User, UserCredentials, UserRole, UserStatus } from '../domain/accounts/model.js';
import type { AccountRepository, NewUser } from '../domain/accounts/repository.js';
import type { Clock } from '../domain/clock.js';
import type { Database, OrganizationsTable, UsersTable } from './schema.js';

export const USER_COLUMNS = [
  'id',
  'org_id',
  'address',
  'name',
  'status',
  'role',
  'created_at',
  'password_changed_at',
  'mfa_state',
] as const;

function toOrg(r: Selectable<OrganizationsTable>): Organization {
  return { id: r.id, domain: r.domain, name: r.name, createdAt: r.created_at };
}

export function toUser(r: Pick<Selectable<UsersTable>, (typeof USER_COLUMNS)[number]>): User {
  return {
    id: r.id,
    orgId: r.org_id,
    address: r.address,
    name: r.name,
    status: r.status as UserStatus,
    role: r.role as UserRole,
    createdAt: r.created_at,
    passwordChangedAt: r.password_changed_at,
    mfaState: r.mfa_state as User['mfaState'],
  };
}

/** Escapes LIKE wildcards so that a search for "a_b" means exactly that. */
export function likePattern(s: string): string {
  return `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export class KyselyAccountRepository implements AccountRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
  ) {}

  async createOrganization(o: { domain: string; name: string }): Promise<Organization> {
    const row = { id: randomUUID(), domain: o.domain, name: o.name, created_at: this.clock.now() };
    await this.db.insertInto('organizations').values(row).execute();
    return toOrg(row);
  }

  async findOrganizationByDomain(domain: string) {
    const r = await this.db.selectFrom('organizations').selectAll().where('domain', '=', domain).executeTakeFirst();
    return r && toOrg(r);
  }

  async findOrganizationById(id: string) {
    const r = await this.db.selectFrom('organizations').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toOrg(r);
  }

  async listOrganizations() {
    return (await this.db.selectFrom('organizations').selectAll().orderBy('domain').execute()).map(toOrg);
  }

  async createUser(u: NewUser): Promise<User> {
    const now = this.clock.now();
    const row = {
      id: randomUUID(),
      org_id: u.orgId,
      address: u.address,
      name: u.name,
      status: 'active',
      role: u.role,
      password_hash: u.passwordHash,
      password_changed_at: u.passwordHash ? now : null,
      created_at: now,
      mfa_state: u.mfaState,
      default_method_id: null,
    };
    await this.db.insertInto('users').values(row).execute();
    return toUser(row);
  }

  async findUserByAddress(address: string) {
    const r = await this.db.selectFrom('users').select(USER_COLUMNS).where('address', '=', address).executeTakeFirst();
    return r && toUser(r);
  }

  async findSignInOwner(address: string) {
    const domain = address.slice(address.lastIndexOf('@') + 1);
    // Exactly one row whether the user exists or not (a LEFT JOIN of each onto one constant row):
    // the same statement, index probes and result shape both ways.
    const { rows } = await sql<{ user_id: string | null; user_org_id: string | null; org_id: string | null }>`
      SELECT u.id AS user_id, u.org_id AS user_org_id, o.id AS org_id
      FROM (SELECT 1 AS one) AS k
      LEFT JOIN users AS u ON u.address = ${address}
      LEFT JOIN organizations AS o ON o.domain = ${domain}`.execute(this.db);
    const r = rows[0];
    return { userId: r?.user_id ?? null, orgId: r?.user_org_id ?? r?.org_id ?? null };
  }

  async findSignInOwners(addresses: string[]) {
    const owners = new Map<string, { userId: string | null; orgId: string | null }>();
    const unique = [...new Set(addresses)];
    if (unique.length === 0) return owners;
    const domainOf = (a: string) => a.slice(a.lastIndexOf('@') + 1);
    const domains = [...new Set(unique.map(domainOf))];
    const [users, orgs] = await Promise.all([
      this.db.selectFrom('users').select(['address', 'id', 'org_id']).where('address', 'in', unique).execute(),
      this.db.selectFrom('organizations').select(['domain', 'id']).where('domain', 'in', domains).execute(),
    ]);
    const user = new Map(users.map((u) => [u.address, u]));
    const org = new Map(orgs.map((o) => [o.domain, o.id]));
    for (const a of unique) {
      const u = user.get(a);
      owners.set(a, { userId: u?.id ?? null, orgId: u?.org_id ?? org.get(domainOf(a)) ?? null });
    }
    return owners;
  }

  async findUserById(id: string) {
    const r = await this.db.selectFrom('users').select(USER_COLUMNS).where('id', '=', id).executeTakeFirst();
    return r && toUser(r);
  }

  async findCredentialsByAddress(address: string): Promise<UserCredentials | undefined> {
    const r = await this.db
      .selectFrom('users')
      .select([...USER_COLUMNS, 'password_hash'])
      .where('address', '=', address)
      .executeTakeFirst();
    return r && { ...toUser(r), passwordHash: r.password_hash };
  }

  async listActiveAdmins(orgId: string) {
    const rows = await this.db
      .selectFrom('users')
      .select(USER_COLUMNS)
      .where('org_id', '=', orgId)
      .where('role', '=', 'admin')
      .where('status', '=', 'active')
      .orderBy('address')
      .limit(200)
      .execute();
    return rows.map(toUser);
  }

  async setUserStatus(userId: string, status: UserStatus) {
    await this.db.updateTable('users').set({ status }).where('id', '=', userId).execute();
  }

  async setPasswordHash(userId: string, hash: string, at: number) {
    await this.db
      .updateTable('users')
      .set({ password_hash: hash, password_changed_at: at })
      .where('id', '=', userId)
      .execute();
  }

  async countUsers() {
    const r = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }
}
