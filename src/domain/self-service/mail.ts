/**
 * What self-service tells people, as a port: the domain decides that a reset link or a notice goes
 * out; delivery words it in the reader's language, builds the link from the public URL and sends it
 * (delivery/self-service-mail.ts).
 */
import type { Locale } from '../locale.js';

export interface ReportedSignIn {
  /** The user who said "This wasn't me". */
  address: string;
  appPasswordName: string | null;
  protocol: string;
  ip: string;
  at: number;
  /** Whether the app password was revoked now (false: it was already gone). */
  revoked: boolean;
}

export interface SelfServiceMail {
  /** Whether email can be delivered at all (an SMTP server, or the development outbox). */
  canSend(): boolean;
  /**
   * Sends an admin's one-time set-password link for `token` to the account's own address; throws
   * SesameError('delivery_failed') when it cannot.
   */
  setPasswordLink(to: string, locale: Locale, token: string, expiresAt: number): Promise<void>;
  /** Sends the password-reset link for `token` to `to`; throws SesameError('delivery_failed') when it cannot. */
  resetLink(to: string, locale: Locale, token: string, expiresAt: number): Promise<void>;
  /** Tells the user their main password was changed or reset. Best effort. */
  passwordChanged(to: string, locale: Locale, ip: string, at: number): Promise<void>;
  /** Tells an admin that a user reported a sign-in as not theirs. Best effort. */
  signInReported(to: string, locale: Locale, report: ReportedSignIn): Promise<void>;
}
