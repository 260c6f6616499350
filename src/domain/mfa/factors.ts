/**
 * One interface per factor (start enrolment, confirm it, start a challenge, verify it), so the
 * sign-in flow treats an authenticator app, a phone, an email address and a security key alike.
 */
import { randomUUID } from 'node:crypto';
import type { Aead } from '../../lib/crypto/aead.js';
import type { KeyedHasher } from '../../lib/crypto/tokens.js';
import { constantTimeEqual } from '../../lib/crypto/tokens.js';
import { SEALED_AAD } from '../keys/sealed.js';
import type { User } from '../accounts/model.js';
import { normalizeAddress } from '../accounts/model.js';
import { SesameError } from '../errors.js';
import type { Flow, SentCode } from '../flows/flow.js';
import { numericCode } from './codes.js';
import { parsePhoneInput } from './phone-policy.js';
import type { MfaMethod, MethodKind } from './model.js';
import { maskEmail, maskPhone } from './model.js';
import type { CodeSendGuard } from './code-budget.js';
import type { CodeChannel, Notifier } from './notifier.js';
import type { MfaRepository, NewMethod } from './repository.js';
import { matchTotp, newTotpSecret, totpUri } from './totp.js';

export interface FactorContext {
  flow: Flow;
  user: User;
  now: number;
}

export type Prompt =
  | { kind: 'totp'; secret?: string; uri?: string }
  | { kind: 'code'; channel: CodeChannel; maskedTarget: string }
  | { kind: 'webauthn'; options: unknown };

export interface Factor {
  readonly kind: MethodKind;
  /**
   * Begins registering: records what is pending in the flow and sends a code if there is one.
   * `defaultCountry` is the organization's, for a phone number typed in national form.
   */
  startEnrolment(ctx: FactorContext, input: { target?: string; defaultCountry?: string | null }): Promise<void>;
  /** What to show for the pending enrolment (a reload shows it again without sending again). */
  enrolmentPrompt(ctx: FactorContext): Promise<Prompt>;
  /** Checks the response; returns the method to store, or throws `code_invalid` / `webauthn_failed`. */
  confirmEnrolment(ctx: FactorContext, response: FactorResponse): Promise<NewMethod & { id: string }>;
  startChallenge(ctx: FactorContext, method: MfaMethod): Promise<void>;
  challengePrompt(ctx: FactorContext, method: MfaMethod): Promise<Prompt>;
  /** True when the response proves the method; consumes whatever makes it single-use. */
  verifyChallenge(ctx: FactorContext, method: MfaMethod, response: FactorResponse): Promise<boolean>;
}

export interface FactorResponse {
  code?: string;
  /** WebAuthn response JSON from the browser. */
  credential?: unknown;
}

export const CODE_TTL_MS = 10 * 60_000;
export const RESEND_AFTER_MS = 30_000;
export const MAX_SENDS = 5;

const SEED_AAD = SEALED_AAD.totpSeed;

export class TotpFactor implements Factor {
  readonly kind = 'totp' as const;
  constructor(
    private readonly repo: MfaRepository,
    private readonly aead: Aead,
    /**
     * The name the authenticator app files the account under: the user's organization (what
     * Microsoft, Google and GitHub show), not the product's name that every account would share.
     */
    private readonly issuerOf: (orgId: string) => Promise<string>,
  ) {}

  async startEnrolment(ctx: FactorContext) {
    const methodId = randomUUID();
    // Re-enrolment replaces: a new seed every time; nothing is stored on the method until confirmed.
    ctx.flow.data.pending = { kind: 'totp', methodId, secretEnc: this.aead.seal(newTotpSecret(), SEED_AAD(methodId)) };
  }

  async enrolmentPrompt(ctx: FactorContext): Promise<Prompt> {
    const p = ctx.flow.data.pending!;
    const secret = this.aead.open(p.secretEnc!, SEED_AAD(p.methodId));
    return { kind: 'totp', secret, uri: totpUri(secret, await this.issuerOf(ctx.user.orgId), ctx.user.address) };
  }

  async confirmEnrolment(ctx: FactorContext, response: FactorResponse) {
    const p = ctx.flow.data.pending!;
    const secret = this.aead.open(p.secretEnc!, SEED_AAD(p.methodId));
    const step = matchTotp(secret, (response.code ?? '').replace(/\s/g, ''), ctx.now);
    if (step === undefined) throw new SesameError('code_invalid', 'wrong TOTP code at enrolment');
    // Sealed again rather than copied: the pending seed may be under a previous key (a flow begun
    // before a rotation), and a stored seed must be under the current one for `keys reencrypt` to hold.
    return {
      id: p.methodId,
      userId: ctx.user.id,
      kind: 'totp' as const,
      label: 'Authenticator app',
      target: null,
      secretEnc: this.aead.reseal(p.secretEnc!, SEED_AAD(p.methodId)),
      lastStep: step,
    };
  }

  async startChallenge() {}

  async challengePrompt(): Promise<Prompt> {
    return { kind: 'totp' };
  }

  async verifyChallenge(ctx: FactorContext, method: MfaMethod, response: FactorResponse) {
    const stored = await this.repo.getTotpSecret(ctx.user.id, method.id);
    if (!stored) return false;
    const step = matchTotp(
      this.aead.open(stored.secretEnc, SEED_AAD(method.id)),
      (response.code ?? '').replace(/\s/g, ''),
      ctx.now,
    );
    if (step === undefined) return false;
    // Atomic: a step at or before the last accepted one is refused, in this browser or any other.
    return this.repo.acceptTotpStep(method.id, step, ctx.now);
  }
}

/** Text message, voice call or email: a 6-digit code, valid 10 minutes, single use, bound to this flow. */
export class CodeFactor implements Factor {
  constructor(
    readonly kind: CodeChannel,
    private readonly notifier: Notifier,
    private readonly hasher: KeyedHasher,
    /** Which destinations may get codes, and the budgets every code is counted against (issue #15). */
    private readonly guard?: CodeSendGuard,
  ) {}

  private hash(flow: Flow, code: string) {
    // Bound to the flow: a code sent to user A's sign-in is worthless in user B's.
    return this.hasher.digest(`mfa-code:${flow.id}`, code);
  }

  private normalizeTarget(raw: string | undefined, user: User, defaultCountry: string | null): string {
    if (this.kind === 'email') {
      const address = normalizeAddress(raw ?? '').address;
      // A second factor in the same mailbox as the account proves nothing more, and is lost with it.
      if (address === user.address.toLowerCase())
        throw new SesameError('alt_email_is_work_address', 'the alternate email is the account itself');
      return address;
    }
    return parsePhoneInput(raw ?? '', defaultCountry);
  }

  private mask(target: string) {
    return this.kind === 'email' ? maskEmail(target) : maskPhone(target);
  }

  /**
   * Sends a fresh code, replacing any earlier one; limits how often, per flow (30 s apart, at most
   * MAX_SENDS), whichever method or target the codes went to. The failure count lives in the
   * throttle, so a resend never resets it.
   */
  private async send(ctx: FactorContext, target: string, previous: SentCode | undefined): Promise<SentCode> {
    const sent =
      ctx.flow.data.codesSent ?? (previous ? { count: previous.sends, lastAt: previous.lastSentAt } : undefined);
    if (sent) {
      if (ctx.now - sent.lastAt < RESEND_AFTER_MS)
        throw new SesameError('resend_too_soon', 'code resent within 30 s', {
          params: { seconds: Math.ceil((RESEND_AFTER_MS - (ctx.now - sent.lastAt)) / 1000) },
        });
      if (sent.count >= MAX_SENDS)
        throw new SesameError('resend_too_soon', `already ${sent.count} codes sent in this flow`, {
          params: { seconds: 600 },
        });
    }
    // Again at send time: a number registered before the rule, or in a country removed since, gets nothing.
    await this.guard?.checkDestination(this.kind, target, ctx.user.orgId);
    // Counted before sending, so parallel requests cannot overshoot; refused: nothing is sent.
    await this.guard?.spend({
      channel: this.kind,
      userId: ctx.user.id,
      orgId: ctx.user.orgId,
      destination: target,
      masked: this.mask(target),
    });
    const code = numericCode(6);
    await this.notifier.sendCode(this.kind, target, code, ctx.flow.data.locale);
    ctx.flow.data.codesSent = { count: (sent?.count ?? 0) + 1, lastAt: ctx.now };
    return {
      hash: this.hash(ctx.flow, code),
      expiresAt: ctx.now + CODE_TTL_MS,
      sends: (previous?.sends ?? 0) + 1,
      lastSentAt: ctx.now,
    };
  }

  private check(ctx: FactorContext, sent: SentCode | undefined, typed: string | undefined): boolean {
    if (!sent || ctx.now > sent.expiresAt) return false;
    const t = (typed ?? '').replace(/\s/g, '');
    if (!/^\d{6}$/.test(t)) return false;
    // A code sent before a rotation of the hash key was hashed under the previous key.
    return this.hasher.digests(`mfa-code:${ctx.flow.id}`, t).some((h) => constantTimeEqual(h, sent.hash));
  }

  async startEnrolment(ctx: FactorContext, input: { target?: string; defaultCountry?: string | null }) {
    const target = this.normalizeTarget(input.target, ctx.user, input.defaultCountry ?? null);
    await this.guard?.checkDestination(this.kind, target, ctx.user.orgId);
    const previous =
      ctx.flow.data.pending?.kind === this.kind && ctx.flow.data.pending.target === target
        ? ctx.flow.data.pending.code
        : undefined;
    const code = await this.send(ctx, target, previous);
    ctx.flow.data.pending = { kind: this.kind, methodId: randomUUID(), target, code };
  }

  async enrolmentPrompt(ctx: FactorContext): Promise<Prompt> {
    return { kind: 'code', channel: this.kind, maskedTarget: this.mask(ctx.flow.data.pending!.target!) };
  }

  async confirmEnrolment(ctx: FactorContext, response: FactorResponse) {
    const p = ctx.flow.data.pending!;
    if (!this.check(ctx, p.code, response.code))
      throw new SesameError('code_invalid', `wrong or expired ${this.kind} code at enrolment`);
    p.code = undefined; // single use
    return { id: p.methodId, userId: ctx.user.id, kind: this.kind, label: this.mask(p.target!), target: p.target! };
  }

  async startChallenge(ctx: FactorContext, method: MfaMethod) {
    const c = ctx.flow.data.challenge!;
    c.code = await this.send(ctx, method.target!, c.code);
  }

  async challengePrompt(_ctx: FactorContext, method: MfaMethod): Promise<Prompt> {
    return { kind: 'code', channel: this.kind, maskedTarget: method.label };
  }

  async verifyChallenge(ctx: FactorContext, _method: MfaMethod, response: FactorResponse) {
    const c = ctx.flow.data.challenge!;
    if (!this.check(ctx, c.code, response.code)) return false;
    c.code = undefined;
    return true;
  }
}
