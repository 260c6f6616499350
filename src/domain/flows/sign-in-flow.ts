/**
 * The sign-in flow after a correct password: decides whether a second factor or a registration is
 * needed, walks the registration ("More information required" -> "Set it up now" -> method ->
 * verification -> Next -> recovery codes) and the second step ("Sign in another way" included),
 * and only at the end starts a session. See flow.ts for the state diagram.
 */
import { eventId } from '../audit/event-id.js';
import { randomUUID } from 'node:crypto';
import type { Aead } from '../../lib/crypto/aead.js';
import type { KeyedHasher } from '../../lib/crypto/tokens.js';
import { findByKeyedHash, randomToken, someKeyedHash } from '../../lib/crypto/tokens.js';
import { SEALED_AAD } from '../keys/sealed.js';
import type { User } from '../accounts/model.js';
import type { AccountRepository } from '../accounts/repository.js';
import { sanitizeForLog, type AuditRepository, type SignInReason, userAuditEvent } from '../audit/events.js';
import type { Clock } from '../clock.js';
import type { DomainEvents } from '../events.js';
import type { Locale } from '../locale.js';
import { SesameError } from '../errors.js';
import type { Factor, FactorResponse, Prompt } from '../mfa/factors.js';
import { normalizeRecoveryCode, recoveryCode } from '../mfa/codes.js';
import { AMR, policyOf, type MethodKind, type MfaMethod, type OrgPolicy } from '../mfa/model.js';
import type { Notifier } from '../mfa/notifier.js';
import { phoneExample } from '../mfa/phone-policy.js';
import type { MfaRepository } from '../mfa/repository.js';
import type { RecentAuth } from '../sessions/recent-auth.js';
import type { Session, SessionService } from '../sessions/session.js';
import { secondFactorKey } from '../throttling/locations.js';
import type { Throttle, ThrottleKey } from '../throttling/throttle.js';
import type { Flow, FlowKind, FlowRepository, FlowState } from './flow.js';
import type { AppPasswords } from '../app-passwords/service.js';

export const FLOW_TTL_MS = 15 * 60_000;
export const RECOVERY_CODE_COUNT = 10;
const FLOW_TOKEN = 'flow';
const TRUST_TOKEN = 'trusted-device';

export interface FlowDeps {
  flows: FlowRepository;
  mfa: MfaRepository;
  accounts: AccountRepository;
  audit: AuditRepository;
  sessions: SessionService;
  /** Adding a method from a session needs recent authentication (sessions/recent-auth.ts). */
  recentAuth: RecentAuth;
  throttle: Throttle;
  factors: Factor[];
  notifier: Notifier;
  aead: Aead;
  keyedHasher: KeyedHasher;
  clock: Clock;
  mfaFailureLimit: number;
  /** Makes the app password of the registration's last step (when the policy allows them). */
  appPasswords?: AppPasswords;
  /** Told when a method was removed or the MFA state moved (what follows: app/consequences.ts). */
  events: DomainEvents;
}

export interface AttemptMeta {
  ip: string;
  userAgent: string;
  protocol: string;
  locale: Locale;
}

/** The outcome of a step: either a session was started, or the flow goes on. */
export type Step =
  | { done: true; token: string; session: Session; next: string; trustToken?: string; trustSeconds?: number }
  | { done: false; flowToken?: string; flow: Flow; sessionToken?: string };

export interface FlowView {
  flow: Flow;
  user: User;
  policy: OrgPolicy;
  /** Method kinds the user may choose now ("How should we contact you?"), those whose channel works. */
  choices: MethodKind[];
  methods: MfaMethod[];
  /** The method being asked for (second_factor), or undefined for a recovery code. */
  current?: MfaMethod;
  prompt?: Prompt;
  recoveryCodes?: string[];
  appPassword?: { id: string; name: string; password: string };
  /** At contact_details for a phone: an example number as the organization's people write theirs (phone-policy.ts). */
  phoneExample?: string;
}

/** Methods that need a phone number or address before they can be set up. */
const NEEDS_CONTACT: ReadonlySet<MethodKind> = new Set(['sms', 'voice', 'email']);

export class SignInFlows {
  private readonly byKind: Map<MethodKind, Factor>;

  constructor(private readonly d: FlowDeps) {
    this.byKind = new Map(d.factors.map((f) => [f.kind, f]));
  }

  /**
   * After a correct password: a session straight away (MFA disabled, or this device remembered),
   * or a flow that asks for more. `trustToken` is the remember-this-device cookie, if any.
   */
  async afterPassword(user: User, meta: AttemptMeta, next: string, trustToken?: string): Promise<Step> {
    const { state } = await this.d.mfa.getState(user.id);
    const methods = await this.d.mfa.listMethods(user.id);
    // Admins need MFA (checklist 36): whatever their own MFA state, an admin proves a second factor
    // at every sign-in (registering one first if they have none), and no remembered device stands
    // in for it. Their stored state is left alone: it also decides what legacy protocols accept.
    const admin = user.role === 'admin';
    if (state === 'disabled' && !admin) return this.startSession(user, ['pwd'], meta, next, false);
    const policy = await policyOf(this.d.mfa, user.orgId);
    if (!admin && methods.length > 0 && state === 'enforced' && trustToken && policy.rememberDays > 0) {
      // A device remembered before a rotation of the hash key stays remembered through the previous key.
      if (
        await someKeyedHash(this.d.keyedHasher, TRUST_TOKEN, trustToken, (h) =>
          this.d.mfa.isTrustedDevice(h, user.id, this.d.clock.now()),
        )
      ) {
        return this.startSession(user, ['pwd', 'remembered'], meta, next, false);
      }
    }
    // A user with methods proves one, even when the policy now allows none of theirs (then a
    // recovery code): registering anew with the password alone is for users who never had one.
    const initial: FlowState = methods.length > 0 ? 'second_factor' : 'more_info_required';
    const { flow, token } = await this.create('sign_in', initial, user, ['pwd'], meta, next);
    if (initial === 'second_factor')
      await this.beginChallenge(flow, user, await this.methodsFor(flow, user), undefined);
    return { done: false, flowToken: token, flow };
  }

  /**
   * Starts adding a method for a signed-in user (Security info, or an app that wants a second factor
   * of a user who has none; `next`: where to go once added). The session must have authenticated
   * recently (`fresh_mfa_required` / `password_reauth_required`): a stolen session alone adds nothing.
   */
  async startAddMethod(
    user: User,
    session: Session,
    meta: AttemptMeta,
    next = '/security-info',
  ): Promise<{ flowToken: string; flow: Flow }> {
    await this.d.recentAuth.require(user, session);
    const { flow, token } = await this.create('add_method', 'choose_method', user, [], meta, next);
    return { flowToken: token, flow };
  }

  /** Starts a fresh second-factor proof for a signed-in user (step-up before a sensitive change). */
  async startStepUp(user: User, meta: AttemptMeta, next: string): Promise<{ flowToken: string; flow: Flow }> {
    const { flow, token } = await this.create('step_up', 'second_factor', user, [], meta, next);
    await this.beginChallenge(flow, user, await this.methodsFor(flow, user), undefined);
    return { flowToken: token, flow };
  }

  /**
   * Starts the second step of a password reset, once its link was opened. The link came through the
   * user's alternate mailbox, so an email code (to that same mailbox) is not a second factor here:
   * another registered method is asked for, or else a recovery code.
   */
  async startPasswordReset(user: User, meta: AttemptMeta): Promise<{ flowToken: string; flow: Flow }> {
    const { flow, token } = await this.create('password_reset', 'second_factor', user, [], meta, '/account');
    await this.beginChallenge(flow, user, await this.methodsFor(flow, user), undefined);
    return { flowToken: token, flow };
  }

  /**
   * The end of a password reset: the new password is stored (by the caller, just before); the flow
   * ends and a session starts with what was proved (the new password and the second factor).
   */
  async finishPasswordReset(flow: Flow, user: User): Promise<Step> {
    this.expect(flow, ['new_password']);
    flow.state = 'done';
    if (!(await this.d.flows.save(flow))) throw new SesameError('flow_step', 'flow changed meanwhile');
    await this.d.flows.delete(flow.id);
    return this.startSession(user, [...new Set(['pwd', ...flow.data.amr])], flow.data, flow.data.next, true);
  }

  /**
   * Ends every pending flow of the user (sign-in, registration, adding a method, a step-up, a
   * reset), but `exceptId`'s: a consequence of a new password, so whoever started a flow with the
   * old one (or its reset link) cannot finish it.
   */
  async endPendingFlows(userId: string, exceptId?: string): Promise<void> {
    await this.d.flows.deleteForUser(userId, exceptId);
  }

  /** Forgets every device the user chose to be remembered on ("Don't ask again on this device"). */
  async forgetDevices(userId: string): Promise<void> {
    await this.d.mfa.deleteTrustedDevices(userId);
  }

  /** The live flow behind a token, or `flow_expired`. */
  async load(token: string | undefined, kinds: FlowKind[] = ['sign_in']): Promise<{ flow: Flow; user: User }> {
    const flow =
      token && token.length <= 100
        ? (await findByKeyedHash(this.d.keyedHasher, FLOW_TOKEN, token, (h) => this.d.flows.findByTokenHash(h)))?.found
        : undefined;
    const user = flow ? await this.d.accounts.findUserById(flow.userId) : undefined;
    if (
      !flow ||
      !user ||
      !kinds.includes(flow.kind) ||
      flow.state === 'done' ||
      this.d.clock.now() > flow.expiresAt ||
      user.status !== 'active'
    ) {
      if (flow) await this.d.flows.delete(flow.id);
      // `next` (a path on this site, the browser's own) lets the page start a new sign-in towards
      // where this one was going, rather than end in a dead end (#17, task D).
      throw new SesameError('flow_expired', 'flow unknown, finished, expired or its user disabled', {
        params: flow ? { next: flow.data.next } : {},
      });
    }
    return { flow, user };
  }

  /** Everything a page needs to render the flow's current state. */
  async view(flow: Flow, user: User): Promise<FlowView> {
    const policy = await policyOf(this.d.mfa, user.orgId);
    const methods = await this.methodsFor(flow, user);
    const v: FlowView = { flow, user, policy, methods, choices: this.choices(policy) };
    const ctx = { flow, user, now: this.d.clock.now() };
    if (flow.state === 'contact_details' && (flow.data.chosen === 'sms' || flow.data.chosen === 'voice'))
      v.phoneExample = phoneExample(policy.defaultCountry, policy.phoneCountries?.[0]);
    if (flow.state === 'verify_enrolment' && flow.data.pending)
      v.prompt = await this.factor(flow.data.pending.kind).enrolmentPrompt(ctx);
    if (flow.state === 'second_factor' && flow.data.challenge) {
      v.current = methods.find((m) => m.id === flow.data.challenge!.methodId);
      if (v.current) v.prompt = await this.factor(v.current.kind).challengePrompt(ctx, v.current);
    }
    if (flow.state === 'app_password' && flow.data.appPasswordEnc)
      v.appPassword = {
        id: flow.data.appPasswordId ?? '',
        name: flow.data.appPasswordName ?? '',
        password: this.d.aead.open(flow.data.appPasswordEnc, SEALED_AAD.flowAppPassword(flow.id)),
      };
    if (flow.state === 'recovery_codes' && flow.data.recoveryCodesEnc)
      v.recoveryCodes = JSON.parse(
        this.d.aead.open(flow.data.recoveryCodesEnc, SEALED_AAD.flowRecoveryCodes(flow.id)),
      ) as string[];
    return v;
  }

  /** "Set it up now". */
  async setUpNow(flow: Flow): Promise<void> {
    this.expect(flow, ['more_info_required']);
    flow.state = 'choose_method';
    await this.save(flow);
  }

  /**
   * "How should we contact you?", the first half: the method alone. An authenticator app or a
   * security key is set up at once; a text, call or email asks for its number or address next
   * (contact_details), on a page of its own.
   */
  async pickMethod(flow: Flow, user: User, kind: string): Promise<void> {
    this.expect(flow, ['choose_method', 'contact_details', 'verify_enrolment']);
    const policy = await policyOf(this.d.mfa, user.orgId);
    const chosen = this.allowedKind(policy, kind);
    if (!NEEDS_CONTACT.has(chosen)) return this.chooseMethod(flow, user, chosen);
    flow.data.pending = undefined;
    flow.data.chosen = chosen;
    flow.state = 'contact_details';
    await this.save(flow);
  }

  /**
   * The chosen method, with a phone number (national form read in the organization's default
   * country) or address where it needs one. A refused number or address leaves the flow at
   * contact_details for that method, whichever state it came from, so the page asks again for it.
   */
  async chooseMethod(flow: Flow, user: User, kind: string, target?: string): Promise<void> {
    // Choosing again from the verification step ("use another method") is allowed.
    this.expect(flow, ['choose_method', 'contact_details', 'verify_enrolment']);
    const policy = await policyOf(this.d.mfa, user.orgId);
    const chosen = this.allowedKind(policy, kind);
    try {
      await this.factor(chosen).startEnrolment(
        { flow, user, now: this.d.clock.now() },
        { target, defaultCountry: policy.defaultCountry },
      );
    } catch (e) {
      if (
        e instanceof SesameError &&
        NEEDS_CONTACT.has(chosen) &&
        (flow.state !== 'contact_details' || flow.data.chosen !== chosen)
      ) {
        flow.data.pending = undefined;
        flow.data.chosen = chosen;
        flow.state = 'contact_details';
        await this.save(flow);
      }
      throw e;
    }
    flow.data.chosen = chosen;
    flow.state = 'verify_enrolment';
    await this.save(flow);
  }

  /** "Use another method": back from a number, an address or a verification to the list of methods. */
  async chooseAnother(flow: Flow): Promise<void> {
    this.expect(flow, ['verify_enrolment', 'contact_details', 'choose_method']);
    flow.data.pending = undefined;
    flow.state = 'choose_method';
    await this.save(flow);
  }

  /** Abandons a flow ("Use a different account"). */
  async cancel(flow: Flow): Promise<void> {
    await this.d.flows.delete(flow.id);
  }

  /** Sends the pending enrolment's code again (text, voice, email). */
  async resendEnrolmentCode(flow: Flow, user: User): Promise<void> {
    this.expect(flow, ['verify_enrolment']);
    const p = flow.data.pending!;
    if (p.kind === 'totp' || p.kind === 'webauthn') throw new SesameError('flow_step', 'nothing to resend');
    await this.factor(p.kind).startEnrolment({ flow, user, now: this.d.clock.now() }, { target: p.target });
    await this.save(flow);
  }

  /** Checks the verification of the method being registered; on success the method exists. */
  async confirmEnrolment(flow: Flow, user: User, response: FactorResponse): Promise<MfaMethod> {
    this.expect(flow, ['verify_enrolment']);
    const p = flow.data.pending!;
    const factor = this.factor(p.kind);
    const method = await this.guarded(flow, user, 'enrolment', () =>
      factor.confirmEnrolment({ flow, user, now: this.d.clock.now() }, response),
    );
    const now = this.d.clock.now();
    const { id, ...rest } = method;
    // Store the method before the flow moves on: if the store refuses it (a security key already
    // registered to someone), the flow stays where it was and the user can try again.
    const saved = await this.d.mfa.addMethod(id, rest, now).catch((e: unknown) => {
      throw new SesameError(
        p.kind === 'webauthn' ? 'webauthn_failed' : 'flow_step',
        `method not stored: ${e instanceof Error ? e.message : String(e)}`,
      );
    });
    flow.data.pending = undefined;
    flow.data.amr = [...new Set([...flow.data.amr, AMR[p.kind]])];
    flow.state = 'enrolled';
    await this.save(flow);
    // Re-enrolling the authenticator app replaces it: the old seed (a lost or reset phone) stops working (checklist 14).
    const replaced: string[] = [];
    if (p.kind === 'totp') {
      for (const old of await this.d.mfa.listMethods(user.id)) {
        if (old.kind === 'totp' && old.id !== saved.id && (await this.d.mfa.deleteMethod(user.id, old.id)))
          replaced.push(old.id);
      }
    }
    const { defaultMethodId } = await this.d.mfa.getState(user.id);
    if (!defaultMethodId || replaced.includes(defaultMethodId)) await this.d.mfa.setDefaultMethod(user.id, saved.id);
    if (replaced.length) {
      await this.auditUser(user, 'mfa.method_replaced', `totp: ${replaced.length} older authenticator app(s) removed`);
      await this.d.events.publish({
        type: 'method_removed',
        userId: user.id,
        address: user.address,
        last: false,
        keepFlowId: flow.id,
      });
    }
    await this.promoteEnabled(user);
    await this.auditUser(user, 'mfa.method_added', `${p.kind} ${saved.label}`);
    if (flow.kind !== 'sign_in') await this.d.notifier.methodsChanged(user.address, flow.data.locale, 'added', now);
    return saved;
  }

  /**
   * "Next" after verification: on to "Keep using your existing applications" with a new app
   * password (when the organization allows them), then to the recovery codes. `appPasswordName`
   * names that app password in the user's language.
   */
  async next(flow: Flow, user: User, opts: { appPasswordName?: string } = {}): Promise<Step> {
    this.expect(flow, ['enrolled', 'app_password']);
    if (flow.kind === 'add_method') {
      await this.d.flows.delete(flow.id);
      flow.state = 'done';
      return { done: false, flow };
    }
    if (flow.state === 'enrolled' && this.d.appPasswords && (await this.d.appPasswords.canCreate(user))) {
      const name = opts.appPasswordName ?? 'Existing applications';
      const made = await this.d.appPasswords
        .create(user, null, name, { ip: flow.data.ip, locale: flow.data.locale })
        .catch((e: unknown) => {
          // At the cap already (a re-registration): skip the step rather than block the sign-in.
          if (e instanceof SesameError && e.code === 'app_password_cap') return undefined;
          throw e;
        });
      if (made) {
        flow.data.appPasswordEnc = this.d.aead.seal(made.password, SEALED_AAD.flowAppPassword(flow.id));
        flow.data.appPasswordName = name;
        flow.data.appPasswordId = made.appPassword.id;
        flow.state = 'app_password';
        await this.save(flow);
        return { done: false, flow };
      }
    }
    flow.data.appPasswordEnc = undefined;
    const codes = await this.newRecoveryCodes(user);
    flow.data.recoveryCodesEnc = this.d.aead.seal(JSON.stringify(codes), SEALED_AAD.flowRecoveryCodes(flow.id));
    flow.state = 'recovery_codes';
    await this.save(flow);
    return { done: false, flow };
  }

  /** "Done" after the recovery codes were shown: the session starts. */
  async finishRegistration(flow: Flow, user: User): Promise<Step> {
    this.expect(flow, ['recovery_codes']);
    flow.state = 'done';
    if (!(await this.d.flows.save(flow))) throw new SesameError('flow_step', 'flow changed meanwhile');
    await this.d.flows.delete(flow.id);
    return this.startSession(user, flow.data.amr, flow.data, flow.data.next, true);
  }

  /** "Sign in another way": ask for another registered method, or a recovery code (`recovery`). */
  async switchMethod(flow: Flow, user: User, methodId: string): Promise<void> {
    this.expect(flow, ['second_factor']);
    const methods = await this.methodsFor(flow, user);
    if (methodId !== 'recovery' && !methods.some((m) => m.id === methodId))
      throw new SesameError('method_not_found', "not one of the user's methods");
    await this.beginChallenge(flow, user, methods, methodId);
  }

  /** Sends the current challenge's code again. */
  async resendChallengeCode(flow: Flow, user: User): Promise<void> {
    this.expect(flow, ['second_factor']);
    const method = await this.d.mfa.getMethod(user.id, flow.data.challenge?.methodId ?? '');
    if (!method || method.kind === 'totp' || method.kind === 'webauthn')
      throw new SesameError('flow_step', 'nothing to resend');
    await this.factor(method.kind).startChallenge({ flow, user, now: this.d.clock.now() }, method);
    await this.save(flow);
  }

  /**
   * The second factor. On success a sign-in flow ends in a session; a step-up flow records the
   * fresh proof on the caller's session. `remember` asks to trust this device (when the policy allows).
   */
  async verifySecondFactor(
    flow: Flow,
    user: User,
    response: FactorResponse,
    opts: { remember?: boolean; sessionId?: string } = {},
  ): Promise<Step> {
    this.expect(flow, ['second_factor']);
    const c = flow.data.challenge!;
    const now = this.d.clock.now();
    let amr: string;
    await this.guarded(flow, user, 'second_factor', async () => {
      if (c.methodId === 'recovery') {
        const code = normalizeRecoveryCode(response.code ?? '');
        // Codes made before a rotation of the hash key are found under the previous key.
        if (
          !code ||
          !(await someKeyedHash(this.d.keyedHasher, 'recovery-code', code, (h) =>
            this.d.mfa.consumeRecoveryCode(user.id, h, now),
          ))
        )
          throw new SesameError('code_invalid', 'wrong or used recovery code');
        // One challenge, one session: two different good codes sent at once must not both win
        // (the later one is spent for nothing, which is the lesser harm).
        flow.state = 'done';
        if (!(await this.d.flows.save(flow))) throw new SesameError('code_invalid', 'challenge already used');
        amr = AMR.recovery;
        await this.d.notifier.methodsChanged(user.address, flow.data.locale, 'recovery_used', now);
        return;
      }
      // A challenge begun before the admin turned the method's kind off proves nothing either.
      const method = (await this.methodsFor(flow, user)).find((m) => m.id === c.methodId);
      if (!method || !(await this.factor(method.kind).verifyChallenge({ flow, user, now }, method, response)))
        throw new SesameError('code_invalid', 'wrong, expired or replayed second factor');
      // Exactly one verification of this challenge may win, even from two tabs at once.
      flow.state = 'done';
      if (!(await this.d.flows.save(flow))) throw new SesameError('code_invalid', 'challenge already used');
      amr = AMR[method.kind];
      await this.d.mfa.touchMethod(method.id, now);
    });
    if (flow.kind === 'password_reset') {
      // Proved: on to the new password, still without a session.
      flow.state = 'new_password';
      flow.data.amr = [...new Set([...flow.data.amr, amr!])];
      await this.save(flow);
      return { done: false, flow };
    }
    flow.state = 'done';
    await this.d.flows.delete(flow.id);
    await this.promoteEnabled(user);
    const fullAmr = [...new Set([...flow.data.amr, amr!])];
    if (flow.kind === 'step_up') {
      // Re-authentication: the caller's session gets a new token (checklist 27).
      const sessionToken = opts.sessionId
        ? await this.d.sessions.reauthenticated(opts.sessionId, fullAmr, now)
        : undefined;
      return { done: false, flow, sessionToken };
    }
    const step = await this.startSession(user, fullAmr, flow.data, flow.data.next, true);
    const policy = await policyOf(this.d.mfa, user.orgId);
    if (step.done && opts.remember && policy.rememberDays > 0) {
      const trust = randomToken(32);
      await this.d.mfa.addTrustedDevice(
        this.d.keyedHasher.digest(TRUST_TOKEN, trust),
        user.id,
        now,
        now + policy.rememberDays * 86_400_000,
      );
      step.trustToken = trust;
      step.trustSeconds = policy.rememberDays * 86_400;
    }
    return step;
  }

  /** New recovery codes for a user (the old ones are void); the plain codes are returned once. */
  async newRecoveryCodes(user: User): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, recoveryCode);
    await this.d.mfa.replaceRecoveryCodes(
      user.id,
      codes.map((c) => this.d.keyedHasher.digest('recovery-code', c)),
      this.d.clock.now(),
    );
    await this.auditUser(user, 'mfa.recovery_codes_renewed', `${RECOVERY_CODE_COUNT} codes`);
    return codes;
  }

  /** `kind` if the user may choose it now, else `method_not_allowed`. */
  private allowedKind(policy: OrgPolicy, kind: string): MethodKind {
    if (!this.choices(policy).includes(kind as MethodKind))
      throw new SesameError('method_not_allowed', `method ${kind.slice(0, 20)} not allowed or not deliverable`);
    return kind as MethodKind;
  }

  /** The factor kinds the policy allows and whose channel can deliver. */
  choices(policy: OrgPolicy): MethodKind[] {
    return policy.allowedMethods.filter(
      (k) => this.byKind.has(k) && (k === 'totp' || k === 'webauthn' || this.d.notifier.supports(k)),
    );
  }

  /**
   * The user's methods this flow may ask for: those of kinds the organization's policy allows now
   * (a kind the admin turned off proves nothing, registered or not), and in a password reset not
   * the email codes (see startPasswordReset).
   */
  private async methodsFor(flow: Flow, user: User): Promise<MfaMethod[]> {
    const [methods, policy] = await Promise.all([this.d.mfa.listMethods(user.id), policyOf(this.d.mfa, user.orgId)]);
    return methods.filter(
      (m) => policy.allowedMethods.includes(m.kind) && !(flow.kind === 'password_reset' && m.kind === 'email'),
    );
  }

  private async beginChallenge(flow: Flow, user: User, methods: MfaMethod[], methodId: string | undefined) {
    const { defaultMethodId } = await this.d.mfa.getState(user.id);
    // Only methods whose factor this server has (a security key needs a host-name public URL):
    // otherwise the user would be stuck before they could choose another way.
    const usable = methods.filter((m) => this.byKind.has(m.kind));
    const chosen = methodId ?? (usable.find((m) => m.id === defaultMethodId) ?? usable[0])?.id ?? 'recovery';
    flow.data.challenge = { methodId: chosen };
    const method = usable.find((m) => m.id === chosen);
    if (methodId && methodId !== 'recovery' && !method)
      throw new SesameError('method_not_allowed', 'that method cannot be used on this server');
    if (method) {
      try {
        await this.factor(method.kind).startChallenge({ flow, user, now: this.d.clock.now() }, method);
      } catch (e) {
        // A channel that cannot send now must not trap the user: they can still choose another way.
        await this.save(flow);
        throw e;
      }
    }
    await this.save(flow);
  }

  private async create(kind: FlowKind, state: FlowState, user: User, amr: string[], meta: AttemptMeta, next: string) {
    const now = this.d.clock.now();
    const token = randomToken(32);
    const flow: Flow = {
      id: randomUUID(),
      kind,
      state,
      userId: user.id,
      version: 1,
      createdAt: now,
      expiresAt: now + FLOW_TTL_MS,
      data: {
        next,
        amr,
        ip: meta.ip,
        userAgent: meta.userAgent.slice(0, 500),
        protocol: meta.protocol,
        locale: meta.locale,
      },
    };
    await this.d.flows.create(flow, this.d.keyedHasher.digest(FLOW_TOKEN, token));
    return { flow, token };
  }

  private async startSession(
    user: User,
    amr: string[],
    meta: { ip: string; userAgent: string; protocol?: string },
    next: string,
    mfaProved: boolean,
  ): Promise<Step> {
    const { token, session } = await this.d.sessions.start(
      user.id,
      amr,
      { ip: meta.ip, userAgent: meta.userAgent, via: meta.protocol === 'api' ? 'api' : 'web' },
      mfaProved ? this.d.clock.now() : null,
    );
    return { done: true, token, session, next };
  }

  /** Runs a verification under the per-user MFA throttle; failures are counted (before checking) and may lock. */
  private async guarded<T>(
    flow: Flow,
    user: User,
    what: 'enrolment' | 'second_factor',
    check: () => Promise<T>,
  ): Promise<T> {
    const keys: ThrottleKey[] = [
      {
        key: secondFactorKey(user.id),
        rule: { limit: this.d.mfaFailureLimit, windowSeconds: 86_400 },
        clearOnSuccess: true,
      },
    ];
    const gate = await this.d.throttle.begin(keys);
    if (!gate.allowed) {
      await this.logSecondFactor(flow, user, 'throttled', 'mfa_locked');
      throw new SesameError('throttled', `second factor for ${user.address} refused while locked`, {
        retryAfterSeconds: gate.retryAfterSeconds,
        params: { minutes: Math.max(1, Math.ceil(gate.retryAfterSeconds / 60)) },
      });
    }
    try {
      const r = await check();
      await this.d.throttle.succeeded(gate.ticket);
      if (what === 'second_factor') await this.logSecondFactor(flow, user, 'success', 'ok');
      return r;
    } catch (e) {
      if (!(e instanceof SesameError) || (e.code !== 'code_invalid' && e.code !== 'webauthn_failed')) {
        await this.d.throttle.succeeded(gate.ticket);
        throw e;
      }
      await this.d.throttle.failed(gate.ticket);
      await this.logSecondFactor(flow, user, 'failure', 'wrong_second_factor');
      if (flow.kind === 'sign_in' && what === 'second_factor' && !flow.data.failureNoticeSent) {
        flow.data.failureNoticeSent = true;
        await this.d.notifier.secondFactorFailed(user.address, flow.data.locale, flow.data.ip, this.d.clock.now());
        await this.save(flow).catch(() => undefined);
      }
      throw e;
    }
  }

  private async logSecondFactor(
    flow: Flow,
    user: User,
    outcome: 'success' | 'failure' | 'throttled',
    reason: SignInReason,
  ) {
    const at = this.d.clock.now();
    await this.d.audit.recordSignIn({
      id: eventId(at),
      at,
      orgId: user.orgId,
      userId: user.id,
      addressTyped: user.address,
      outcome,
      reason,
      protocol: `${flow.data.protocol}:mfa`,
      ip: sanitizeForLog(flow.data.ip, 64),
      userAgent: sanitizeForLog(flow.data.userAgent),
    });
  }

  private async auditUser(user: User, action: string, detail: string) {
    await this.d.audit.recordAudit(userAuditEvent({ kind: 'user', user }, this.d.clock.now(), user, action, detail));
  }

  private factor(kind: MethodKind): Factor {
    const f = this.byKind.get(kind);
    if (!f) throw new SesameError('method_not_allowed', `no factor for ${kind}`);
    return f;
  }

  private expect(flow: Flow, states: FlowState[]) {
    if (!states.includes(flow.state))
      throw new SesameError('flow_step', `flow is at ${flow.state}, not ${states.join('/')}`);
  }

  /**
   * MFA `enabled` becomes `enforced` at the first proof of a method, as Entra's per-user MFA does:
   * from then on the main password is refused on the legacy protocols, which must hear of it.
   */
  private async promoteEnabled(user: User) {
    if (await this.d.mfa.promoteEnabled(user.id))
      await this.d.events.publish({
        type: 'mfa_state_changed',
        userId: user.id,
        address: user.address,
        state: 'enforced',
      });
  }

  private async save(flow: Flow) {
    if (!(await this.d.flows.save(flow))) throw new SesameError('flow_step', 'flow changed meanwhile (another tab?)');
  }
}
