/**
 * What admins decide about MFA: each user's state, "Require re-registration", ending a user's
 * sessions, and the organization's policy. Every change goes to the audit log.
 */
import { type Actor, requireAdminOf } from '../accounts/actor.js';
import type { AccountService } from '../accounts/account-service.js';
import type { User } from '../accounts/model.js';
import { type AuditRepository, auditEvent, userAuditEvent } from '../audit/events.js';
import type { Clock } from '../clock.js';
import { SesameError } from '../errors.js';
import type { DomainEvents } from '../events.js';
import type { Locale } from '../locale.js';
import type { Session, SessionService } from '../sessions/session.js';
import { type AppPasswordPolicy, CAP_MAX, DAYS_MAX, isProtocol } from '../app-passwords/model.js';
import {
  isMethodKind,
  isMfaState,
  type MfaMethod,
  type MfaState,
  type OrgPolicy,
  policyOf,
  REMEMBER_DAYS_MAX,
} from './model.js';
import { parseTimeZone } from '../time-zone.js';
import { parseCountryList } from './phone-policy.js';
import type { MfaRepository } from './repository.js';

export interface PolicyChange {
  mfaDefault?: string;
  legacyMainPassword?: string;
  allowedMethods?: string[];
  /** Countries whose phone numbers may get codes: ISO codes (a list, or one string separated by commas or spaces); empty or null: the deployment's default. */
  phoneCountries?: string | string[] | null;
  rememberDays?: number;
  /** IANA time zone for the organization's pages; empty or null: UTC. */
  timeZone?: string | null;
  /** Country of phone numbers typed without a country code (ISO code); empty or null: none. */
  defaultCountry?: string | null;
  appPasswords?: {
    allowed?: boolean;
    keepExistingWhenOff?: boolean;
    cap?: number;
    protocols?: string[];
    maxLifetimeDays?: number | null;
    revokeUnusedDays?: number | null;
    revokeOnPasswordChange?: boolean;
    notifyAdminsNewCountry?: boolean;
  };
}

const days = (v: number | null) => v === null || (Number.isInteger(v) && v >= 1 && v <= DAYS_MAX);

const suspended = (p: AppPasswordPolicy) => !p.allowed && !p.keepExistingWhenOff;
/** A limit in days (null: none) that went from `prev` to something stricter. */
const shortened = (prev: number | null, next: number | null) => next !== null && (prev === null || next < prev);

/**
 * Whether `next` lets legacy sign-ins (mail servers, proxies) do less than `prev`, so that an answer
 * a mail server cached under `prev` may be wrong under `next`: existing app passwords suspended,
 * main passwords refused always, a protocol taken off the list, a maximum lifetime or an
 * unused-revocation period introduced or shortened. Protocols and the maximum lifetime bind the app
 * passwords created afterwards (each keeps what it was created with), so narrowing them changes no
 * answer today; they count all the same, so that an admin who narrows them never has to wonder
 * whether a cache still holds the old answer. Widening, and settings legacy sign-ins never consult
 * (MFA default, methods, remembered devices, the cap, revoke-on-password-change), are not narrowing.
 */
export function narrowsLegacySignIns(prev: OrgPolicy, next: OrgPolicy): boolean {
  const a = prev.appPasswords;
  const b = next.appPasswords;
  return (
    (prev.legacyMainPassword !== 'never' && next.legacyMainPassword === 'never') ||
    (!suspended(a) && suspended(b)) ||
    a.protocols.some((p) => !b.protocols.includes(p)) ||
    shortened(a.maxLifetimeDays, b.maxLifetimeDays) ||
    shortened(a.revokeUnusedDays, b.revokeUnusedDays)
  );
}

/** The MFA state a new user of the organization starts in (its policy's default). */
export async function mfaDefaultOf(mfa: Pick<MfaRepository, 'getPolicy'>, orgId: string): Promise<MfaState> {
  return (await policyOf(mfa, orgId)).mfaDefault;
}

export class MfaAdmin {
  constructor(
    private readonly accounts: AccountService,
    private readonly mfa: MfaRepository,
    private readonly sessions: SessionService,
    private readonly audit: AuditRepository,
    private readonly clock: Clock,
    /** Told what changed (`mfa_disabled`, `mfa_state_changed`, `registration_required`, `sessions_ended`, `policy_narrowed`); what follows: app/consequences.ts. */
    private readonly events: DomainEvents,
  ) {}

  /**
   * Sets a user's MFA state. Moving to `disabled` keeps their methods (an admin may turn it back
   * on); their app passwords go and they are told by email, in `locale` (the admin's language).
   */
  async setUserState(actor: Actor, address: string, state: string, locale: Locale = 'en'): Promise<User> {
    if (!isMfaState(state)) throw new SesameError('invalid_input', `not an MFA state: ${state}`);
    const user = await this.accounts.userForAdmin(actor, address);
    await this.mfa.setState(user.id, state);
    await this.record(actor, user, 'mfa.state', `${user.mfaState} -> ${state}`);
    if (state === 'disabled' && user.mfaState !== 'disabled')
      await this.events.publish({ type: 'mfa_disabled', user, actor, locale });
    await this.events.publish({ type: 'mfa_state_changed', userId: user.id, address: user.address, state });
    return { ...user, mfaState: state };
  }

  /** What "Require re-registration" would clear, for the confirmation page: the user's methods and unused recovery codes. */
  async reRegistrationOf(
    actor: Actor,
    address: string,
  ): Promise<{ user: User; methods: MfaMethod[]; recoveryCodesLeft: number }> {
    const user = await this.accounts.userForAdmin(actor, address);
    const [methods, recoveryCodesLeft] = await Promise.all([
      this.mfa.listMethods(user.id),
      this.mfa.countUnusedRecoveryCodes(user.id),
    ]);
    return { user, methods, recoveryCodesLeft };
  }

  /** Clears every method, recovery code and remembered device; state back to `enabled`; sessions end. */
  async requireReRegistration(actor: Actor, address: string): Promise<User> {
    const user = await this.accounts.userForAdmin(actor, address);
    const removed = await this.mfa.deleteAllMethods(user.id);
    await this.mfa.setDefaultMethod(user.id, null);
    await this.mfa.deleteRecoveryCodes(user.id);
    await this.mfa.setState(user.id, 'enabled');
    const ended = await this.sessions.endAllForUser(user.id);
    await this.record(
      actor,
      user,
      'mfa.require_reregistration',
      `${removed} method(s) removed, ${ended} session(s) ended`,
    );
    await this.events.publish({ type: 'registration_required', userId: user.id, address: user.address });
    return { ...user, mfaState: 'enabled' };
  }

  /** The user's live browser and API sessions, most recently used first, for their admin's user page. */
  async sessionsOf(actor: Actor, address: string): Promise<Session[]> {
    const user = await this.accounts.userForAdmin(actor, address);
    return this.sessions.listLive(user.id);
  }

  /** The admin's "End sessions": every browser and API session of the user ends (and what follows, app/consequences.ts). */
  async endSessions(actor: Actor, address: string): Promise<number> {
    const user = await this.accounts.userForAdmin(actor, address);
    const ended = await this.sessions.endAllForUser(user.id);
    await this.record(actor, user, 'user.sessions_ended', `${ended} session(s)`);
    await this.events.publish({ type: 'sessions_ended', userId: user.id, address: user.address, by: 'admin' });
    return ended;
  }

  async getPolicy(actor: Actor, orgId: string): Promise<OrgPolicy> {
    requireAdminOf(actor, orgId);
    return policyOf(this.mfa, orgId);
  }

  /**
   * How the organization's pages write times and read phone numbers: no admin right needed, every
   * member's pages use them, and they hold nothing secret.
   */
  async regionalSettings(orgId: string): Promise<Pick<OrgPolicy, 'timeZone' | 'defaultCountry'>> {
    const p = await policyOf(this.mfa, orgId);
    return { timeZone: p.timeZone, defaultCountry: p.defaultCountry };
  }

  /** Changes the organization's policy; bad values are all refused and nothing changes. A narrowing change publishes `policy_narrowed`. */
  async setPolicy(actor: Actor, orgId: string, change: PolicyChange): Promise<OrgPolicy> {
    const current = await this.getPolicy(actor, orgId);
    const next: OrgPolicy = { ...current };
    if (change.mfaDefault !== undefined) {
      if (!isMfaState(change.mfaDefault)) throw new SesameError('invalid_policy', `mfaDefault ${change.mfaDefault}`);
      next.mfaDefault = change.mfaDefault;
    }
    if (change.allowedMethods !== undefined) {
      const kinds = [...new Set(change.allowedMethods)];
      if (kinds.length === 0 || !kinds.every(isMethodKind))
        throw new SesameError('invalid_policy', `allowedMethods ${kinds.join(',')}`);
      next.allowedMethods = kinds;
    }
    if (change.rememberDays !== undefined) {
      if (!Number.isInteger(change.rememberDays) || change.rememberDays < 0 || change.rememberDays > REMEMBER_DAYS_MAX)
        throw new SesameError('invalid_policy', `rememberDays ${change.rememberDays}`);
      next.rememberDays = change.rememberDays;
    }
    if (change.legacyMainPassword !== undefined) {
      if (change.legacyMainPassword !== 'until_enforced' && change.legacyMainPassword !== 'never')
        throw new SesameError('invalid_policy', `legacyMainPassword ${change.legacyMainPassword}`);
      next.legacyMainPassword = change.legacyMainPassword;
    }
    if (change.phoneCountries !== undefined) {
      const list = change.phoneCountries === null ? [] : parseCountryList(change.phoneCountries);
      next.phoneCountries = list.length ? list : null;
    }
    if (change.timeZone !== undefined)
      next.timeZone = change.timeZone === null || change.timeZone.trim() === '' ? null : parseTimeZone(change.timeZone);
    if (change.defaultCountry !== undefined) {
      const list = change.defaultCountry === null ? [] : parseCountryList(change.defaultCountry);
      if (list.length > 1)
        throw new SesameError('invalid_policy', `defaultCountry: one country, not ${list.join(',')}`);
      next.defaultCountry = list[0] ?? null;
    }
    if (change.appPasswords) {
      const a = change.appPasswords;
      const ap = { ...current.appPasswords };
      if (a.allowed !== undefined) ap.allowed = a.allowed;
      if (a.keepExistingWhenOff !== undefined) ap.keepExistingWhenOff = a.keepExistingWhenOff;
      if (a.revokeOnPasswordChange !== undefined) ap.revokeOnPasswordChange = a.revokeOnPasswordChange;
      if (a.notifyAdminsNewCountry !== undefined) ap.notifyAdminsNewCountry = a.notifyAdminsNewCountry;
      if (a.cap !== undefined) {
        if (!Number.isInteger(a.cap) || a.cap < 1 || a.cap > CAP_MAX)
          throw new SesameError('invalid_policy', `app password cap ${a.cap}`);
        ap.cap = a.cap;
      }
      if (a.protocols !== undefined) {
        const ps = [...new Set(a.protocols)];
        if (ps.length === 0 || !ps.every(isProtocol))
          throw new SesameError('invalid_policy', `protocols ${ps.join(',')}`);
        ap.protocols = ps;
      }
      if (a.maxLifetimeDays !== undefined) {
        if (!days(a.maxLifetimeDays)) throw new SesameError('invalid_policy', `maxLifetimeDays ${a.maxLifetimeDays}`);
        ap.maxLifetimeDays = a.maxLifetimeDays;
      }
      if (a.revokeUnusedDays !== undefined) {
        if (!days(a.revokeUnusedDays))
          throw new SesameError('invalid_policy', `revokeUnusedDays ${a.revokeUnusedDays}`);
        ap.revokeUnusedDays = a.revokeUnusedDays;
      }
      next.appPasswords = ap;
    }
    await this.mfa.savePolicy(next, this.clock.now());
    await this.audit.recordAudit(
      auditEvent(actor, this.clock.now(), {
        orgId,
        action: 'org.policy',
        targetUserId: null,
        detail: JSON.stringify({
          mfaDefault: next.mfaDefault,
          allowedMethods: next.allowedMethods,
          rememberDays: next.rememberDays,
          appPasswords: next.appPasswords,
          legacyMainPassword: next.legacyMainPassword,
          phoneCountries: next.phoneCountries,
          timeZone: next.timeZone,
          defaultCountry: next.defaultCountry,
        }),
      }),
    );
    if (narrowsLegacySignIns(current, next))
      await this.events.publish({ type: 'policy_narrowed', org: await this.accounts.getOrganization(orgId) });
    return next;
  }

  /** The state a new user of the organization starts in. */
  async defaultStateFor(orgId: string): Promise<MfaState> {
    return mfaDefaultOf(this.mfa, orgId);
  }

  private async record(actor: Actor, user: User, action: string, detail: string) {
    await this.audit.recordAudit(userAuditEvent(actor, this.clock.now(), user, action, `${user.address}: ${detail}`));
  }
}
