/**
 * What a directory interface (LDAP, issue #19, item 2) reads of an organization: its active
 * people, and its groups with their members. Groups are served through their own port so that the
 * LDAP side (ou=groups, memberOf) needs no change when they arrive: until then NO_GROUPS answers
 * that there are none.
 */

/** A person as an address book sees them. */
export interface Person {
  id: string;
  address: string;
  name: string;
  /** Its POSIX number (uidNumber, and gidNumber of its own group), given once and never reused. */
  posixId: number;
}

export interface PeopleReads {
  /**
   * The organization's active users (disabled ones are not in the address book), in address order,
   * at most `limit` of them.
   */
  activePeople(orgId: string, limit: number): Promise<Person[]>;
  /** One active user of the organization by address (a lookup such as `(uid=ann)`), or undefined. */
  activePerson(orgId: string, address: string): Promise<Person | undefined>;
}

/** A group as a directory shows it: its stable id (entryUUID), its name and its members' addresses. */
export interface DirectoryGroup {
  id: string;
  name: string;
  /** Its POSIX number (gidNumber), from the same range as people's and never reused. */
  posixId: number;
  members: string[];
}

export interface GroupReads {
  groups(orgId: string): Promise<DirectoryGroup[]>;
  /** The names of the groups this user is a member of. */
  groupsOf(orgId: string, userId: string): Promise<string[]>;
}

/** Groups are not built yet (another branch): no groups, and nobody is a member of any. */
export const NO_GROUPS: GroupReads = {
  groups: async () => [],
  groupsOf: async () => [],
};

export type DirectoryReads = PeopleReads & GroupReads;
