/**
 * The WebAuthn factor without a browser: what the options say (RP, challenge, which keys), that
 * challenges are fresh and random, and that answers which are missing, malformed or from a key
 * that is not the user's are refused as `webauthn_failed`. The ceremonies themselves, with a
 * real (virtual) authenticator, are in test/e2e/webauthn.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { User } from '../../src/domain/accounts/model.js';
import { SesameError } from '../../src/domain/errors.js';
import type { Flow } from '../../src/domain/flows/flow.js';
import type { FactorContext } from '../../src/domain/mfa/factors.js';
import type { MfaMethod } from '../../src/domain/mfa/model.js';
import type { MfaRepository, WebAuthnCredential } from '../../src/domain/mfa/repository.js';
import { WebAuthnFactor } from '../../src/domain/mfa/webauthn-factor.js';

const RP = { id: 'id.contoso.test', name: 'Sesame', origin: 'https://id.contoso.test' };

function user(id: string, address: string): User {
  return { id, orgId: 'org', address, name: address, status: 'active', role: 'user', createdAt: 0, passwordChangedAt: 0, mfaState: 'enabled' };
}

const alice = user('u-alice', 'alice@contoso.test');
const bob = user('u-bob', 'bob@contoso.test');
const cred = (u: User, id: string): WebAuthnCredential => ({ methodId: `m-${id}`, userId: u.id, credentialId: id, publicKey: 'AAAA', signCount: 0, transports: ['usb'] });
const CREDS = [cred(alice, 'YWxpY2Uta2V5'), cred(bob, 'Ym9iLWtleQ')];

/** Only what the factor uses. */
const repo = {
  getWebAuthnCredentials: async (userId: string) => CREDS.filter((c) => c.userId === userId),
  updateWebAuthnCounter: async () => assert.fail('a refused assertion must not touch the counter'),
} as unknown as MfaRepository;

function ctx(u: User): FactorContext {
  const flow: Flow = { id: 'f', kind: 'sign_in', state: 'second_factor', userId: u.id, version: 1, createdAt: 0, expiresAt: 1, data: { next: '/', amr: ['pwd'], ip: '127.0.0.1', userAgent: 't', protocol: 'web', locale: 'en' } };
  return { flow, user: u, now: 0 };
}

const method: MfaMethod = { id: 'm-YWxpY2Uta2V5', userId: alice.id, kind: 'webauthn', label: 'Security key', target: null, createdAt: 0, lastUsedAt: null };
const failed = (e: unknown) => e instanceof SesameError && e.code === 'webauthn_failed';

/** An assertion-shaped answer naming `id` (the library never gets as far as the signature). */
const answer = (id: string) => ({ id, rawId: id, type: 'public-key', response: { clientDataJSON: 'e30', authenticatorData: 'AA', signature: 'AA' }, clientExtensionResults: {} });

describe('WebAuthn factor', () => {
  it('accepts a host name as RP ID, never an IP address', () => {
    for (const ok of ['localhost', 'id.contoso.test']) assert.equal(WebAuthnFactor.usableRpId(ok), true, ok);
    for (const bad of ['127.0.0.1', '10.1.2.3', '[::1]', '::1', '']) assert.equal(WebAuthnFactor.usableRpId(bad), false, bad);
  });

  it('registration options: this RP, the user, a fresh 32-byte challenge, no attestation, the user\'s keys excluded', async () => {
    const f = new WebAuthnFactor(repo, RP);
    const c = ctx(alice);
    await f.startEnrolment(c);
    const first = c.flow.data.pending!.webauthnChallenge!;
    assert.equal(Buffer.from(first, 'base64url').length, 32);
    const p = await f.enrolmentPrompt(c);
    assert.equal(p.kind, 'webauthn');
    const o = (p as { options: Record<string, any> }).options;
    assert.equal(o.challenge, first);
    assert.deepEqual(o.rp, { id: RP.id, name: RP.name });
    assert.equal(o.user.name, alice.address);
    assert.equal(Buffer.from(o.user.id, 'base64url').toString('utf8'), alice.id);
    assert.equal(o.attestation, 'none');
    assert.deepEqual(o.authenticatorSelection, { residentKey: 'preferred', userVerification: 'preferred', requireResidentKey: false });
    assert.deepEqual(o.excludeCredentials.map((x: { id: string }) => x.id), ['YWxpY2Uta2V5']);
    // A reload shows the same ceremony; choosing the method again starts a new one.
    assert.equal(((await f.enrolmentPrompt(c)) as { options: { challenge: string } }).options.challenge, first);
    await f.startEnrolment(c);
    assert.notEqual(c.flow.data.pending!.webauthnChallenge, first);
  });

  it('authentication options allow this user\'s keys only', async () => {
    const f = new WebAuthnFactor(repo, RP);
    const c = ctx(bob);
    c.flow.data.challenge = { methodId: 'm-Ym9iLWtleQ' };
    await f.startChallenge(c);
    const o = ((await f.challengePrompt(c)) as { options: Record<string, any> }).options;
    assert.equal(o.rpId, RP.id);
    assert.equal(o.challenge, c.flow.data.challenge.webauthnChallenge);
    assert.deepEqual(o.allowCredentials.map((x: { id: string }) => x.id), ['Ym9iLWtleQ']);
  });

  it('refuses a missing or malformed answer, and a key that is not the user\'s, as webauthn_failed', async () => {
    const f = new WebAuthnFactor(repo, RP);
    const c = ctx(alice);
    c.flow.data.challenge = { methodId: method.id };
    await f.startChallenge(c);
    for (const credential of [undefined, null, 'x', {}, { id: 'YWxpY2Uta2V5' }]) {
      await assert.rejects(f.verifyChallenge(c, method, { credential }), failed, JSON.stringify(credential));
    }
    // Bob's key in Alice's sign-in.
    await assert.rejects(f.verifyChallenge(c, method, { credential: answer('Ym9iLWtleQ') }), (e) => failed(e) && /not one of this user/.test((e as SesameError).detail));
    // Alice's key with a response that does not verify.
    await assert.rejects(f.verifyChallenge(c, method, { credential: answer('YWxpY2Uta2V5') }), failed);
    assert.ok(c.flow.data.challenge.webauthnChallenge, 'a refusal leaves the challenge for another try in this flow');

    await f.startEnrolment(c);
    await assert.rejects(f.confirmEnrolment(c, { credential: { id: 'x', rawId: 'x', type: 'public-key', response: {} } }), failed);
  });
});
