/**
 * The WebAuthn factor without a browser: what the options say (RP, challenge, which keys), that
 * challenges are fresh and random, and that answers which are missing, malformed or from a key
 * that is not the user's are refused as `webauthn_failed`. The ceremonies themselves, with a
 * real (virtual) authenticator, are in test/e2e/webauthn.test.ts.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, it } from 'node:test';
import type { User } from '../../src/domain/accounts/model.js';
import { SesameError } from '../../src/domain/errors.js';
import type { Flow } from '../../src/domain/flows/flow.js';
import type { FactorContext } from '../../src/domain/mfa/factors.js';
import type { MfaMethod } from '../../src/domain/mfa/model.js';
import type { MfaRepository, WebAuthnCredential } from '../../src/domain/mfa/repository.js';
import { WebAuthnFactor } from '../../src/domain/mfa/webauthn-factor.js';
import type {
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';

const RP = { id: 'id.contoso.test', name: 'Sesame', origin: 'https://id.contoso.test' };

function user(id: string, address: string): User {
  return {
    id,
    orgId: 'org',
    address,
    name: address,
    status: 'active',
    role: 'user',
    createdAt: 0,
    passwordChangedAt: 0,
    mfaState: 'enabled',
  };
}

const alice = user('u-alice', 'alice@contoso.test');
const bob = user('u-bob', 'bob@contoso.test');
const cred = (u: User, id: string): WebAuthnCredential => ({
  methodId: `m-${id}`,
  userId: u.id,
  credentialId: id,
  publicKey: 'AAAA',
  signCount: 0,
  transports: ['usb'],
});
const CREDS = [cred(alice, 'YWxpY2Uta2V5'), cred(bob, 'Ym9iLWtleQ')];

/** Only what the factor uses. */
const repo = {
  getWebAuthnCredentials: async (userId: string) => CREDS.filter((c) => c.userId === userId),
  updateWebAuthnCounter: async () => assert.fail('a refused assertion must not touch the counter'),
} as unknown as MfaRepository;

function ctx(u: User): FactorContext {
  const flow: Flow = {
    id: 'f',
    kind: 'sign_in',
    state: 'second_factor',
    userId: u.id,
    version: 1,
    createdAt: 0,
    expiresAt: 1,
    data: { next: '/', amr: ['pwd'], ip: '127.0.0.1', userAgent: 't', protocol: 'web', locale: 'en' },
  };
  return { flow, user: u, now: 0 };
}

const method: MfaMethod = {
  id: 'm-YWxpY2Uta2V5',
  userId: alice.id,
  kind: 'webauthn',
  label: 'Security key',
  target: null,
  createdAt: 0,
  lastUsedAt: null,
};
const failed = (e: unknown) => e instanceof SesameError && e.code === 'webauthn_failed';

/** An assertion-shaped answer naming `id` (the library never gets as far as the signature). */
const answer = (id: string) => ({
  id,
  rawId: id,
  type: 'public-key',
  response: { clientDataJSON: 'e30', authenticatorData: 'AA', signature: 'AA' },
  clientExtensionResults: {},
});

describe('WebAuthn factor', () => {
  it('accepts a host name as RP ID, never an IP address', () => {
    for (const ok of ['localhost', 'id.contoso.test']) assert.equal(WebAuthnFactor.usableRpId(ok), true, ok);
    for (const bad of ['127.0.0.1', '10.1.2.3', '[::1]', '::1', ''])
      assert.equal(WebAuthnFactor.usableRpId(bad), false, bad);
  });

  it("registration options: this RP, the user, a fresh 32-byte challenge, no attestation, the user's keys excluded", async () => {
    const f = new WebAuthnFactor(repo, RP);
    const c = ctx(alice);
    await f.startEnrolment(c);
    const first = c.flow.data.pending!.webauthnChallenge!;
    assert.equal(Buffer.from(first, 'base64url').length, 32);
    const p = await f.enrolmentPrompt(c);
    assert.equal(p.kind, 'webauthn');
    const o = (p as { options: PublicKeyCredentialCreationOptionsJSON }).options;
    assert.equal(o.challenge, first);
    assert.deepEqual(o.rp, { id: RP.id, name: RP.name });
    assert.equal(o.user.name, alice.address);
    assert.equal(Buffer.from(o.user.id, 'base64url').toString('utf8'), alice.id);
    assert.equal(o.attestation, 'none');
    assert.deepEqual(o.authenticatorSelection, {
      residentKey: 'preferred',
      userVerification: 'preferred',
      requireResidentKey: false,
    });
    assert.deepEqual(
      o.excludeCredentials?.map((x) => x.id),
      ['YWxpY2Uta2V5'],
    );
    // A reload shows the same ceremony; choosing the method again starts a new one.
    assert.equal(((await f.enrolmentPrompt(c)) as { options: { challenge: string } }).options.challenge, first);
    await f.startEnrolment(c);
    assert.notEqual(c.flow.data.pending!.webauthnChallenge, first);
  });

  it("authentication options allow this user's keys only", async () => {
    const f = new WebAuthnFactor(repo, RP);
    const c = ctx(bob);
    c.flow.data.challenge = { methodId: 'm-Ym9iLWtleQ' };
    await f.startChallenge(c);
    const o = ((await f.challengePrompt(c)) as { options: PublicKeyCredentialRequestOptionsJSON }).options;
    assert.equal(o.rpId, RP.id);
    assert.equal(o.challenge, c.flow.data.challenge.webauthnChallenge);
    assert.deepEqual(
      o.allowCredentials?.map((x) => x.id),
      ['Ym9iLWtleQ'],
    );
  });

  it("refuses a missing or malformed answer, and a key that is not the user's, as webauthn_failed", async () => {
    const f = new WebAuthnFactor(repo, RP);
    const c = ctx(alice);
    c.flow.data.challenge = { methodId: method.id };
    await f.startChallenge(c);
    for (const credential of [undefined, null, 'x', {}, { id: 'YWxpY2Uta2V5' }]) {
      await assert.rejects(f.verifyChallenge(c, method, { credential }), failed, JSON.stringify(credential));
    }
    // Bob's key in Alice's sign-in.
    await assert.rejects(
      f.verifyChallenge(c, method, { credential: answer('Ym9iLWtleQ') }),
      (e) => failed(e) && /not one of this user/.test((e as SesameError).detail),
    );
    // Alice's key with a response that does not verify.
    await assert.rejects(f.verifyChallenge(c, method, { credential: answer('YWxpY2Uta2V5') }), failed);
    assert.ok(c.flow.data.challenge.webauthnChallenge, 'a refusal leaves the challenge for another try in this flow');

    await f.startEnrolment(c);
    await assert.rejects(
      f.confirmEnrolment(c, { credential: { id: 'x', rawId: 'x', type: 'public-key', response: {} } }),
      failed,
    );
  });

  it('checks a real signed assertion: refuses another origin, another RP ID, no user presence, another private key, a stale challenge and a replay (checklist 18)', async () => {
    // A software authenticator: an ES256 key whose public half is registered for Alice (COSE, as stored).
    const pair = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const jwk = pair.publicKey.export({ format: 'jwk' });
    const cose = Buffer.concat([
      Buffer.from([0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20]),
      Buffer.from(jwk.x!, 'base64url'),
      Buffer.from([0x22, 0x58, 0x20]),
      Buffer.from(jwk.y!, 'base64url'),
    ]);
    const credentialId = crypto.randomBytes(16).toString('base64url');
    const counters: number[] = [];
    const keyRepo = {
      getWebAuthnCredentials: async (userId: string) =>
        userId === alice.id
          ? [
              {
                methodId: 'm-soft',
                userId,
                credentialId,
                publicKey: cose.toString('base64url'),
                signCount: 0,
                transports: [],
              },
            ]
          : [],
      updateWebAuthnCounter: async (_id: string, n: number) => void counters.push(n),
    } as unknown as MfaRepository;
    const f = new WebAuthnFactor(keyRepo, RP);
    const c = ctx(alice);
    c.flow.data.challenge = { methodId: 'm-soft' };
    let counter = 0;
    const sign = (
      o: {
        challenge?: string;
        origin?: string;
        rpId?: string;
        flags?: number;
        type?: string;
        key?: crypto.KeyObject;
      } = {},
    ) => {
      const clientData = Buffer.from(
        JSON.stringify({
          type: o.type ?? 'webauthn.get',
          challenge: o.challenge ?? c.flow.data.challenge!.webauthnChallenge,
          origin: o.origin ?? RP.origin,
          crossOrigin: false,
        }),
      );
      const count = Buffer.alloc(4);
      count.writeUInt32BE(++counter);
      const authData = Buffer.concat([
        crypto
          .createHash('sha256')
          .update(o.rpId ?? RP.id)
          .digest(),
        Buffer.from([o.flags ?? 0x01]),
        count,
      ]);
      const signature = crypto.sign(
        'sha256',
        Buffer.concat([authData, crypto.createHash('sha256').update(clientData).digest()]),
        o.key ?? pair.privateKey,
      );
      return {
        id: credentialId,
        rawId: credentialId,
        type: 'public-key',
        response: {
          clientDataJSON: clientData.toString('base64url'),
          authenticatorData: authData.toString('base64url'),
          signature: signature.toString('base64url'),
        },
        clientExtensionResults: {},
      };
    };
    const method = {
      id: 'm-soft',
      userId: alice.id,
      kind: 'webauthn' as const,
      label: 'Security key',
      target: null,
      createdAt: 0,
      lastUsedAt: null,
    };
    /** A fresh challenge, then an answer to it built by `answer`: refused. */
    const refused = async (answer: () => unknown, why: string) => {
      await f.startChallenge(c);
      await assert.rejects(f.verifyChallenge(c, method, { credential: answer() }), failed, why);
    };

    await f.startChallenge(c);
    const stale = c.flow.data.challenge.webauthnChallenge!;
    assert.equal(Buffer.from(stale, 'base64url').length, 32, 'a 32-byte challenge');
    await refused(() => sign({ origin: 'https://evil.test' }), 'another origin');
    await refused(() => sign({ origin: 'http://id.contoso.test' }), 'the same host over http');
    await refused(() => sign({ rpId: 'evil.test' }), 'another RP ID hash');
    await refused(() => sign({ flags: 0x04 }), 'user verified but not present');
    await refused(
      () => sign({ key: crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey }),
      'signed by another key',
    );
    await refused(() => sign({ type: 'webauthn.create' }), 'a registration ceremony');
    await refused(() => sign({ challenge: stale }), 'an earlier challenge');
    assert.deepEqual(counters, [], 'nothing refused touched the counter');

    // The control: the same authenticator, everything right, is accepted once.
    await f.startChallenge(c);
    const good = sign();
    assert.equal(await f.verifyChallenge(c, method, { credential: good }), true);
    assert.deepEqual(counters, [counter]);
    assert.equal(c.flow.data.challenge.webauthnChallenge, undefined, 'the challenge is used up');
    await assert.rejects(f.verifyChallenge(c, method, { credential: good }), failed, 'a replay');
  });
});
