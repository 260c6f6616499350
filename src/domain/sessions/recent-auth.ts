/**
 * Recent authentication ("sudo mode"): every change to how one signs in (adding, removing or
 * making default a method, new recovery codes, an app password, a new password) needs a proof made
 * in this session within the window (`SESAME_RECENT_AUTH_MINUTES`, 10 by default), so that a
 * stolen session alone cannot change how the account is entered.
 *
 * - A user with at least one method proves a method: the second factor at sign-in or a step-up
 *   (`Session.mfaAt`). Re-entering the password is not enough for them.
 * - A user without a method re-enters the password ("Confirm your password", `Session.reauthAt`);
 *   a second factor proved in the window (before they removed their last method) counts too.
 *   Signing in does not count: a session's cookie is what gets stolen, so the proof must come after it.
 *
 * Both proofs give the session a new token (SessionService.reauthenticated*), so a stolen copy of
 * the old one is left behind rather than sharing the proof.
 */
import type { User } from '../accounts/model.js';
import type { Clock } from '../clock.js';
import { SesameError } from '../errors.js';
import type { Session } from './session.js';

/** What a user must prove: a method (they have one) or their password (they have none). */
export type RecentProof = 'second_factor' | 'password';

export interface RecentAuthDeps {
  /** How many methods the user has (MfaRepository.listMethods(...).length). */
  methodCount(userId: string): Promise<number>;
  clock: Clock;
  windowMs: number;
}

export class RecentAuth {
  constructor(private readonly d: RecentAuthDeps) {}

  get windowMs(): number {
    return this.d.windowMs;
  }

  /** Which proof this user gives. */
  async proofFor(user: User): Promise<RecentProof> {
    return (await this.d.methodCount(user.id)) > 0 ? 'second_factor' : 'password';
  }

  /** Until when the session's proof lasts (ms since the epoch), or null when it has none that counts for this user. */
  async until(user: User, session: Session): Promise<number | null> {
    const proof = await this.proofFor(user);
    return this.untilFor(proof, session);
  }

  /** Whether the session may change how the user signs in now. */
  async isRecent(user: User, session: Session): Promise<boolean> {
    const until = await this.until(user, session);
    return until !== null && this.d.clock.now() <= until;
  }

  /**
   * Throws unless the session authenticated recently: `fresh_mfa_required` (prove a method: a
   * step-up) or `password_reauth_required` (re-enter the password).
   */
  async require(user: User, session: Session): Promise<void> {
    const proof = await this.proofFor(user);
    const until = this.untilFor(proof, session);
    if (until !== null && this.d.clock.now() <= until) return;
    const minutes = Math.round(this.d.windowMs / 60_000);
    if (proof === 'second_factor')
      throw new SesameError(
        'fresh_mfa_required',
        `no second factor proved in this session in the last ${minutes} minutes`,
        {
          params: { minutes },
        },
      );
    throw new SesameError(
      'password_reauth_required',
      `password not re-entered in this session in the last ${minutes} minutes`,
      {
        params: { minutes },
      },
    );
  }

  private untilFor(proof: RecentProof, session: Session): number | null {
    const at = proof === 'second_factor' ? session.mfaAt : Math.max(session.mfaAt ?? -1, session.reauthAt ?? -1);
    return at === null || at < 0 ? null : at + this.d.windowMs;
  }
}
