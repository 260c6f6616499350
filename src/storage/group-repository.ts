/** GroupRepository on Kysely (SQLite and PostgreSQL alike). */
import type { Kysely, Selectable } from 'kysely';
import {
  type Group,
  type GroupLimits,
  type GroupMember,
  type GroupRepository,
  type GroupUse,
  GROUP_USES,
  groupNameKey,
} from '../domain/groups/model.js';
import type { Database, GroupsTable } from './schema.js';

function toGroup(r: Selectable<GroupsTable>): Group {
  return { id: r.id, orgId: r.org_id, name: r.name, description: r.description, createdAt: Number(r.created_at) };
}

export class KyselyGroupRepository implements GroupRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(g: Group): Promise<boolean> {
    const r = await this.db
      .insertInto('groups')
      .values({
        id: g.id,
        org_id: g.orgId,
        name: g.name,
        name_key: groupNameKey(g.name),
        description: g.description,
        created_at: g.createdAt,
      })
      .onConflict((oc) => oc.columns(['org_id', 'name_key']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async get(id: string): Promise<Group | undefined> {
    const r = await this.db.selectFrom('groups').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toGroup(r) : undefined;
  }

  async byName(orgId: string, name: string): Promise<Group | undefined> {
    const r = await this.db
      .selectFrom('groups')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('name_key', '=', groupNameKey(name))
      .executeTakeFirst();
    return r ? toGroup(r) : undefined;
  }

  async list(orgId: string): Promise<(Group & { members: number })[]> {
    const rows = await this.db
      .selectFrom('groups as g')
      .selectAll('g')
      .select((eb) =>
        eb
          .selectFrom('group_members as m')
          .select((e) => e.fn.countAll<number | string>().as('n'))
          .whereRef('m.group_id', '=', 'g.id')
          .as('members'),
      )
      .where('g.org_id', '=', orgId)
      .orderBy('g.name_key')
      .execute();
    return rows.map((r) => ({ ...toGroup(r), members: Number(r.members ?? 0) }));
  }

  async update(id: string, name: string, description: string): Promise<boolean> {
    const g = await this.get(id);
    if (!g) return false;
    const clash = await this.byName(g.orgId, name);
    if (clash && clash.id !== id) return false;
    await this.db
      .updateTable('groups')
      .set({ name, name_key: groupNameKey(name), description })
      .where('id', '=', id)
      .execute();
    return true;
  }

  async remove(id: string): Promise<boolean> {
    // Members first: SQLite connections may run without foreign-key cascades.
    return this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('group_members').where('group_id', '=', id).execute();
      const r = await tx.deleteFrom('groups').where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) === 1;
    });
  }

  async addMember(groupId: string, userId: string, at: number): Promise<boolean> {
    const r = await this.db
      .insertInto('group_members')
      .values({ group_id: groupId, user_id: userId, added_at: at })
      .onConflict((oc) => oc.columns(['group_id', 'user_id']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async addMembers(pairs: { groupId: string; userId: string }[], at: number): Promise<number> {
    if (pairs.length === 0) return 0;
    return this.db.transaction().execute(async (tx) => {
      let n = 0;
      for (const p of pairs) {
        const r = await tx
          .insertInto('group_members')
          .values({ group_id: p.groupId, user_id: p.userId, added_at: at })
          .onConflict((oc) => oc.columns(['group_id', 'user_id']).doNothing())
          .executeTakeFirst();
        n += Number(r.numInsertedOrUpdatedRows ?? 0);
      }
      return n;
    });
  }

  async removeMember(groupId: string, userId: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('group_members')
      .where('group_id', '=', groupId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) === 1;
  }

  async members(groupId: string): Promise<GroupMember[]> {
    const rows = await this.db
      .selectFrom('group_members as m')
      .innerJoin('users as u', 'u.id', 'm.user_id')
      .select(['u.id', 'u.address', 'u.name', 'm.added_at'])
      .where('m.group_id', '=', groupId)
      .orderBy('u.address')
      .execute();
    return rows.map((r) => ({ userId: r.id, address: r.address, name: r.name, addedAt: Number(r.added_at) }));
  }

  async groupsOf(userId: string): Promise<Group[]> {
    const rows = await this.db
      .selectFrom('group_members as m')
      .innerJoin('groups as g', 'g.id', 'm.group_id')
      .selectAll('g')
      .where('m.user_id', '=', userId)
      .orderBy('g.name_key')
      .execute();
    return rows.map(toGroup);
  }

  async isMember(groupId: string, userId: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('group_members')
      .select('user_id')
      .where('group_id', '=', groupId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return r !== undefined;
  }

  async limits(orgId: string): Promise<GroupLimits> {
    const rows = await this.db
      .selectFrom('group_limits')
      .select(['use', 'group_id'])
      .where('org_id', '=', orgId)
      .execute();
    const limits = Object.fromEntries(GROUP_USES.map((u) => [u, null])) as GroupLimits;
    for (const r of rows) if ((GROUP_USES as readonly string[]).includes(r.use)) limits[r.use as GroupUse] = r.group_id;
    return limits;
  }

  async appsRequiring(groupId: string): Promise<{ id: string; name: string }[]> {
    return this.db
      .selectFrom('oidc_client_groups as cg')
      .innerJoin('oidc_clients as c', 'c.id', 'cg.client_id')
      .select(['c.id', 'c.name'])
      .where('cg.group_id', '=', groupId)
      .orderBy('c.name')
      .execute();
  }

  async appGroup(clientId: string): Promise<{ orgId: string; groupId: string | null } | undefined> {
    const r = await this.db
      .selectFrom('oidc_clients as c')
      .leftJoin('oidc_client_groups as cg', 'cg.client_id', 'c.id')
      .select(['c.org_id', 'cg.group_id'])
      .where('c.id', '=', clientId)
      .executeTakeFirst();
    return r ? { orgId: r.org_id, groupId: r.group_id ?? null } : undefined;
  }

  async setAppGroup(clientId: string, groupId: string | null, at: number): Promise<void> {
    if (groupId === null) {
      await this.db.deleteFrom('oidc_client_groups').where('client_id', '=', clientId).execute();
      return;
    }
    await this.db
      .insertInto('oidc_client_groups')
      .values({ client_id: clientId, group_id: groupId, updated_at: at })
      .onConflict((oc) => oc.column('client_id').doUpdateSet({ group_id: groupId, updated_at: at }))
      .execute();
  }

  async setLimit(orgId: string, use: GroupUse, groupId: string | null, at: number): Promise<void> {
    if (groupId === null) {
      await this.db.deleteFrom('group_limits').where('org_id', '=', orgId).where('use', '=', use).execute();
      return;
    }
    await this.db
      .insertInto('group_limits')
      .values({ org_id: orgId, use, group_id: groupId, updated_at: at })
      .onConflict((oc) => oc.columns(['org_id', 'use']).doUpdateSet({ group_id: groupId, updated_at: at }))
      .execute();
  }
}
