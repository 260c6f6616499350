/** What the account service needs from storage. Implemented in storage/ for SQLite and PostgreSQL. */
import type { Organization, User, UserCredentials, UserRole, UserStatus } from './model.js';

export interface NewUser {
  orgId: string;
  address: string;
  name: string;
  role: UserRole;
  passwordHash: string | null;
  mfaState: User['mfaState'];
}

export interface AccountRepository {
  createOrganization(org: { domain: string; name: string }): Promise<Organization>;
  findOrganizationByDomain(domain: string): Promise<Organization | undefined>;
  findOrganizationById(id: string): Promise<Organization | undefined>;
  listOrganizations(): Promise<Organization[]>;
  createUser(user: NewUser): Promise<User>;
  findUserByAddress(address: string): Promise<User | undefined>;
  findUserById(id: string): Promise<User | undefined>;
  /**
   * Whom a sign-in-log row about `address` belongs to: the user, else the organization of its
   * domain. One statement that reads both indexes whether or not the user exists, so an unknown
   * address costs what a known one does (issue #15, item 5: the mail endpoints' timing).
   */
  findSignInOwner(address: string): Promise<{ userId: string | null; orgId: string | null }>;
  /**
   * findSignInOwner for a batch of sign-in-log rows, keyed by address (every address given has an
   * entry). The mail endpoints resolve owners this way when they write their log, after answering,
   * so that nothing on the answer's path depends on whether the address exists.
   */
  findSignInOwners(addresses: string[]): Promise<Map<string, { userId: string | null; orgId: string | null }>>;
  /** The only read that returns a password hash; used by sign-in alone. */
  findCredentialsByAddress(address: string): Promise<UserCredentials | undefined>;
  /** The organization's active admins (at most 200), who are told of sign-ins users report. */
  listActiveAdmins(orgId: string): Promise<User[]>;
  setUserStatus(userId: string, status: UserStatus): Promise<void>;
  setPasswordHash(userId: string, hash: string, at: number): Promise<void>;
  countUsers(): Promise<number>;
}

/** The purposes of the links a new password spends: set-password links and reset links (self-service/password-reset.ts). */
export const LINK_PURPOSES = { setPassword: 'set_password', resetPassword: 'reset_password' } as const;

/** One-time tokens (set-password links), stored only as keyed hashes. */
export interface OneTimeTokenRepository {
  create(t: { tokenHash: string; purpose: string; userId: string; expiresAt: number }): Promise<void>;
  /** Atomically marks the token used and returns its user; undefined if unknown, used or expired. */
  consume(tokenHash: string, purpose: string, now: number): Promise<string | undefined>;
  /** Looks without consuming, to render the form. */
  peek(tokenHash: string, purpose: string, now: number): Promise<string | undefined>;
  /** Marks the user's unused tokens of `purposes` used; returns how many. */
  revokeForUser(userId: string, now: number, purposes: string | string[]): Promise<number>;
}
