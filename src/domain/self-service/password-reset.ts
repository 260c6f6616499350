/**
 * "Forgot your password?" and the admins' "Send reset link". A reset link goes to the user's verified
 * alternate email, the address their email method was registered with (domain/mfa: a code sent there
 * confirmed it), is valid 30 minutes, works once and is stored only as a keyed hash, in the same
 * one-time-token table as set-password links. Opening it starts a `password_reset` flow (see
 * flows/flow.ts) that still asks for a registered second factor, so that a mailbox alone cannot take
 * over the account; then the new password, and a session.
 *
 * A request answers the same, at the same speed, whether or not the address exists: after the
 * throttle (per address typed and per client IP, which every request counts against), the look-up and
 * the mail happen after the answer. Works while the account is locked out (and lifts the lock);
 * never removes a method.
 */
import type { KeyedHasher } from '../../lib/crypto/tokens.js';
import { findByKeyedHash, randomToken } from '../../lib/crypto/tokens.js';
import type { Actor } from '../accounts/actor.js';
import type { AccountService } from '../accounts/account-service.js';
import { normalizeAddress, type User } from '../accounts/model.js';
import { type AccountRepository, LINK_PURPOSES, type OneTimeTokenRepository } from '../accounts/repository.js';
import { type AuditRepository, userAuditEvent } from '../audit/events.js';
import type { Clock } from '../clock.js';
import { SesameError } from '../errors.js';
import type { Flow } from '../flows/flow.js';
import type { AttemptMeta, SignInFlows, Step } from '../flows/sign-in-flow.js';
import { maskEmail } from '../mfa/model.js';
import type { Locale } from '../locale.js';
import type { MfaRepository } from '../mfa/repository.js';
import type { Throttle, ThrottleKey } from '../throttling/throttle.js';
import type { SelfServiceMail } from './mail.js';

export const RESET_LINK_MS = 30 * 60_000;
const RESET_PURPOSE = LINK_PURPOSES.resetPassword;
/** Reset requests per address typed, and per client IP, within an hour before a lock (then the throttle's growing locks). */
export const RESET_LIMITS = { address: 5, ip: 20, windowSeconds: 3600 };

export interface PasswordResetDeps {
  accounts: AccountRepository;
  accountService: AccountService;
  tokens: OneTimeTokenRepository;
  mfa: MfaRepository;
  flows: SignInFlows;
  throttle: Throttle;
  keyedHasher: KeyedHasher;
  mail: SelfServiceMail;
  audit: AuditRepository;
  clock: Clock;
  /** Told of a failure no one waits for (a link sent after the answer); never given a token. */
  onError: (e: unknown) => void;
}

export class PasswordReset {
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly d: PasswordResetDeps) {}

  /**
   * "Forgot your password?": sends a link when `addressTyped` is an active user with a verified
   * alternate email. Throws only `throttled`, which depends on the address typed and the IP, never
   * on whether the account exists.
   */
  async request(addressTyped: string, meta: { ip: string; locale: Locale }): Promise<void> {
    const typed = addressTyped.trim().toLowerCase().slice(0, 254);
    const rule = (limit: number) => ({ limit, windowSeconds: RESET_LIMITS.windowSeconds });
    const keys: ThrottleKey[] = [
      { key: `reset:acct:${typed}`, rule: rule(RESET_LIMITS.address), clearOnSuccess: true },
      { key: `reset:ip:${meta.ip}`, rule: rule(RESET_LIMITS.ip), clearOnSuccess: false },
    ];
    const gate = await this.d.throttle.begin(keys);
    if (!gate.allowed)
      throw new SesameError(
        'throttled',
        `reset link for ${JSON.stringify(typed)} from ${meta.ip} refused while locked`,
        {
          retryAfterSeconds: gate.retryAfterSeconds,
          params: { minutes: Math.max(1, Math.ceil(gate.retryAfterSeconds / 60)) },
        },
      );
    // Every request counts, found or not: what is limited is asking (mail to a victim), not guessing.
    await this.d.throttle.failed(gate.ticket);
    const job: Promise<void> = this.sendIfKnown(typed, meta.locale)
      .catch((e: unknown) => this.d.onError(e))
      .finally(() => this.pending.delete(job));
    this.pending.add(job);
  }

  /** Waits for the links being sent after their answers (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  /**
   * "Send reset link" (admins, API, and the operator): the same link to the user's verified alternate
   * email, in `locale`. Returns that address masked; `no_recovery_address` when there is none (the
   * set-password link of `sesame user link` is then the way).
   */
  async sendByAdmin(actor: Actor, address: string, locale: Locale): Promise<{ user: User; sentTo: string }> {
    const user = await this.d.accountService.userForAdmin(actor, address);
    const to = await this.recoveryAddress(user.id);
    if (!to)
      throw new SesameError('no_recovery_address', `${user.address} has no verified alternate email`, {
        params: { address: user.address },
      });
    await this.issue(user, to, locale, actor, 'sent by an admin');
    return { user, sentTo: maskEmail(to) };
  }

  /** Whether links can be mailed at all (the admin's user page offers it only then). */
  canMail(): boolean {
    return this.d.mail.canSend();
  }

  /**
   * An admin's "Send set-password link": a new one-time set-password link (older ones stop working;
   * AccountService audits it), which the admin passes on; with `mail`, also sent to the account's
   * own address, in `locale`. A failed delivery does not lose the link: the admin still gets it,
   * with `mailed: 'failed'`.
   */
  async setPasswordLink(
    actor: Actor,
    address: string,
    o: { mail: boolean; locale: Locale },
  ): Promise<{ user: User; token: string; expiresAt: number; mailed: 'no' | 'sent' | 'failed' }> {
    const { user, token, expiresAt } = await this.d.accountService.issueSetPasswordToken(actor, address);
    if (!o.mail) return { user, token, expiresAt, mailed: 'no' };
    try {
      await this.d.mail.setPasswordLink(user.address, o.locale, token, expiresAt);
    } catch (e) {
      if (!(e instanceof SesameError) || e.code !== 'delivery_failed') throw e;
      await this.record(actor, user, 'user.set_password_link_not_mailed', `${user.address}: delivery failed`);
      return { user, token, expiresAt, mailed: 'failed' };
    }
    await this.record(actor, user, 'user.set_password_link_mailed', `${user.address}: sent to ${user.address}`);
    return { user, token, expiresAt, mailed: 'sent' };
  }

  /** The user a reset link is for, without using it up (to show its first page). */
  async peek(token: string): Promise<User> {
    return (await this.find(token)).user;
  }

  /**
   * Opens a reset link: uses it up (it works once, even under a race) and starts the flow that asks
   * for the second factor. Returns the flow's token (the browser keeps it in a cookie).
   */
  async open(token: string, meta: AttemptMeta): Promise<{ flowToken: string; flow: Flow; user: User }> {
    const { user, tokenHash } = await this.find(token);
    // The flow before the token is spent: if its first challenge cannot be sent (a text gateway
    // down), the link stays good for another try.
    const { flowToken, flow } = await this.d.flows.startPasswordReset(user, meta);
    if ((await this.d.tokens.consume(tokenHash, RESET_PURPOSE, this.d.clock.now())) !== user.id) {
      await this.d.flows.cancel(flow);
      throw new SesameError('token_invalid', 'reset link used concurrently');
    }
    return { flowToken, flow, user };
  }

  /**
   * The new password, once the flow's second factor is proved: stored (policy checked; every session
   * ends; the lock lifted; app passwords revoked when the organization says so), then a session.
   */
  async finish(flow: Flow, user: User, password: string, confirm: string): Promise<Step> {
    if (flow.kind !== 'password_reset' || flow.state !== 'new_password')
      throw new SesameError('flow_step', `flow ${flow.kind} is at ${flow.state}, not new_password`);
    if (password !== confirm) throw new SesameError('password_mismatch', 'the two new passwords differ');
    await this.d.accountService.recoverPassword(user, password, flow.id);
    const step = await this.d.flows.finishPasswordReset(flow, user);
    await this.d.mail.passwordChanged(user.address, flow.data.locale, flow.data.ip, this.d.clock.now());
    return step;
  }

  private async find(token: string): Promise<{ user: User; tokenHash: string }> {
    const hit =
      token.length > 0 && token.length <= 100
        ? await findByKeyedHash(this.d.keyedHasher, RESET_PURPOSE, token, (h) =>
            this.d.tokens.peek(h, RESET_PURPOSE, this.d.clock.now()),
          )
        : undefined;
    const user = hit ? await this.d.accounts.findUserById(hit.found) : undefined;
    if (!hit || !user || user.status !== 'active')
      throw new SesameError('token_invalid', 'reset link unknown, used, expired or its user disabled');
    return { user, tokenHash: hit.hash };
  }

  private async sendIfKnown(typed: string, locale: Locale): Promise<void> {
    let address: string;
    try {
      address = normalizeAddress(typed).address;
    } catch {
      return;
    }
    const user = await this.d.accounts.findUserByAddress(address);
    if (user?.status !== 'active') return;
    const to = await this.recoveryAddress(user.id);
    if (!to) {
      await this.record(
        { kind: 'user', user },
        user,
        'user.password_reset_unavailable',
        `${user.address}: asked for a reset link but has no verified alternate email`,
      );
      return;
    }
    await this.issue(user, to, locale, { kind: 'user', user }, 'asked for on the sign-in page');
  }

  private async issue(user: User, to: string, locale: Locale, actor: Actor, how: string): Promise<void> {
    const token = randomToken(32);
    const expiresAt = this.d.clock.now() + RESET_LINK_MS;
    // The newest reset link is the only one that works (set-password links an admin gave are left alone).
    await this.d.tokens.revokeForUser(user.id, this.d.clock.now(), RESET_PURPOSE);
    await this.d.tokens.create({
      tokenHash: this.d.keyedHasher.digest(RESET_PURPOSE, token),
      purpose: RESET_PURPOSE,
      userId: user.id,
      expiresAt,
    });
    await this.d.mail.resetLink(to, locale, token, expiresAt);
    await this.record(actor, user, 'user.password_reset_link', `${user.address}: sent to ${maskEmail(to)} (${how})`);
  }

  /** The verified alternate email: the default method's address if that is an email method, else the first one registered. */
  private async recoveryAddress(userId: string): Promise<string | undefined> {
    const [methods, { defaultMethodId }] = await Promise.all([
      this.d.mfa.listMethods(userId),
      this.d.mfa.getState(userId),
    ]);
    const emails = methods.filter((m) => m.kind === 'email' && m.target);
    return (emails.find((m) => m.id === defaultMethodId) ?? emails[0])?.target ?? undefined;
  }

  private async record(actor: Actor, user: User, action: string, detail: string) {
    await this.d.audit.recordAudit(userAuditEvent(actor, this.d.clock.now(), user, action, detail));
  }
}
