/**
 * The password step of every sign-in path (web form, JSON API). It applies, in this order:
 * throttling per account and per client IP (before any hash, so a locked account costs nothing
 * and parallel guesses are all counted), the password check (an unknown account still costs one
 * Argon2 verification, so timing does not tell whether it exists), the account's status, and the
 * sign-in log. Every failure surfaces as the same `sign_in_failed`; only the log says why (the
 * sentence differs only by the shape of what was typed: an app password's, see below).
 */
import { eventId } from '../audit/event-id.js';
import type { PasswordHasher } from '../../lib/crypto/password-hasher.js';
import type { AccountRepository } from '../accounts/repository.js';
import { normalizeAddress, type User } from '../accounts/model.js';
import { looksLikeAppPassword, normalizeAppPassword } from '../app-passwords/format.js';
import { sanitizeForLog, type AuditRepository, type SignInReason } from '../audit/events.js';
import type { Clock } from '../clock.js';
import { SesameError } from '../errors.js';
import {
  type Familiarity,
  type FamiliarLocations,
  ipRateKey,
  lockAccount,
  mainPasswordKey,
  WEB_IP_WINDOW_S,
  webIpKey,
} from '../throttling/locations.js';
import type { Throttle, ThrottleKey } from '../throttling/throttle.js';

export interface AttemptContext {
  ip: string;
  userAgent: string;
  /** `web` or `api`. */
  protocol: string;
}

export interface PasswordAuthenticatorSettings {
  accountFailureLimit: number;
  ipFailureLimit: number;
  /** Password checks (each an Argon2 hash, right or wrong) one client IP may ask for per minute. */
  ipChecksPerMinute: number;
}

const DAY = 24 * 3600;

export class PasswordAuthenticator {
  constructor(
    private readonly accounts: AccountRepository,
    private readonly audit: AuditRepository,
    private readonly hasher: PasswordHasher,
    private readonly throttle: Throttle,
    private readonly clock: Clock,
    private readonly settings: PasswordAuthenticatorSettings,
    private readonly locations: FamiliarLocations,
    /** Whose app password (canonical form) this is; lets the log name an app password typed where the main password belongs. */
    private readonly appPasswordOwner?: (canonical: string) => Promise<string | undefined>,
  ) {}

  /** Returns the user when address and password are right; else throws `sign_in_failed` or `throttled`. */
  async authenticate(addressTyped: string, password: string, ctx: AttemptContext): Promise<User> {
    const typed = sanitizeForLog(addressTyped.trim(), 254);
    // Throttle on the lower-cased address as typed, whether or not it exists or is well-formed,
    // so that locks behave identically for real and made-up accounts.
    const account = lockAccount(typed);
    const familiarity = await this.locations.of(account, ctx.ip);
    const keys: ThrottleKey[] = [
      this.accountKey(account, familiarity),
      {
        key: webIpKey(ctx.ip),
        rule: { limit: this.settings.ipFailureLimit, windowSeconds: WEB_IP_WINDOW_S },
        clearOnSuccess: false,
      },
      {
        key: ipRateKey(ctx.ip),
        rule: { limit: this.settings.ipChecksPerMinute, windowSeconds: 60 },
        clearOnSuccess: false,
        rate: true,
      },
    ];
    const gate = await this.throttle.begin(keys);
    if (!gate.allowed) {
      // The log says which lock refused: the account's (from this kind of place), the IP's, or the IP's rate.
      const reason: SignInReason =
        gate.blockedBy === keys[0]
          ? familiarity === 'familiar'
            ? 'account_locked_familiar'
            : 'account_locked'
          : gate.blockedBy === keys[1]
            ? 'ip_locked'
            : 'ip_rate_limited';
      await this.log(typed, null, 'throttled', reason, ctx);
      throw new SesameError('throttled', `sign-in for ${JSON.stringify(typed)} from ${ctx.ip} refused: ${reason}`, {
        retryAfterSeconds: gate.retryAfterSeconds,
        params: { minutes: Math.max(1, Math.ceil(gate.retryAfterSeconds / 60)) },
      });
    }
    let user: User | undefined;
    let reason: SignInReason;
    let address: string | undefined;
    try {
      address = normalizeAddress(typed).address;
    } catch {
      address = undefined;
    }
    let creds: Awaited<ReturnType<AccountRepository['findCredentialsByAddress']>>;
    try {
      creds = address && password.length <= 1024 ? await this.accounts.findCredentialsByAddress(address) : undefined;
      if (!creds?.passwordHash) {
        await this.hasher.burn(password.slice(0, 1024));
        reason = !address || password.length > 1024 ? 'invalid_input' : !creds ? 'unknown_user' : 'no_password_set';
      } else if (!(await this.hasher.verify(creds.passwordHash, password))) {
        // An app password is never a way into the browser or the API: same answer, but the log says what it was.
        const canonical = normalizeAppPassword(password);
        reason =
          canonical && this.appPasswordOwner && (await this.appPasswordOwner(canonical)) === creds.id
            ? 'app_password_refused'
            : 'wrong_password';
      } else if (creds.status !== 'active') {
        reason = 'user_disabled';
      } else {
        reason = 'ok';
        const { passwordHash: _drop, ...rest } = creds;
        user = rest;
      }
    } catch (e) {
      // Never checked (the hash queue refused it, `busy`, or the store failed): not a failure of the owner's.
      await this.throttle.cancel(gate.ticket);
      if (e instanceof SesameError && e.code === 'busy') await this.log(typed, null, 'throttled', 'server_busy', ctx);
      throw e;
    }
    if (!user) {
      await this.throttle.failed(gate.ticket);
      await this.log(typed, creds ?? null, 'failure', reason, ctx);
      // Someone who typed something shaped like an app password is told what app passwords are
      // for. Said on the shape alone, for any address, known or not, and whether or not it is one
      // (the log's app_password_refused is for the admin): the answer tells nothing of the account.
      throw new SesameError('sign_in_failed', `sign-in for ${JSON.stringify(typed)} from ${ctx.ip}: ${reason}`, {
        variant: looksLikeAppPassword(password) ? 'app_password' : undefined,
      });
    }
    await this.throttle.succeeded(gate.ticket);
    // The main password was right from here: the network is familiar to the account from now on.
    if (familiarity === 'unfamiliar') await this.locations.remember(account, ctx.ip);
    await this.log(typed, user, 'success', 'ok', ctx);
    return user;
  }

  /** The per-account counter for one kind of location: the address as typed (lockAccount()), whether or not it exists. */
  private accountKey(account: string, familiarity: Familiarity): ThrottleKey {
    return {
      key: mainPasswordKey(account, familiarity),
      rule: { limit: this.settings.accountFailureLimit, windowSeconds: DAY },
      clearOnSuccess: true,
    };
  }

  /**
   * Lifts the main-password locks of an account (from familiar and unfamiliar places) and clears
   * their failures, after the account was recovered another way (a one-time set-password link) or
   * an admin lifted them: a lock is temporary protection, never a way for an attacker to keep the
   * owner out (checklist 7).
   */
  async unlockAccount(address: string): Promise<void> {
    const account = lockAccount(address);
    await this.throttle.reset(this.accountKey(account, 'familiar'));
    await this.throttle.reset(this.accountKey(account, 'unfamiliar'));
  }

  private async log(
    typed: string,
    user: Pick<User, 'id' | 'orgId'> | null,
    outcome: 'success' | 'failure' | 'throttled',
    reason: SignInReason,
    ctx: AttemptContext,
  ) {
    // Attempts on unknown addresses still belong in the log of the organization whose domain was
    // typed. Every attempt that is not a success makes the same one read, known address or not,
    // so the time of the answer does not tell them apart (the mail endpoints do the same).
    let orgId = user?.orgId ?? null;
    if (outcome !== 'success') {
      const owner = await this.accounts.findSignInOwner(typed.toLowerCase());
      orgId ??= owner.orgId;
    }
    const at = this.clock.now();
    await this.audit.recordSignIn({
      id: eventId(at),
      at,
      orgId,
      userId: user?.id ?? null,
      addressTyped: typed,
      outcome,
      reason,
      protocol: ctx.protocol,
      ip: sanitizeForLog(ctx.ip, 64),
      userAgent: sanitizeForLog(ctx.userAgent, 500),
    });
  }
}
