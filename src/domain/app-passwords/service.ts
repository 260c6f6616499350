/**
 * Creating, listing and revoking app passwords, for the user (Security info, the registration
 * flow's last step, the JSON API) and for admins and the operator. Creation needs the policy's
 * consent, an MFA state of `enabled` or `enforced`, a name, room under the cap, and (outside the
 * registration flow) a second factor proved in the last 10 minutes. The user may limit a new one to
 * some of the protocols the organization allows (a printer: SMTP only).
 */
import { randomUUID } from 'node:crypto';
import type { KeyedHasher } from '../../lib/crypto/tokens.js';
import type { Actor } from '../accounts/actor.js';
import type { AccountService } from '../accounts/account-service.js';
import type { User } from '../accounts/model.js';
import { type AuditRepository, auditEvent, userAuditEvent } from '../audit/events.js';
import type { Clock } from '../clock.js';
import { SesameError } from '../errors.js';
import type { DomainEvents } from '../events.js';
import type { Locale } from '../locale.js';
import { type OrgPolicy, policyOf } from '../mfa/model.js';
import type { MfaRepository } from '../mfa/repository.js';
import { idFromFormNonce } from '../once-keys.js';
import type { RecentAuth } from '../sessions/recent-auth.js';
import type { Session } from '../sessions/session.js';
import { generateAppPassword, groupAppPassword } from './format.js';
import type { AppPassword, AppPasswordPin, AppPasswordRepository, Protocol } from './model.js';

/** A pin as a user or admin asks for it: location ids of the organization and/or one network or address. */
export interface PinInput {
  locationIds?: readonly string[];
  network?: string | null;
}

export const APP_PASSWORD_HASH_PURPOSE = 'app-password';

export interface AppPasswordNotices {
  created(to: string, locale: Locale, name: string, ip: string, at: number): Promise<void>;
}

/** App-password names: 1 to 100 characters, no control characters; shown escaped everywhere. */
export function normalizeAppPasswordName(raw: string): string {
  const n = raw.trim().normalize('NFC');
  // eslint-disable-next-line no-control-regex
  if (n.length < 1 || n.length > 100 || /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(n))
    throw new SesameError('invalid_name', 'app password name must be 1 to 100 characters without control characters', {
      params: { max: 100 },
    });
  return n;
}

/**
 * What a new app password may be used for: the protocols asked for, in the policy's order, or all
 * the policy allows when none were asked for (undefined). Asking for none (an empty list: nothing
 * ticked), or for one the organization does not allow (or no protocol at all: a forged form), is
 * refused rather than narrowed silently, so the user never gets an app password that does less, or
 * more, than they chose.
 */
export function appPasswordProtocols(asked: readonly string[] | undefined, allowed: readonly Protocol[]): Protocol[] {
  if (asked === undefined) return [...allowed];
  const params = { allowed: allowed.map((p) => p.toUpperCase()).join(', ') };
  if (asked.length === 0)
    throw new SesameError('app_password_protocols_invalid', 'no protocol asked for', { params, variant: 'none' });
  const refused = asked.filter((p) => !(allowed as readonly string[]).includes(p));
  if (refused.length)
    throw new SesameError(
      'app_password_protocols_invalid',
      `not allowed by the policy: ${refused.map((p) => JSON.stringify(p.slice(0, 20))).join(', ')}`,
      { params },
    );
  return allowed.filter((p) => asked.includes(p));
}

export class AppPasswords {
  constructor(
    private readonly repo: AppPasswordRepository,
    private readonly mfa: MfaRepository,
    private readonly accounts: AccountService,
    private readonly recentAuth: RecentAuth,
    private readonly audit: AuditRepository,
    private readonly hasher: KeyedHasher,
    private readonly notices: AppPasswordNotices,
    private readonly clock: Clock,
    /** Told `app_passwords_revoked` and `app_passwords_expired` (what follows: app/consequences.ts). */
    private readonly events: DomainEvents,
    /** Whether the organization limits app passwords to a group's members (domain/groups); absent: no limit. */
    private readonly groups?: { mayUse(user: Pick<User, 'id' | 'orgId'>, use: 'app_passwords'): Promise<boolean> },
    /** Checks a pin against the organization's locations (domain/locations); absent: pins are refused. */
    private readonly pins?: (orgId: string, raw: PinInput) => Promise<AppPasswordPin | null>,
  ) {}

  /** A pin checked for the user's organization; null for none asked or an empty one. */
  private async pinOf(user: Pick<User, 'orgId'>, raw: PinInput | null | undefined): Promise<AppPasswordPin | null> {
    if (!raw || (!raw.locationIds?.length && !raw.network?.trim())) return null;
    if (!this.pins) throw new SesameError('invalid_input', 'pins are not available here');
    return this.pins(user.orgId, raw);
  }

  /** The organization's policy (model.ts policyOf: saved or default). */
  async policyFor(orgId: string): Promise<OrgPolicy> {
    return policyOf(this.mfa, orgId);
  }

  /** Whether this user may create one now (policy and MFA state; not the freshness of the proof). */
  async canCreate(user: User): Promise<boolean> {
    const policy = await this.policyFor(user.orgId);
    return policy.appPasswords.allowed && user.mfaState !== 'disabled' && (await this.inGroup(user));
  }

  /** Whether the user is in the group the organization requires for app passwords (if any), read now. */
  async inGroup(user: Pick<User, 'id' | 'orgId'>): Promise<boolean> {
    return this.groups ? this.groups.mayUse(user, 'app_passwords') : true;
  }

  /**
   * Creates an app password and returns it once, grouped for display. `session` is the caller's
   * session, which must have authenticated recently; the registration flow passes `null` because
   * the factor was proved a moment ago in that same flow. `protocols`: what it may be used for
   * (appPasswordProtocols); omitted, all the organization allows.
   */
  async create(
    user: User,
    session: Session | null,
    nameRaw: string,
    meta: { ip: string; locale: Locale },
    protocols?: readonly string[],
    pin?: PinInput | null,
  ): Promise<{ appPassword: AppPassword; password: string }> {
    const made = await this.make(user, session, nameRaw, meta, randomUUID(), protocols, pin);
    if (made.password === undefined) throw new Error('a random id was taken');
    return { appPassword: made.appPassword, password: made.password };
  }

  /**
   * create() for a form that carries a one-time nonce (once-keys.ts): the app password's id is
   * derived from the user and the nonce, so the same form posted twice (a double click, a reload of
   * the POST, two parallel requests) makes one app password and sends one mail. The repeat gets the
   * app password the first post made, without its secret (`repeated`).
   */
  async createOnce(
    user: User,
    session: Session | null,
    nameRaw: string,
    meta: { ip: string; locale: Locale },
    nonce: string,
    protocols?: readonly string[],
    pin?: PinInput | null,
  ): Promise<{ appPassword: AppPassword; password: string } | { appPassword: AppPassword; repeated: true }> {
    const made = await this.make(
      user,
      session,
      nameRaw,
      meta,
      idFromFormNonce('app-password-form', user.id, nonce),
      protocols,
      pin,
    );
    return made.password === undefined
      ? { appPassword: made.appPassword, repeated: true }
      : { appPassword: made.appPassword, password: made.password };
  }

  private async make(
    user: User,
    session: Session | null,
    nameRaw: string,
    meta: { ip: string; locale: Locale },
    id: string,
    asked?: readonly string[],
    pinAsked?: PinInput | null,
  ): Promise<{ appPassword: AppPassword; password?: string }> {
    const name = normalizeAppPasswordName(nameRaw);
    const { state } = await this.mfa.getState(user.id);
    if (state === 'disabled') throw new SesameError('app_passwords_need_mfa', `${user.address} has MFA disabled`);
    const policy = (await this.policyFor(user.orgId)).appPasswords;
    if (!policy.allowed)
      throw new SesameError('app_passwords_off', `organization ${user.orgId} does not allow new app passwords`);
    if (!(await this.inGroup(user)))
      throw new SesameError('app_passwords_off', `${user.address} is not in the group app passwords require`, {
        variant: 'group',
      });
    // After the proof: a stale session (whose page offered no boxes) is asked to confirm first.
    if (session) await this.recentAuth.require(user, session);
    const protocols = appPasswordProtocols(asked, policy.protocols);
    const pin = await this.pinOf(user, pinAsked);
    const now = this.clock.now();
    const password = generateAppPassword();
    const row = {
      id,
      userId: user.id,
      name,
      hash: this.hasher.digest(APP_PASSWORD_HASH_PURPOSE, password),
      protocols,
      createdAt: now,
      createdIp: meta.ip.slice(0, 64),
      expiresAt: policy.maxLifetimeDays ? now + policy.maxLifetimeDays * 86_400_000 : null,
      pin,
    };
    const created = await this.repo.createWithinCap(row, policy.cap);
    if (created === 'exists') {
      const first = (await this.repo.list(user.id)).find((p) => p.id === id);
      if (!first) throw new SesameError('app_password_not_found', 'the app password of this form is gone');
      return { appPassword: first };
    }
    if (!created)
      throw new SesameError('app_password_cap', `${user.address} has ${policy.cap} app passwords`, {
        params: { cap: policy.cap },
      });
    await this.record(
      user,
      { kind: 'user', user },
      'app_password.create',
      `"${name}" protocols=${row.protocols.join(',')}${pin ? ` pin=${describePin(pin)}` : ''}`,
    );
    await this.notices.created(user.address, meta.locale, name, meta.ip, now);
    const { hash: _h, ...rest } = row;
    return {
      appPassword: { ...rest, lastUsedAt: null, lastUsedProtocol: null, lastUsedIp: null },
      password: groupAppPassword(password),
    };
  }

  async list(user: User): Promise<AppPassword[]> {
    return this.repo.list(user.id);
  }

  /**
   * Renames one of the user's app passwords (#17, task B), with the names creation accepts. Only the
   * name changes: the secret, and so every app that uses it, go on as before; the sign-in log, which
   * names app passwords by id, shows the new name from now on, for earlier sign-ins too. No recent
   * authentication needed: a name opens nothing (deleting one needs none either).
   */
  async rename(user: User, id: string, nameRaw: string): Promise<AppPassword> {
    const name = normalizeAppPasswordName(nameRaw);
    const before = (await this.repo.list(user.id)).find((p) => p.id === id);
    if (!before || !(await this.repo.rename(user.id, id, name)))
      throw new SesameError('app_password_not_found', 'no such app password of this user');
    await this.record(user, { kind: 'user', user }, 'app_password.rename', `${id} "${before.name}" -> "${name}"`);
    return { ...before, name };
  }

  /**
   * Pins one of the user's app passwords to named locations or one network, or (null, or nothing
   * chosen) unpins it. Narrowing needs no recent proof: it opens nothing. Widening or removing a
   * pin opens the app password to more places, so it needs the same proof as creating one.
   */
  async setPin(user: User, session: Session | null, id: string, raw: PinInput | null): Promise<AppPassword> {
    const before = (await this.repo.list(user.id)).find((p) => p.id === id);
    if (!before) throw new SesameError('app_password_not_found', 'no such app password of this user');
    const pin = await this.pinOf(user, raw);
    if (session && !narrows(pin, before.pin)) await this.recentAuth.require(user, session);
    if (!(await this.repo.setPin(user.id, id, pin)))
      throw new SesameError('app_password_not_found', 'no such app password of this user');
    await this.record(user, { kind: 'user', user }, 'app_password.pin', `${id} "${before.name}" ${describePin(pin)}`);
    // A mail server may hold a good answer for it in its cache: told as for a revocation.
    await this.revoked(user.address);
    return { ...before, pin };
  }

  /** setPin() by an admin, for a device they hand out (no recent proof of theirs is asked here: admin pages ask it). */
  async setPinFor(actor: Actor, address: string, id: string, raw: PinInput | null): Promise<AppPassword> {
    const user = await this.accounts.userForAdmin(actor, address);
    const before = (await this.repo.list(user.id)).find((p) => p.id === id);
    if (!before) throw new SesameError('app_password_not_found', 'no such app password of this user');
    const pin = await this.pinOf(user, raw);
    if (!(await this.repo.setPin(user.id, id, pin)))
      throw new SesameError('app_password_not_found', 'no such app password of this user');
    await this.record(user, actor, 'app_password.pin', `${id} "${before.name}" ${describePin(pin)}`);
    await this.revoked(user.address);
    return { ...before, pin };
  }

  async remove(user: User, id: string): Promise<void> {
    if (!(await this.repo.delete(user.id, id)))
      throw new SesameError('app_password_not_found', 'no such app password of this user');
    await this.record(user, { kind: 'user', user }, 'app_password.delete', id);
    await this.revoked(user.address);
  }

  async removeAll(user: User): Promise<number> {
    const n = await this.repo.deleteAll(user.id);
    await this.record(user, { kind: 'user', user }, 'app_password.delete_all', `${n} deleted`);
    if (n) await this.revoked(user.address);
    return n;
  }

  /** An admin's (or the operator's) view of a user's app passwords: never a secret. */
  async listFor(actor: Actor, address: string): Promise<{ user: User; appPasswords: AppPassword[] }> {
    const user = await this.accounts.userForAdmin(actor, address);
    return { user, appPasswords: await this.repo.list(user.id) };
  }

  /** "Delete all existing app passwords" for a user. */
  async revokeAllFor(actor: Actor, address: string): Promise<number> {
    const user = await this.accounts.userForAdmin(actor, address);
    const n = await this.repo.deleteAll(user.id);
    await this.record(user, actor, 'app_password.revoke_all', `${n} revoked`);
    if (n) await this.revoked(user.address);
    return n;
  }

  /** After a main-password change: revoke when the policy says so. */
  async afterPasswordChange(userId: string, actor: Actor): Promise<void> {
    const user = await this.accounts.findUserById(userId);
    if (!user) return;
    if (!(await this.policyFor(user.orgId)).appPasswords.revokeOnPasswordChange) return;
    const n = await this.repo.deleteAll(user.id);
    if (n) {
      await this.record(user, actor, 'app_password.revoke_all', `${n} revoked: main password changed`);
      await this.revoked(user.address);
    }
  }

  /**
   * Revokes, in every organization whose policy says "revoke after N days unused", the app
   * passwords not used (or, never used, not created) in that many days, and publishes each owner's
   * `app_passwords_revoked` like any other revocation (a mail server may still hold a good answer in its cache).
   * Run at start and hourly; verification also refuses such a password on the spot.
   */
  async sweepUnused(orgIds: string[]): Promise<number> {
    let total = 0;
    for (const orgId of orgIds) {
      const days = (await this.policyFor(orgId)).appPasswords.revokeUnusedDays;
      if (days === null) continue;
      const { deleted: n, owners } = await this.repo.deleteUnusedSince(orgId, this.clock.now() - days * 86_400_000);
      if (n)
        await this.audit.recordAudit(
          auditEvent({ kind: 'sesame' }, this.clock.now(), {
            orgId,
            action: 'app_password.revoke_unused',
            targetUserId: null,
            detail: `${n} unused for ${days} days`,
          }),
        );
      for (const address of owners) await this.revoked(address);
      total += n;
    }
    return total;
  }

  /**
   * Revokes one app password that verification found unused for longer than the organization
   * allows: what the sweep does, for one, between two sweeps (audit log, `app_passwords_revoked`).
   */
  async revokeUnused(owner: { userId: string; orgId: string; address: string }, id: string): Promise<void> {
    if (!(await this.repo.delete(owner.userId, id))) return;
    const days = (await this.policyFor(owner.orgId)).appPasswords.revokeUnusedDays;
    await this.audit.recordAudit(
      auditEvent({ kind: 'sesame' }, this.clock.now(), {
        orgId: owner.orgId,
        action: 'app_password.revoke_unused',
        targetUserId: owner.userId,
        detail: `${owner.address}: 1 unused for ${days} days (refused at sign-in)`,
      }),
    );
    await this.revoked(owner.address);
  }

  /**
   * Publishes `app_passwords_expired` for the owner of every app password whose expiry fell after `since` and at or
   * before `now`: verification refuses it from its expiry on, but a mail server may still hold a
   * good answer for it in its cache. Nothing is deleted (users still see their expired app
   * passwords). Run every minute, each run's `now` the next run's `since`, so that an expiry is told
   * once; returns how many owners were told.
   */
  async notifyExpired(since: number, now: number): Promise<number> {
    if (now <= since) return 0;
    const owners = await this.repo.ownersExpiredBetween(since, now);
    for (const address of owners) await this.events.publish({ type: 'app_passwords_expired', address });
    return owners.length;
  }

  /** App passwords exist only while MFA is on: turning it off for a user revokes theirs. */
  async afterMfaDisabled(user: User, actor: Actor): Promise<void> {
    const n = await this.repo.deleteAll(user.id);
    if (n) {
      await this.record(user, actor, 'app_password.revoke_all', `${n} revoked: MFA disabled`);
      await this.revoked(user.address);
    }
  }

  private async revoked(address: string) {
    await this.events.publish({ type: 'app_passwords_revoked', address });
  }

  private async record(user: User, actor: Actor, action: string, detail: string) {
    await this.audit.recordAudit(userAuditEvent(actor, this.clock.now(), user, action, `${user.address}: ${detail}`));
  }
}

/** What the audit log says of a pin. */
function describePin(pin: AppPasswordPin | null): string {
  if (!pin) return 'unpinned';
  return [...(pin.network ? [pin.network] : []), ...pin.locationIds.map((id) => `location:${id}`)].join(' ');
}

/** Whether `next` allows no place `before` did not: a subset of its locations and, if any, its network inside. */
function narrows(next: AppPasswordPin | null, before: AppPasswordPin | null): boolean {
  if (!before) return true;
  if (!next) return false;
  if (!next.locationIds.every((id) => before.locationIds.includes(id))) return false;
  return next.network === null || next.network === before.network;
}
