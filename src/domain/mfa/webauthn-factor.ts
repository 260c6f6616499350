/**
 * Security keys and passkeys (WebAuthn), through @simplewebauthn/server. The relying party is this
 * service: its ID is the public URL's host name and every response must come from the public URL's
 * origin. Attestation is not asked for ('none'): any authenticator the user owns is accepted, and
 * the label is generic ("Security key", "Security key 2", ...).
 *
 * Challenges are 32 random bytes, kept (base64url) in the flow: `pending.webauthnChallenge` while
 * registering, `challenge.webauthnChallenge` at sign-in. Options are rebuilt from the stored
 * challenge when a page is shown, so a reload presents the same ceremony. A challenge is cleared
 * once it succeeds, and the flow that holds it ends with that success (the sign-in flow's
 * optimistic save lets exactly one verification win), so an assertion cannot be replayed.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { User } from '../accounts/model.js';
import { SesameError } from '../errors.js';
import type { Factor, FactorContext, FactorResponse, Prompt } from './factors.js';
import type { MfaMethod } from './model.js';
import type { MfaRepository, WebAuthnCredential } from './repository.js';

/**
 * @simplewebauthn/server, loaded at the first ceremony: it costs ~300 ms to import, which every
 * `sesame` command and every server start paid although most never touch a security key.
 */
let library: Promise<typeof import('@simplewebauthn/server')> | undefined;
const simpleWebAuthn = () => (library ??= import('@simplewebauthn/server'));

export interface RelyingParty {
  /** RP ID: a host name (not an IP address), e.g. `id.example.org` or `localhost`. */
  id: string;
  /** Shown by some authenticators while registering. */
  name: string;
  /** The only origin responses may come from, e.g. `https://id.example.org`. */
  origin: string;
}

const CHALLENGE_BYTES = 32;
const TIMEOUT_MS = 120_000;
const LABEL = 'Security key';

const newChallenge = () => randomBytes(CHALLENGE_BYTES).toString('base64url');
const challengeBytes = (b64url: string) => new Uint8Array(Buffer.from(b64url, 'base64url'));
const userHandle = (user: User) => new Uint8Array(Buffer.from(user.id, 'utf8'));
const descriptor = (c: WebAuthnCredential) => ({
  id: c.credentialId,
  ...(c.transports.length ? { transports: c.transports } : {}),
});

/** The browser's JSON, shaped enough to hand to the library (which checks the rest). */
function asResponse<T>(raw: unknown): T | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const r = raw as { id?: unknown; rawId?: unknown; type?: unknown; response?: unknown };
  if (
    typeof r.id !== 'string' ||
    typeof r.rawId !== 'string' ||
    r.type !== 'public-key' ||
    !r.response ||
    typeof r.response !== 'object'
  )
    return undefined;
  return raw as T;
}

export class WebAuthnFactor implements Factor {
  readonly kind = 'webauthn' as const;

  constructor(
    private readonly repo: MfaRepository,
    private readonly rp: RelyingParty,
  ) {}

  /** True when `hostname` can be an RP ID: browsers refuse IP addresses. */
  static usableRpId(hostname: string): boolean {
    const h = hostname.replace(/^\[|\]$/g, '');
    return h.length > 0 && !/^[\d.]+$/.test(h) && !h.includes(':');
  }

  private async registrationOptions(ctx: FactorContext, challenge: string, existing: WebAuthnCredential[]) {
    return (await simpleWebAuthn()).generateRegistrationOptions({
      rpID: this.rp.id,
      rpName: this.rp.name,
      userName: ctx.user.address,
      userDisplayName: ctx.user.name || ctx.user.address,
      userID: userHandle(ctx.user),
      challenge: challengeBytes(challenge),
      timeout: TIMEOUT_MS,
      attestationType: 'none',
      excludeCredentials: existing.map(descriptor),
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
    });
  }

  async startEnrolment(ctx: FactorContext) {
    // A fresh challenge each time the method is chosen; nothing is stored on a method until confirmed.
    ctx.flow.data.pending = { kind: 'webauthn', methodId: randomUUID(), webauthnChallenge: newChallenge() };
  }

  async enrolmentPrompt(ctx: FactorContext): Promise<Prompt> {
    const challenge = ctx.flow.data.pending?.webauthnChallenge;
    if (!challenge) throw new SesameError('flow_step', 'no WebAuthn registration pending');
    const options = await this.registrationOptions(ctx, challenge, await this.repo.getWebAuthnCredentials(ctx.user.id));
    return { kind: 'webauthn', options };
  }

  async confirmEnrolment(ctx: FactorContext, response: FactorResponse) {
    const p = ctx.flow.data.pending!;
    const challenge = p.webauthnChallenge;
    const body = asResponse<RegistrationResponseJSON>(response.credential);
    if (!challenge || !body)
      throw new SesameError('webauthn_failed', 'no WebAuthn registration response, or no pending challenge');
    let info;
    try {
      const v = await (await simpleWebAuthn()).verifyRegistrationResponse({
        response: body,
        expectedChallenge: challenge,
        expectedOrigin: this.rp.origin,
        expectedRPID: this.rp.id,
        requireUserPresence: true,
        requireUserVerification: false,
      });
      if (!v.verified) throw new Error('registration not verified');
      info = v.registrationInfo;
    } catch (e) {
      throw new SesameError(
        'webauthn_failed',
        `WebAuthn registration refused: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    const existing = await this.repo.getWebAuthnCredentials(ctx.user.id);
    if (existing.some((c) => c.credentialId === info.credential.id))
      throw new SesameError('webauthn_failed', 'this credential is already registered for the user');
    p.webauthnChallenge = undefined; // single use
    return {
      id: p.methodId,
      userId: ctx.user.id,
      kind: 'webauthn' as const,
      label: existing.length ? `${LABEL} ${existing.length + 1}` : LABEL,
      target: null,
      webauthn: {
        credentialId: info.credential.id,
        publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
        signCount: info.credential.counter,
        transports: (info.credential.transports ?? []).join(','),
      },
    };
  }

  async startChallenge(ctx: FactorContext) {
    ctx.flow.data.challenge!.webauthnChallenge = newChallenge();
  }

  async challengePrompt(ctx: FactorContext): Promise<Prompt> {
    const challenge = ctx.flow.data.challenge?.webauthnChallenge;
    if (!challenge) throw new SesameError('flow_step', 'no WebAuthn challenge pending');
    const options = await (await simpleWebAuthn()).generateAuthenticationOptions({
      rpID: this.rp.id,
      challenge: challengeBytes(challenge),
      timeout: TIMEOUT_MS,
      userVerification: 'preferred',
      allowCredentials: (await this.repo.getWebAuthnCredentials(ctx.user.id)).map(descriptor),
    });
    return { kind: 'webauthn', options };
  }

  /**
   * Any of the user's own keys will do (the options allow them all); a key registered to someone
   * else is not among them and fails. Throws `webauthn_failed` (counted like a wrong code) so the
   * page says the key could not be verified rather than that a code was wrong.
   */
  async verifyChallenge(ctx: FactorContext, _method: MfaMethod, response: FactorResponse) {
    const c = ctx.flow.data.challenge!;
    const challenge = c.webauthnChallenge;
    const body = asResponse<AuthenticationResponseJSON>(response.credential);
    if (!challenge || !body) throw new SesameError('webauthn_failed', 'no WebAuthn assertion, or no challenge pending');
    const credential = (await this.repo.getWebAuthnCredentials(ctx.user.id)).find((k) => k.credentialId === body.id);
    if (!credential)
      throw new SesameError('webauthn_failed', "assertion from a credential that is not one of this user's");
    // A discoverable credential names its user: it must be this one.
    const handle = body.response.userHandle;
    if (handle && handle !== Buffer.from(userHandle(ctx.user)).toString('base64url'))
      throw new SesameError('webauthn_failed', 'assertion names another user');
    let newCounter: number;
    try {
      const v = await (await simpleWebAuthn()).verifyAuthenticationResponse({
        response: body,
        expectedChallenge: challenge,
        expectedOrigin: this.rp.origin,
        expectedRPID: this.rp.id,
        credential: {
          id: credential.credentialId,
          publicKey: new Uint8Array(Buffer.from(credential.publicKey, 'base64url')),
          counter: credential.signCount,
          transports: credential.transports,
        },
        // User presence is always required by the library; verification (PIN, biometrics) is preferred, not required.
        requireUserVerification: false,
      });
      if (!v.verified) throw new Error('signature not verified');
      newCounter = v.authenticationInfo.newCounter;
    } catch (e) {
      throw new SesameError(
        'webauthn_failed',
        `WebAuthn assertion refused: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    c.webauthnChallenge = undefined; // single use
    await this.repo.updateWebAuthnCounter(credential.methodId, newCounter, ctx.now);
    return true;
  }
}
