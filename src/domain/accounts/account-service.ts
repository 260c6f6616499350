/**
 * Organizations and users: creating them, disabling and enabling users, setting main passwords
 * (directly or through a one-time link) and listing, always within what the actor may administer.
 * Every change is written to the audit log.
 */
import type { KeyedHasher } from '../../lib/crypto/tokens.js';
import { findByKeyedHash, randomToken } from '../../lib/crypto/tokens.js';
import type { PasswordHasher } from '../../lib/crypto/password-hasher.js';
import { type AuditRepository, auditEvent } from '../audit/events.js';
import type { Clock } from '../clock.js';
import { SesameError } from '../errors.js';
import type { DomainEventOf, DomainEvents } from '../events.js';
import type { SessionService } from '../sessions/session.js';
import { type Actor, actorLabel, requireAdminOf } from './actor.js';
import {
  normalizeAddress,
  normalizeDisplayName,
  normalizeDomain,
  type Organization,
  type User,
  type UserRole,
} from './model.js';
import type { PasswordPolicy } from './password-policy.js';
import { type AccountRepository, LINK_PURPOSES, type OneTimeTokenRepository } from './repository.js';

const SET_PASSWORD = LINK_PURPOSES.setPassword;

export interface AccountServiceDeps {
  accounts: AccountRepository;
  tokens: OneTimeTokenRepository;
  audit: AuditRepository;
  sessions: SessionService;
  passwordHasher: PasswordHasher;
  keyedHasher: KeyedHasher;
  policy: PasswordPolicy;
  clock: Clock;
  setPasswordLinkMs: number;
  /** The MFA state a new user of this organization starts in (the organization's default). */
  mfaDefaultFor: (orgId: string) => Promise<User['mfaState']>;
  /** Told `user_disabled` and `password_changed` (what follows: app/consequences.ts). */
  events: DomainEvents;
}

type PasswordVia = DomainEventOf<'password_changed'>['via'];

export class AccountService {
  constructor(private readonly d: AccountServiceDeps) {}

  /** Creates an organization for a mail domain; the display name defaults to the domain. */
  async addOrganization(actor: Actor, domainRaw: string, nameRaw?: string): Promise<Organization> {
    if (actor.kind !== 'operator')
      throw new SesameError('forbidden', `${actorLabel(actor)} may not create organizations`);
    const domain = normalizeDomain(domainRaw);
    const name = normalizeDisplayName(nameRaw ?? domain);
    if (await this.d.accounts.findOrganizationByDomain(domain))
      throw new SesameError('organization_exists', `organization ${domain} exists`, { params: { domain } });
    const org = await this.d.accounts.createOrganization({ domain, name });
    await this.audit(actor, org.id, 'organization.create', null, `${domain} "${name}"`);
    return org;
  }

  /**
   * Adds a user to the organization of their address's domain. With a password it is checked
   * against the policy and hashed; without one the account cannot sign in until a set-password
   * link is used.
   */
  async addUser(
    actor: Actor,
    input: { address: string; name?: string; role?: UserRole; password?: string },
  ): Promise<User> {
    const { address, domain } = normalizeAddress(input.address);
    const org = await this.d.accounts.findOrganizationByDomain(domain);
    if (!org) {
      if (actor.kind === 'operator')
        throw new SesameError('organization_not_found', `no organization for ${domain}`, { params: { domain } });
      throw new SesameError('forbidden', `${actorLabel(actor)} tried to add ${address} outside their organization`);
    }
    requireAdminOf(actor, org.id);
    const name = normalizeDisplayName(input.name ?? address.split('@')[0]!);
    const role = input.role ?? 'user';
    if (role === 'admin' && actor.kind === 'user' && actor.user.role !== 'admin')
      throw new SesameError('forbidden', 'only admins create admins');
    if (input.password !== undefined) this.d.policy.check(input.password, { address, name });
    if (await this.d.accounts.findUserByAddress(address))
      throw new SesameError('user_exists', `user ${address} exists`, { params: { address } });
    const passwordHash = input.password !== undefined ? await this.d.passwordHasher.hash(input.password) : null;
    // Admins are protected by default: MFA enforced from creation, whatever the organization's
    // default, so their main password never works on a mail protocol (#15) and their first sign-in
    // registers a method.
    const mfaState = role === 'admin' ? 'enforced' : await this.d.mfaDefaultFor(org.id);
    const user = await this.d.accounts.createUser({ orgId: org.id, address, name, role, passwordHash, mfaState });
    await this.audit(actor, org.id, 'user.create', user.id, `${address} role=${role} mfa=${mfaState}`);
    return user;
  }

  /** Disables a user and ends all their sessions (checklist 31). */
  async disableUser(actor: Actor, addressRaw: string): Promise<User> {
    const user = await this.userForAdmin(actor, addressRaw);
    if (actor.kind === 'user' && actor.user.id === user.id)
      throw new SesameError('forbidden', 'an admin cannot disable their own account');
    await this.d.accounts.setUserStatus(user.id, 'disabled');
    const ended = await this.d.sessions.endAllForUser(user.id);
    await this.audit(actor, user.orgId, 'user.disable', user.id, `${user.address}; ${ended} session(s) ended`);
    await this.d.events.publish({ type: 'user_disabled', userId: user.id, address: user.address });
    return { ...user, status: 'disabled' };
  }

  async enableUser(actor: Actor, addressRaw: string): Promise<User> {
    const user = await this.userForAdmin(actor, addressRaw);
    await this.d.accounts.setUserStatus(user.id, 'active');
    await this.audit(actor, user.orgId, 'user.enable', user.id, user.address);
    await this.d.events.publish({ type: 'user_enabled', userId: user.id, address: user.address });
    return { ...user, status: 'active' };
  }

  async listOrganizations(): Promise<Organization[]> {
    return this.d.accounts.listOrganizations();
  }

  async organizationByDomain(domainRaw: string): Promise<Organization> {
    const domain = normalizeDomain(domainRaw);
    const org = await this.d.accounts.findOrganizationByDomain(domain);
    if (!org) throw new SesameError('organization_not_found', `no organization ${domain}`, { params: { domain } });
    return org;
  }

  async getOrganization(id: string): Promise<Organization> {
    const org = await this.d.accounts.findOrganizationById(id);
    if (!org) throw new SesameError('organization_not_found', `no organization ${id}`);
    return org;
  }

  async findUserByAddressOrNull(address: string): Promise<User | undefined> {
    return this.d.accounts.findUserByAddress(address);
  }

  async findUserById(id: string): Promise<User | undefined> {
    return this.d.accounts.findUserById(id);
  }

  /** Issues a one-time link token with which the user sets their own password. */
  async issueSetPasswordToken(
    actor: Actor,
    addressRaw: string,
  ): Promise<{ user: User; token: string; expiresAt: number }> {
    const user = await this.userForAdmin(actor, addressRaw);
    const token = randomToken(32);
    const expiresAt = this.d.clock.now() + this.d.setPasswordLinkMs;
    // The newest link is the only one that works: an older one, mailed or handed over before, is spent.
    await this.d.tokens.revokeForUser(user.id, this.d.clock.now(), SET_PASSWORD);
    await this.d.tokens.create({
      tokenHash: this.d.keyedHasher.digest(SET_PASSWORD, token),
      purpose: SET_PASSWORD,
      userId: user.id,
      expiresAt,
    });
    await this.audit(actor, user.orgId, 'user.set_password_link', user.id, user.address);
    return { user, token, expiresAt };
  }

  /** The user a set-password token belongs to, without using it up (to show the form). */
  async peekSetPasswordToken(token: string): Promise<User> {
    return (await this.findSetPasswordToken(token)).user;
  }

  /** The token's user and the hash it is stored under (under a previous key if it was issued before a rotation). */
  private async findSetPasswordToken(token: string): Promise<{ user: User; tokenHash: string }> {
    const hit = await findByKeyedHash(this.d.keyedHasher, SET_PASSWORD, token, (h) =>
      this.d.tokens.peek(h, SET_PASSWORD, this.d.clock.now()),
    );
    const user = hit ? await this.d.accounts.findUserById(hit.found) : undefined;
    if (!hit || !user || user.status !== 'active')
      throw new SesameError('token_invalid', 'set-password token unknown, used, expired or user disabled');
    return { user, tokenHash: hit.hash };
  }

  /** Sets the password through a one-time token; the token is consumed atomically, so it works once. */
  async setPasswordWithToken(token: string, password: string): Promise<User> {
    const { user, tokenHash } = await this.findSetPasswordToken(token);
    this.d.policy.check(password, { address: user.address, name: user.name });
    const hash = await this.d.passwordHasher.hash(password);
    const userId = await this.d.tokens.consume(tokenHash, SET_PASSWORD, this.d.clock.now());
    if (userId !== user.id) throw new SesameError('token_invalid', 'set-password token used concurrently');
    await this.storePassword(
      user,
      hash,
      { kind: 'user', user },
      'set_password_link',
      'user.password_set',
      `${user.address} via one-time link`,
    );
    return user;
  }

  /**
   * A signed-in user's new password, after they gave the current one (SelfService.changePassword
   * checks it). Their other sessions end; `keepSessionId`, the one asking, stays. Returns how many ended.
   */
  async changeOwnPassword(user: User, password: string, keepSessionId: string): Promise<number> {
    this.d.policy.check(password, { address: user.address, name: user.name });
    return this.storePassword(
      user,
      await this.d.passwordHasher.hash(password),
      { kind: 'user', user },
      'change',
      'user.password_change',
      user.address,
      { sessionId: keepSessionId },
    );
  }

  /**
   * The password chosen at the end of a password reset (its link and second factor proved): every
   * session ends, and every pending flow but the reset's own (`flowId`), which goes on to its end.
   */
  async recoverPassword(user: User, password: string, flowId: string): Promise<void> {
    this.d.policy.check(password, { address: user.address, name: user.name });
    await this.storePassword(
      user,
      await this.d.passwordHasher.hash(password),
      { kind: 'user', user },
      'reset',
      'user.password_reset',
      `${user.address} via reset link`,
      { flowId },
    );
  }

  /** Sets a password directly (operator CLI with --password-stdin). */
  async setPassword(actor: Actor, addressRaw: string, password: string): Promise<void> {
    const user = await this.userForAdmin(actor, addressRaw);
    this.d.policy.check(password, { address: user.address, name: user.name });
    await this.storePassword(
      user,
      await this.d.passwordHasher.hash(password),
      actor,
      'direct',
      'user.password_set',
      user.address,
    );
  }

  /**
   * Stores a new main password, whoever set it: sessions end (all, or all but `keep.sessionId`;
   * returns how many), the audit log, then `password_changed` (what the old password started ends,
   * the sign-in lock is lifted, app passwords are revoked when the policy says so, mail servers'
   * caches are told: app/consequences.ts). `keep.flowId`: the flow that set it goes on.
   */
  private async storePassword(
    user: User,
    hash: string,
    actor: Actor,
    via: PasswordVia,
    action: string,
    detail: string,
    keep: { sessionId?: string; flowId?: string } = {},
  ): Promise<number> {
    await this.d.accounts.setPasswordHash(user.id, hash, this.d.clock.now());
    const ended = keep.sessionId
      ? await this.d.sessions.endOthers(user.id, keep.sessionId)
      : await this.d.sessions.endAllForUser(user.id);
    await this.audit(actor, user.orgId, action, user.id, detail);
    await this.d.events.publish({
      type: 'password_changed',
      userId: user.id,
      address: user.address,
      via,
      actor,
      first: user.passwordChangedAt === null,
      ...(keep.flowId ? { keepFlowId: keep.flowId } : {}),
    });
    return ended;
  }

  /**
   * Every one-time link of the user that is still unused (set-password and reset links) stops
   * working: a consequence of a new password (app/consequences.ts), so an older link, or one a
   * thief holds, cannot set another. Returns how many.
   */
  async revokePasswordLinks(userId: string): Promise<number> {
    return this.d.tokens.revokeForUser(userId, this.d.clock.now(), Object.values(LINK_PURPOSES));
  }

  async countUsers(): Promise<number> {
    return this.d.accounts.countUsers();
  }

  /** The user at `addressRaw`, if the actor may administer them (else `forbidden`, `admin_mfa_required` or `user_not_found`). */
  async userForAdmin(actor: Actor, addressRaw: string): Promise<User> {
    // Rights first, then the lookup: someone who may administer no one learns nothing about which
    // addresses exist (the same refusal for a known and an unknown address).
    if (actor.kind === 'user') requireAdminOf(actor, actor.user.orgId);
    const { address } = normalizeAddress(addressRaw);
    const user = await this.d.accounts.findUserByAddress(address);
    if (!user) {
      // An admin asking about another organization's address learns nothing more than "forbidden".
      if (
        actor.kind === 'user' &&
        !address.endsWith(`@${(await this.d.accounts.findOrganizationById(actor.user.orgId))?.domain}`)
      ) {
        throw new SesameError('forbidden', `${actorLabel(actor)} asked for ${address} outside their organization`);
      }
      throw new SesameError('user_not_found', `no user ${address}`, { params: { address } });
    }
    requireAdminOf(actor, user.orgId);
    return user;
  }

  private async audit(actor: Actor, orgId: string | null, action: string, targetUserId: string | null, detail: string) {
    await this.d.audit.recordAudit(auditEvent(actor, this.d.clock.now(), { orgId, action, targetUserId, detail }));
  }
}
