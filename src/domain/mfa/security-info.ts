/**
 * "Security info": a signed-in user's own methods. Every change needs a second factor proved in
 * this session within the last 10 minutes (a step-up flow renews it), so a stolen session alone
 * cannot swap the victim's phone number.
 */
import type { User } from '../accounts/model.js';
import { type AuditRepository, userAuditEvent } from '../audit/events.js';
import type { Clock } from '../clock.js';
import type { DomainEvents } from '../events.js';
import { SesameError } from '../errors.js';
import type { SignInFlows } from '../flows/sign-in-flow.js';
import type { Locale } from '../locale.js';
import type { Session, SessionService } from '../sessions/session.js';
import type { MfaMethod } from './model.js';
import type { Notifier } from './notifier.js';
import type { MfaRepository } from './repository.js';

export const FRESH_MFA_MS = 10 * 60_000;

export class SecurityInfo {
  constructor(
    private readonly mfa: MfaRepository,
    private readonly flows: SignInFlows,
    private readonly sessions: SessionService,
    private readonly notifier: Notifier,
    private readonly audit: AuditRepository,
    private readonly clock: Clock,
    /** Told `method_removed` (what follows: app/consequences.ts). */
    private readonly events: DomainEvents,
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

  /** Whether the session may change methods now; with no method at all, a first one may be added freely. */
  async isFresh(user: User, session: Session): Promise<boolean> {
    if ((await this.mfa.listMethods(user.id)).length === 0) return true;
    return this.sessions.hasFreshMfa(session, FRESH_MFA_MS);
  }

  async requireFresh(user: User, session: Session): Promise<void> {
    if (!(await this.isFresh(user, session)))
      throw new SesameError('fresh_mfa_required', 'second factor older than 10 minutes');
  }

  async removeMethod(user: User, session: Session, methodId: string, locale: Locale): Promise<void> {
    await this.requireFresh(user, session);
    const method = await this.mfa.getMethod(user.id, methodId);
    if (!method || !(await this.mfa.deleteMethod(user.id, methodId)))
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

  /** New recovery codes (the old ones stop working); returned once. */
  async renewRecoveryCodes(user: User, session: Session, locale: Locale): Promise<string[]> {
    await this.requireFresh(user, session);
    const codes = await this.flows.newRecoveryCodes(user);
    await this.notifier.methodsChanged(user.address, locale, 'recovery_renewed', this.clock.now());
    return codes;
  }

  private async record(user: User, action: string, detail: string) {
    await this.audit.recordAudit(userAuditEvent({ kind: 'user', user }, this.clock.now(), user, action, detail));
  }
}
