/**
 * What signed-in users do for themselves: change their password (with the current one), see and end
 * their sessions, read their own sign-ins, and say "This wasn't me" about one made with an app
 * password (which revokes it and tells the organization's admins). Pages and the JSON API call the
 * same methods. Every change goes to the audit log.
 */
import type { AccountService } from '../accounts/account-service.js';
import type { User } from '../accounts/model.js';
import type { AccountRepository } from '../accounts/repository.js';
import type { AppPasswords } from '../app-passwords/service.js';
import { type AuditRepository, type SignInEvent, userAuditEvent } from '../audit/events.js';
import type { Clock } from '../clock.js';
import type { DomainEvents } from '../events.js';
import { isSesameError, SesameError } from '../errors.js';
import type { Locale } from '../locale.js';
import type { RecentAuth } from '../sessions/recent-auth.js';
import type { Session, SessionService } from '../sessions/session.js';
import type { PasswordAuthenticator } from '../sign-in/password-authenticator.js';
import type { Throttle } from '../throttling/throttle.js';
import type { SelfServiceMail } from './mail.js';

export interface SelfServiceDeps {
  accountService: AccountService;
  accounts: AccountRepository;
  signIn: PasswordAuthenticator;
  sessions: SessionService;
  recentAuth: RecentAuth;
  appPasswords: AppPasswords;
  audit: AuditRepository;
  mail: SelfServiceMail;
  throttle: Throttle;
  clock: Clock;
  /** Told `sessions_ended` (what follows: app/consequences.ts). */
  events: DomainEvents;
}

/** Reports ("This wasn't me") per user a day: each emails every admin, so a session must not be able to flood them. */
export const REPORTS_PER_DAY = 10;

/** Where the request comes from: `protocol` is `web` or `api`. */
export interface RequestMeta {
  ip: string;
  userAgent: string;
  protocol: string;
  locale: Locale;
}

/** What changing the password will do, said on the page before the user confirms. */
export interface PasswordChangeEffects {
  /** Always: whoever else holds a session (a stolen cookie) is out. */
  endsOtherSessions: true;
  /** The organization's policy ("A main-password change revokes them"). */
  revokesAppPasswords: boolean;
  /** How many app passwords the user has now. */
  appPasswords: number;
}

export class SelfService {
  constructor(private readonly d: SelfServiceDeps) {}

  async passwordChangeEffects(user: User): Promise<PasswordChangeEffects> {
    const [policy, list] = await Promise.all([
      this.d.appPasswords.policyFor(user.orgId),
      this.d.appPasswords.list(user),
    ]);
    return {
      endsOtherSessions: true,
      revokesAppPasswords: policy.appPasswords.revokeOnPasswordChange,
      appPasswords: list.length,
    };
  }

  /**
   * Changes the user's main password. The current one is checked as a sign-in is (throttled per
   * account and IP, same cost, in the sign-in log); the new one against the password policy. Ends
   * every other session; app passwords go when the policy says so. Returns what was ended.
   *
   * Recent authentication: for a user without a method, typing the current password here is the
   * re-authentication (nothing more is asked); a user with a method must also have proved it in
   * this session within the window (`fresh_mfa_required`), checked before the password.
   */
  async changePassword(
    user: User,
    session: Session,
    input: { current: string; password: string; confirm: string },
    meta: RequestMeta,
  ): Promise<{ endedSessions: number; revokedAppPasswords: number }> {
    if ((await this.d.recentAuth.proofFor(user)) === 'second_factor') await this.d.recentAuth.require(user, session);
    if (input.password !== input.confirm) throw new SesameError('password_mismatch', 'the two new passwords differ');
    await this.checkCurrentPassword(user, input.current, meta, 'password-change');
    const before = (await this.d.appPasswords.list(user)).length;
    const endedSessions = await this.d.accountService.changeOwnPassword(user, input.password, session.id);
    const revokedAppPasswords = before - (await this.d.appPasswords.list(user)).length;
    await this.d.mail.passwordChanged(user.address, meta.locale, meta.ip, this.d.clock.now());
    return { endedSessions, revokedAppPasswords };
  }

  /**
   * "Confirm your password": recent authentication for a user without a method. The password is
   * checked as a sign-in is (the same throttle: a wrong one counts toward the lockout; in the
   * sign-in log as `<protocol>:reauth`); the session gets a new token and the time of the proof.
   * A user with a method is refused (`fresh_mfa_required`): they prove the method instead.
   * Returns the new session token and until when the proof lasts.
   */
  async confirmPassword(
    user: User,
    session: Session,
    password: string,
    meta: RequestMeta,
  ): Promise<{ token: string; until: number }> {
    if ((await this.d.recentAuth.proofFor(user)) === 'second_factor')
      throw new SesameError('fresh_mfa_required', `${user.address} has a method: a step-up, not the password`);
    await this.checkCurrentPassword(user, password, meta, 'reauth');
    const now = this.d.clock.now();
    const token = await this.d.sessions.reauthenticatedWithPassword(session.id, now);
    await this.record(user, 'session.reauth', `${user.address}: password re-entered (recent authentication)`);
    return { token, until: now + this.d.recentAuth.windowMs };
  }

  /** The current password, checked as a sign-in is; `current_password_wrong` or `throttled`. */
  private async checkCurrentPassword(user: User, password: string, meta: RequestMeta, what: string): Promise<void> {
    try {
      const who = await this.d.signIn.authenticate(user.address, password, {
        ip: meta.ip,
        userAgent: meta.userAgent,
        protocol: `${meta.protocol}:${what}`,
      });
      if (who.id !== user.id)
        throw new SesameError('current_password_wrong', 'the address now belongs to another account');
    } catch (e) {
      if (isSesameError(e) && e.code === 'sign_in_failed') throw new SesameError('current_password_wrong', e.detail);
      throw e;
    }
  }

  /** The user's live sessions, browser and API, most recently used first. */
  async sessions(user: User): Promise<Session[]> {
    return this.d.sessions.listLive(user.id);
  }

  /** Ends one of the user's sessions (their current one too: that is signing out). */
  async endSession(user: User, sessionId: string): Promise<void> {
    if (!(await this.d.sessions.endOwn(user.id, sessionId)))
      throw new SesameError('session_not_found', 'no such session of this user');
    await this.record(user, 'session.end', `${user.address}: one session ended by its owner`);
  }

  /** "Sign out everywhere else": ends every session of the user but `current`. */
  async endOtherSessions(user: User, current: Session): Promise<number> {
    const n = await this.d.sessions.endOthers(user.id, current.id);
    await this.record(user, 'session.end_others', `${user.address}: ${n} other session(s) ended by their owner`);
    await this.d.events.publish({ type: 'sessions_ended', userId: user.id, address: user.address, by: 'owner' });
    return n;
  }

  /** The user's own sign-ins (every path, legacy protocols included), newest first. */
  async signIns(
    user: User,
    page: { limit: number; offset: number },
  ): Promise<{ events: SignInEvent[]; total: number }> {
    return this.d.audit.listSignIns({
      orgId: user.orgId,
      userId: user.id,
      limit: Math.min(Math.max(page.limit, 1), 200),
      offset: Math.max(page.offset, 0),
    });
  }

  /**
   * "This wasn't me" on one of the user's sign-ins made with an app password: that app password is
   * revoked (mail servers' caches told) and every active admin of the organization is emailed; the
   * report is in the audit log. A row without an app password is `sign_in_not_found`.
   */
  async reportSignIn(user: User, eventId: string, locale: Locale): Promise<{ revoked: boolean; adminsTold: number }> {
    const gate = await this.d.throttle.begin([
      { key: `report:user:${user.id}`, rule: { limit: REPORTS_PER_DAY, windowSeconds: 86_400 }, clearOnSuccess: false },
    ]);
    if (!gate.allowed)
      throw new SesameError('throttled', `${user.address} reported too many sign-ins`, {
        retryAfterSeconds: gate.retryAfterSeconds,
        params: { minutes: Math.max(1, Math.ceil(gate.retryAfterSeconds / 60)) },
      });
    const { events } = await this.d.audit.listSignIns({
      orgId: user.orgId,
      userId: user.id,
      id: eventId.slice(0, 64),
      limit: 1,
      offset: 0,
    });
    const e = events[0];
    if (!e?.appPasswordId)
      throw new SesameError('sign_in_not_found', 'no sign-in of this user with an app password has that id');
    let revoked = true;
    await this.d.appPasswords.remove(user, e.appPasswordId).catch((x: unknown) => {
      if (!isSesameError(x) || x.code !== 'app_password_not_found') throw x;
      revoked = false;
    });
    const at = new Date(e.at).toISOString();
    await this.record(
      user,
      'sign_in.reported',
      `${user.address}: ${e.protocol} sign-in from ${e.ip} at ${at} reported as not theirs; app password "${e.appPasswordName ?? e.appPasswordId}" ${revoked ? 'revoked' : 'already gone'}`,
    );
    const admins = await this.d.accounts.listActiveAdmins(user.orgId);
    const report = {
      address: user.address,
      appPasswordName: e.appPasswordName ?? null,
      protocol: e.protocol,
      ip: e.ip,
      at: e.at,
      revoked,
    };
    for (const admin of admins) await this.d.mail.signInReported(admin.address, locale, report);
    return { revoked, adminsTold: admins.length };
  }

  private async record(user: User, action: string, detail: string) {
    await this.d.audit.recordAudit(userAuditEvent({ kind: 'user', user }, this.d.clock.now(), user, action, detail));
  }
}
