/**
 * "Security info": a signed-in user's own methods. Every change needs recent authentication in this
 * session (sessions/recent-auth.ts: a second factor proved by a step-up, or for a user without a
 * method the password re-entered), so a stolen session alone cannot swap the victim's phone number
 * or add a method of its own.
 */
import type { User } from '../accounts/model.js';
import { type AuditRepository, userAuditEvent } from '../audit/events.js';
import type { Clock } from '../clock.js';
import type { DomainEvents } from '../events.js';
import type { OnceKeys } from '../once-keys.js';
import { SesameError } from '../errors.js';
import type { SignInFlows } from '../flows/sign-in-flow.js';
import type { Locale } from '../locale.js';
import type { RecentAuth, RecentProof } from '../sessions/recent-auth.js';
import type { Session } from '../sessions/session.js';
import type { MfaMethod, MfaState } from './model.js';
import type { Notifier } from './notifier.js';
import type { MfaRepository } from './repository.js';

/** Whether sign-ins of this user need a second factor: MFA on (`enabled` or `enforced`), or an admin (always). */
export function secondFactorRequired(user: Pick<User, 'role'>, state: MfaState): boolean {
  return user.role === 'admin' || state !== 'disabled';
}

export class SecurityInfo {
  constructor(
    private readonly mfa: MfaRepository,
    private readonly flows: SignInFlows,
    private readonly recentAuth: RecentAuth,
    private readonly notifier: Notifier,
    private readonly audit: AuditRepository,
    private readonly clock: Clock,
    /** Told `method_removed` (what follows: app/consequences.ts). */
    private readonly events: DomainEvents,
    private readonly onceKeys: OnceKeys,
  ) {}

  async overview(
    user: User,
  ): Promise<{ methods: MfaMethod[]; defaultMethodId: string | null; recoveryCodesLeft: number }> {
    const [methods, state, left] = await Promise.all([
      this.mfa.listMethods(user.id),
      this.mfa.getState(user.id),
      this.mfa.countUnusedRecoveryCodes(user.id),
    ]);
    return { methods, defaultMethodId: state.defaultMethodId, recoveryCodesLeft: left };
  }

  /** Whether the session may change methods now (recent authentication). */
  async isFresh(user: User, session: Session): Promise<boolean> {
    return this.recentAuth.isRecent(user, session);
  }

  /** Throws `fresh_mfa_required` or `password_reauth_required` unless the session authenticated recently. */
  async requireFresh(user: User, session: Session): Promise<void> {
    await this.recentAuth.require(user, session);
  }

  /** How this user confirms it is them: a step-up with a method, or the password when they have none. */
  async proofFor(user: User): Promise<RecentProof> {
    return this.recentAuth.proofFor(user);
  }

  /**
   * What deleting `methodId` would do, for the confirmation page: the method, whether it is the
   * user's last one and their default. Refuses as removeMethod would, before anything is shown:
   * the session's second factor must be fresh, and the last method cannot go while the user must
   * prove a second factor (MFA `enabled` or `enforced`, or an admin): with no method left the next
   * sign-in would register a new one on the password alone ("You can't delete your only method",
   * as Entra says). An admin's "Require re-registration" is the way back for a user who lost it.
   */
  async removalOf(
    user: User,
    session: Session,
    methodId: string,
  ): Promise<{ method: MfaMethod; last: boolean; isDefault: boolean }> {
    await this.requireFresh(user, session);
    const [methods, state] = await Promise.all([this.mfa.listMethods(user.id), this.mfa.getState(user.id)]);
    const method = methods.find((m) => m.id === methodId);
    if (!method) throw new SesameError('method_not_found', 'no such method of this user');
    const last = methods.length === 1;
    if (last && secondFactorRequired(user, state.state))
      throw new SesameError('last_method_required', `${user.address} must keep a method (MFA ${state.state})`);
    return { method, last, isDefault: state.defaultMethodId === methodId };
  }

  async removeMethod(user: User, session: Session, methodId: string, locale: Locale): Promise<void> {
    const { method } = await this.removalOf(user, session, methodId);
    if (!(await this.mfa.deleteMethod(user.id, methodId)))
      throw new SesameError('method_not_found', 'no such method of this user');
    const { defaultMethodId } = await this.mfa.getState(user.id);
    const left = await this.mfa.listMethods(user.id);
    if (defaultMethodId === methodId) await this.mfa.setDefaultMethod(user.id, left[0]?.id ?? null);
    await this.record(user, 'mfa.method_removed', `${method.kind} ${method.label}`);
    await this.events.publish({ type: 'method_removed', userId: user.id, address: user.address, last: !left.length });
    await this.notifier.methodsChanged(user.address, locale, 'removed', this.clock.now());
  }

  async setDefault(user: User, session: Session, methodId: string): Promise<void> {
    await this.requireFresh(user, session);
    if (!(await this.mfa.getMethod(user.id, methodId)))
      throw new SesameError('method_not_found', 'no such method of this user');
    await this.mfa.setDefaultMethod(user.id, methodId);
    await this.record(user, 'mfa.default_method', methodId);
  }

  /**
   * New recovery codes (the old ones stop working); returned once. With `onceKey` (the form's
   * nonce), a repeat of the same form makes none and returns undefined: one set, one mail.
   */
  async renewRecoveryCodes(
    user: User,
    session: Session,
    locale: Locale,
    onceKey: string,
  ): Promise<string[] | undefined>;
  async renewRecoveryCodes(user: User, session: Session, locale: Locale): Promise<string[]>;
  async renewRecoveryCodes(
    user: User,
    session: Session,
    locale: Locale,
    onceKey?: string,
  ): Promise<string[] | undefined> {
    await this.requireFresh(user, session);
    if (onceKey !== undefined && !(await this.onceKeys.claim(user.id, 'recovery-codes', onceKey))) return undefined;
    const codes = await this.flows.newRecoveryCodes(user);
    await this.notifier.methodsChanged(user.address, locale, 'recovery_renewed', this.clock.now());
    return codes;
  }

  private async record(user: User, action: string, detail: string) {
    await this.audit.recordAudit(userAuditEvent({ kind: 'user', user }, this.clock.now(), user, action, detail));
  }
}
