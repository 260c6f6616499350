/**
 * Groups of users of one organization, and the uses an organization may limit to a group's
 * members. A limit names one group per use; no limit: everyone of the organization.
 */
import { SesameError } from '../errors.js';

export interface Group {
  id: string;
  orgId: string;
  name: string;
  description: string;
  createdAt: number;
}

export interface GroupMember {
  userId: string;
  address: string;
  name: string;
  addedAt: number;
}

/** What a group can limit. LDAP and RADIUS are served by other features, which ask `Groups.mayUse`. */
export const GROUP_USES = ['app_passwords', 'ldap', 'radius'] as const;
export type GroupUse = (typeof GROUP_USES)[number];

export function isGroupUse(v: unknown): v is GroupUse {
  return typeof v === 'string' && (GROUP_USES as readonly string[]).includes(v);
}

/** The group each use requires; null: everyone of the organization. */
export type GroupLimits = Record<GroupUse, string | null>;

export const GROUP_NAME_MAX = 100;
export const GROUP_DESCRIPTION_MAX = 500;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * Group names: 1 to 100 characters, no control characters, no comma (a CSV file and the CLI name
 * groups in a column). Compared without case: "Staff" and "staff" are one group.
 */
export function normalizeGroupName(raw: string): string {
  const n = raw.trim().normalize('NFC');
  if (n.length < 1 || n.length > GROUP_NAME_MAX || CONTROL.test(n) || n.includes(','))
    throw new SesameError(
      'invalid_name',
      `group name must be 1 to ${GROUP_NAME_MAX} characters without control characters or commas`,
      {
        params: { max: GROUP_NAME_MAX },
        variant: 'group',
      },
    );
  return n;
}

/** The key a name is unique under within its organization. */
export function groupNameKey(name: string): string {
  return name.toLowerCase();
}

export function normalizeGroupDescription(raw: string): string {
  const d = raw.trim().normalize('NFC');
  if (d.length > GROUP_DESCRIPTION_MAX || CONTROL.test(d))
    throw new SesameError(
      'invalid_input',
      `group description must be at most ${GROUP_DESCRIPTION_MAX} characters without control characters`,
    );
  return d;
}

export interface GroupRepository {
  /** False when the organization has a group of that name (any case). */
  create(g: Group): Promise<boolean>;
  get(id: string): Promise<Group | undefined>;
  byName(orgId: string, name: string): Promise<Group | undefined>;
  list(orgId: string): Promise<(Group & { members: number })[]>;
  /** False when another group of the organization has that name. */
  update(id: string, name: string, description: string): Promise<boolean>;
  remove(id: string): Promise<boolean>;
  /** False when the user already was a member. */
  addMember(groupId: string, userId: string, at: number): Promise<boolean>;
  /** Adds several at once, in one transaction; how many were new. */
  addMembers(pairs: { groupId: string; userId: string }[], at: number): Promise<number>;
  removeMember(groupId: string, userId: string): Promise<boolean>;
  members(groupId: string): Promise<GroupMember[]>;
  groupsOf(userId: string): Promise<Group[]>;
  isMember(groupId: string, userId: string): Promise<boolean>;
  limits(orgId: string): Promise<GroupLimits>;
  /** The OIDC apps (id and name) that require the group. */
  appsRequiring(groupId: string): Promise<{ id: string; name: string }[]>;
  /** The organization of OIDC app `clientId` and the group it requires (null: none); undefined: no such app. */
  appGroup(clientId: string): Promise<{ orgId: string; groupId: string | null } | undefined>;
  setAppGroup(clientId: string, groupId: string | null, at: number): Promise<void>;
  setLimit(orgId: string, use: GroupUse, groupId: string | null, at: number): Promise<void>;
}
