/**
 * What MFA tells people, as a port: the domain decides *that* a code or notice goes out; delivery
 * words it in the user's language and hands it to a channel (see adapters/notifications.ts).
 */
import type { Locale } from '../locale.js';

export type CodeChannel = 'sms' | 'voice' | 'email';

export interface Notifier {
  /** Sends a one-time code; throws SesameError('delivery_failed') when the channel refuses. */
  sendCode(channel: CodeChannel, to: string, code: string, locale: Locale): Promise<void>;
  /** Tells the user that their password was right but the second factor failed (checklist 15). Best effort. */
  secondFactorFailed(to: string, locale: Locale, ip: string, at: number): Promise<void>;
  /** Tells the user a method was added or removed. Best effort. */
  methodsChanged(
    to: string,
    locale: Locale,
    change: 'added' | 'removed' | 'recovery_used' | 'recovery_renewed',
    at: number,
  ): Promise<void>;
  /**
   * Tells the user an admin (or the operator) turned their MFA off, naming the app passwords that
   * went with it (none: an empty list). Best effort.
   */
  mfaTurnedOff(to: string, locale: Locale, appPasswords: string[], at: number): Promise<void>;
  /** Tells the user an app password was made (name, time, IP). Best effort. */
  appPasswordCreated(to: string, locale: Locale, name: string, ip: string, at: number): Promise<void>;
  /**
   * Tells the user an app password was used from a client IP it had not been used from, with the
   * address's country when known, in stronger words when the account was never used from that
   * country (domain/legacy/country-watch.ts). Best effort.
   */
  appPasswordNewIp(
    to: string,
    locale: Locale,
    name: string,
    ip: string,
    protocol: string,
    at: number,
    country?: { code: string; isNew: boolean },
  ): Promise<void>;
  /** Tells an admin that a user's app password was used from a country the account never was (when the policy asks). Best effort. */
  appPasswordNewCountryToAdmin(
    to: string,
    locale: Locale,
    n: {
      user: { address: string; name: string };
      appPasswordName: string;
      ip: string;
      country: string;
      protocol: string;
      at: number;
    },
  ): Promise<void>;
  /** Whether a code channel can deliver at all. */
  supports(channel: CodeChannel): boolean;
}
