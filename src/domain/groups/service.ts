/**
 * Admins' groups: create, rename, delete, members, and which group a use requires. Every change is
 * audited (`group.*`). Nothing is cached: a membership or a limit changed now decides the next
 * attempt (`mayUse` and the mail servers' verification read both read the store each time).
 */
import { randomUUID } from 'node:crypto';
import { type Actor, requireAdminOf } from '../accounts/actor.js';
import type { AccountService } from '../accounts/account-service.js';
import { normalizeAddress, type User } from '../accounts/model.js';
import { type AuditRepository, auditEvent } from '../audit/events.js';
import type { Clock } from '../clock.js';
import { SesameError } from '../errors.js';
import type { DomainEvents } from '../events.js';
import type { MembershipRow } from './group-csv.js';
import {
  type Group,
  type GroupLimits,
  type GroupMember,
  type GroupRepository,
  type GroupUse,
  GROUP_USES,
  isGroupUse,
  normalizeGroupDescription,
  normalizeGroupName,
} from './model.js';

/** What a membership file would do (or did, when `applied`): additions, rows already true, and every problem. */
export interface MembershipPlan {
  adds: { row: number; address: string; group: string }[];
  already: number;
  problems: {
    row: number;
    problem: 'group_not_found' | 'invalid_address' | 'wrong_organization' | 'user_not_found';
    value: string;
  }[];
  applied: boolean;
}

export class Groups {
  constructor(
    private readonly repo: GroupRepository,
    private readonly accounts: AccountService,
    private readonly audit: AuditRepository,
    private readonly clock: Clock,
    /** Told `group_member_removed` and `policy_narrowed` (what follows: app/consequences.ts). */
    private readonly events: DomainEvents,
  ) {}

  async list(actor: Actor, orgId: string): Promise<(Group & { members: number })[]> {
    requireAdminOf(actor, orgId);
    return this.repo.list(orgId);
  }

  /** A group of the organization by id; `group_not_found` for one of another organization too (nothing leaks). */
  async get(actor: Actor, orgId: string, id: string): Promise<Group> {
    requireAdminOf(actor, orgId);
    const g = await this.repo.get(id);
    if (!g || g.orgId !== orgId) throw new SesameError('group_not_found', `no group ${id} in organization ${orgId}`);
    return g;
  }

  /** A group of the organization by name (any case). */
  async byName(actor: Actor, orgId: string, nameRaw: string): Promise<Group> {
    requireAdminOf(actor, orgId);
    const name = normalizeGroupName(nameRaw);
    const g = await this.repo.byName(orgId, name);
    if (!g) throw new SesameError('group_not_found', `no group ${name} in organization ${orgId}`, { params: { name } });
    return g;
  }

  async create(actor: Actor, orgId: string, nameRaw: string, descriptionRaw = ''): Promise<Group> {
    requireAdminOf(actor, orgId);
    const g: Group = {
      id: randomUUID(),
      orgId,
      name: normalizeGroupName(nameRaw),
      description: normalizeGroupDescription(descriptionRaw),
      createdAt: this.clock.now(),
    };
    if (!(await this.repo.create(g)))
      throw new SesameError('group_exists', `organization ${orgId} has a group ${g.name}`, {
        params: { name: g.name },
      });
    await this.record(actor, g, 'group.create', g.name);
    return g;
  }

  /** Renames a group and replaces its description. */
  async update(actor: Actor, orgId: string, id: string, nameRaw: string, descriptionRaw: string): Promise<Group> {
    const g = await this.get(actor, orgId, id);
    const name = normalizeGroupName(nameRaw);
    const description = normalizeGroupDescription(descriptionRaw);
    if (!(await this.repo.update(id, name, description)))
      throw new SesameError('group_exists', `organization ${orgId} has a group ${name}`, { params: { name } });
    await this.record(actor, g, 'group.update', g.name === name ? name : `${g.name} -> ${name}`);
    return { ...g, name, description };
  }

  /**
   * Deletes a group and its memberships. Refused while a limit requires it: deleting it would
   * either let everyone in or no one, and the admin should choose which (`group_in_use` names the use).
   */
  async remove(actor: Actor, orgId: string, id: string): Promise<void> {
    const g = await this.get(actor, orgId, id);
    const limits = await this.repo.limits(orgId);
    const apps = await this.repo.appsRequiring(id);
    const uses = [...GROUP_USES.filter((u) => limits[u] === id), ...apps.map((a) => `app ${a.name}`)];
    if (uses.length)
      throw new SesameError('group_in_use', `group ${g.name} is required for ${uses.join(', ')}`, {
        params: { name: g.name, uses: uses.join(', ') },
      });
    await this.repo.remove(id);
    await this.record(actor, g, 'group.delete', g.name);
  }

  async members(actor: Actor, orgId: string, id: string): Promise<GroupMember[]> {
    await this.get(actor, orgId, id);
    return this.repo.members(id);
  }

  /** Adds the user at `address`; a user of another organization is refused (`group_wrong_organization`). */
  async addMember(actor: Actor, orgId: string, id: string, address: string): Promise<User> {
    const g = await this.get(actor, orgId, id);
    const user = await this.memberCandidate(actor, g, address);
    if (await this.repo.addMember(id, user.id, this.clock.now()))
      await this.record(actor, g, 'group.member_add', `${g.name}: ${user.address}`, user.id);
    return user;
  }

  /** Removes the user; what the group gave them is refused from their next attempt. */
  async removeMember(actor: Actor, orgId: string, id: string, address: string): Promise<boolean> {
    const g = await this.get(actor, orgId, id);
    const user = await this.memberCandidate(actor, g, address);
    const removed = await this.repo.removeMember(id, user.id);
    if (removed) {
      await this.record(actor, g, 'group.member_remove', `${g.name}: ${user.address}`, user.id);
      await this.events.publish({ type: 'group_member_removed', userId: user.id, address: user.address, groupId: id });
    }
    return removed;
  }

  /** The groups of a user, for their admin's page. */
  async groupsOf(actor: Actor, user: User): Promise<Group[]> {
    requireAdminOf(actor, user.orgId);
    return this.repo.groupsOf(user.id);
  }

  async limits(actor: Actor, orgId: string): Promise<GroupLimits> {
    requireAdminOf(actor, orgId);
    return this.repo.limits(orgId);
  }

  /** Requires group `groupId` for `use` (null: everyone). Takes effect at the next attempt. */
  async setLimit(actor: Actor, orgId: string, use: string, groupId: string | null): Promise<GroupLimits> {
    requireAdminOf(actor, orgId);
    if (!isGroupUse(use)) throw new SesameError('invalid_input', `not a use a group can limit: ${use}`);
    const g = groupId === null ? null : await this.get(actor, orgId, groupId);
    const before = await this.repo.limits(orgId);
    if (before[use] !== (g?.id ?? null)) {
      await this.repo.setLimit(orgId, use, g?.id ?? null, this.clock.now());
      await this.audit.recordAudit(
        auditEvent(actor, this.clock.now(), {
          orgId,
          action: 'group.limit',
          targetUserId: null,
          detail: `${use}: ${g ? g.name : 'everyone'}`,
        }),
      );
      // App passwords of users outside the new group are refused from now: Dovecot's cached answers too.
      if (use === 'app_passwords' && g)
        await this.events.publish({ type: 'policy_narrowed', org: await this.accounts.getOrganization(orgId) });
    }
    return { ...before, [use]: g?.id ?? null };
  }

  /**
   * Whether `user` may use `use` under their organization's limit, read now (no cache): the LDAP
   * and RADIUS interfaces ask this on every bind and request. App passwords on the mail servers'
   * path are decided inside the verification read instead (see storage/app-password-repository.ts).
   */
  async mayUse(user: Pick<User, 'id' | 'orgId'>, use: GroupUse): Promise<boolean> {
    const groupId = (await this.repo.limits(user.orgId))[use];
    return groupId === null || (await this.repo.isMember(groupId, user.id));
  }

  /**
   * Checks every row of a membership file (group-csv.ts) and, with `apply` and no problem at all,
   * adds every membership in one transaction: all or nothing. Without `apply` it is the preview.
   * A problem names the row and what is wrong; nothing tells an admin whether an address of another
   * organization exists.
   */
  async importMembers(actor: Actor, orgId: string, rows: MembershipRow[], apply: boolean): Promise<MembershipPlan> {
    requireAdminOf(actor, orgId);
    const org = await this.accounts.getOrganization(orgId);
    const groups = new Map((await this.repo.list(orgId)).map((g) => [g.name.toLowerCase(), g]));
    const plan: MembershipPlan = { adds: [], already: 0, problems: [], applied: false };
    const seen = new Set<string>();
    const pairs: { groupId: string; userId: string }[] = [];
    for (const r of rows) {
      const group = groups.get(r.group.toLowerCase());
      if (!group) {
        plan.problems.push({ row: r.row, problem: 'group_not_found', value: r.group });
        continue;
      }
      let normalized: { address: string; domain: string };
      try {
        normalized = normalizeAddress(r.address);
      } catch {
        plan.problems.push({ row: r.row, problem: 'invalid_address', value: r.address });
        continue;
      }
      if (normalized.domain !== org.domain) {
        plan.problems.push({ row: r.row, problem: 'wrong_organization', value: normalized.address });
        continue;
      }
      const user = await this.accounts.findUserByAddressOrNull(normalized.address);
      if (!user || user.orgId !== orgId) {
        plan.problems.push({ row: r.row, problem: 'user_not_found', value: normalized.address });
        continue;
      }
      const key = `${group.id} ${user.id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (await this.repo.isMember(group.id, user.id)) plan.already++;
      else {
        plan.adds.push({ row: r.row, address: user.address, group: group.name });
        pairs.push({ groupId: group.id, userId: user.id });
      }
    }
    if (!apply || plan.problems.length > 0 || pairs.length === 0) return plan;
    await this.repo.addMembers(pairs, this.clock.now());
    await this.audit.recordAudit(
      auditEvent(actor, this.clock.now(), {
        orgId,
        action: 'group.member_import',
        targetUserId: null,
        detail: `${pairs.length} membership(s): ${plan.adds.map((a) => `${a.group}: ${a.address}`).join('; ')}`.slice(
          0,
          4000,
        ),
      }),
    );
    return { ...plan, applied: true };
  }

  /** The group OIDC app `clientId` of organization `orgId` requires (null: everyone of the organization). */
  async appGroup(actor: Actor, orgId: string, clientId: string): Promise<string | null> {
    requireAdminOf(actor, orgId);
    const a = await this.repo.appGroup(clientId);
    if (!a || a.orgId !== orgId)
      throw new SesameError('oidc_client_not_found', `no client ${clientId} in organization ${orgId}`);
    return a.groupId;
  }

  /** Requires group `groupId` (null: none) of who signs in to OIDC app `clientId`; from the next sign-in or token refresh. */
  async setAppGroup(actor: Actor, orgId: string, clientId: string, groupId: string | null): Promise<void> {
    const before = await this.appGroup(actor, orgId, clientId);
    const g = groupId === null ? null : await this.get(actor, orgId, groupId);
    if (before === (g?.id ?? null)) return;
    await this.repo.setAppGroup(clientId, g?.id ?? null, this.clock.now());
    await this.audit.recordAudit(
      auditEvent(actor, this.clock.now(), {
        orgId,
        action: 'group.app',
        targetUserId: null,
        detail: `app ${clientId}: ${g ? g.name : 'everyone'}`,
      }),
    );
  }

  /** The OIDC apps of the organization that require the group (id and name). */
  async appsRequiring(actor: Actor, orgId: string, id: string): Promise<{ id: string; name: string }[]> {
    await this.get(actor, orgId, id);
    return this.repo.appsRequiring(id);
  }

  /** Whether `user` may sign in to OIDC app `clientId` under the group it requires, read now. */
  async mayUseApp(user: Pick<User, 'id' | 'orgId'>, clientId: string): Promise<boolean> {
    const a = await this.repo.appGroup(clientId);
    if (!a || a.orgId !== user.orgId) return false;
    return a.groupId === null || (await this.repo.isMember(a.groupId, user.id));
  }

  /** The names of the user's groups: the `groups` claim of OIDC apps that ask for it. */
  async namesOf(user: Pick<User, 'id'>): Promise<string[]> {
    return (await this.repo.groupsOf(user.id)).map((g) => g.name);
  }

  private async memberCandidate(actor: Actor, g: Group, address: string): Promise<User> {
    const { address: normalized, domain } = normalizeAddress(address);
    const user = await this.accounts.findUserByAddressOrNull(normalized);
    if (!user) {
      // An address of this organization that no one has: say so; any other: a user of another
      // organization is refused alike, whether it exists or not (nothing leaks about them).
      const org = await this.accounts.getOrganization(g.orgId);
      if (domain === org.domain)
        throw new SesameError('user_not_found', `no user ${normalized}`, { params: { address: normalized } });
      throw new SesameError('group_wrong_organization', `${normalized} is not of organization ${g.orgId}`);
    }
    if (user.orgId !== g.orgId)
      throw new SesameError('group_wrong_organization', `${user.address} is not of organization ${g.orgId}`);
    requireAdminOf(actor, user.orgId);
    return user;
  }

  private record(actor: Actor, g: Group, action: string, detail: string, targetUserId: string | null = null) {
    return this.audit.recordAudit(
      auditEvent(actor, this.clock.now(), { orgId: g.orgId, action, targetUserId, detail }),
    );
  }
}
