/**
 * Every secret Sesame makes comes from node:crypto's CSPRNG (checklist 14, 16, 18, 19, 21, 28):
 * with node:crypto made predictable, every generator turns predictable (so it draws from it); with
 * Math.random made constant, they stay unpredictable (so it does not). And each is as large as the
 * checklist asks.
 */
import assert from 'node:assert/strict';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { describe, it } from 'node:test';
import type { User } from '../../src/domain/accounts/model.js';
import { generateAppPassword, RANDOM_LENGTH, ALPHABET } from '../../src/domain/app-passwords/format.js';
import type { Flow } from '../../src/domain/flows/flow.js';
import { numericCode, recoveryCode } from '../../src/domain/mfa/codes.js';
import type { MfaRepository } from '../../src/domain/mfa/repository.js';
import { newTotpSecret } from '../../src/domain/mfa/totp.js';
import { WebAuthnFactor } from '../../src/domain/mfa/webauthn-factor.js';
import { randomToken } from '../../src/lib/crypto/tokens.js';

const nodeCrypto = createRequire(import.meta.url)('node:crypto') as {
  randomInt: (...a: unknown[]) => number;
  randomBytes: (n: number) => Buffer;
};

const alice: User = {
  id: 'u',
  orgId: 'o',
  address: 'a@contoso.test',
  name: 'A',
  status: 'active',
  role: 'user',
  createdAt: 0,
  passwordChangedAt: 0,
  mfaState: 'enabled',
};
const webauthn = new WebAuthnFactor({} as MfaRepository, {
  id: 'id.contoso.test',
  name: 'Sesame',
  origin: 'https://id.contoso.test',
});
async function webauthnChallenge(): Promise<string> {
  const flow = { id: 'f', data: { challenge: { methodId: 'm' } } } as unknown as Flow;
  await webauthn.startChallenge({ flow, user: alice, now: 0 });
  return flow.data.challenge!.webauthnChallenge!;
}

/** Each generator, and how many bits of randomness the checklist asks of it. */
const GENERATORS: { name: string; make: () => string | Promise<string>; bits: number; minBits: number }[] = [
  { name: 'session, flow and link tokens', make: () => randomToken(), bits: 256, minBits: 128 },
  { name: 'TOTP seeds', make: () => newTotpSecret(), bits: 160, minBits: 160 },
  {
    name: 'email, text and voice codes',
    make: () => numericCode(6),
    bits: 6 * Math.log2(10),
    minBits: 6 * Math.log2(10),
  },
  { name: 'recovery codes', make: () => recoveryCode(), bits: 16 * Math.log2(31), minBits: 64 },
  {
    name: 'app passwords',
    make: () => generateAppPassword(),
    bits: RANDOM_LENGTH * Math.log2(ALPHABET.length),
    minBits: 72,
  },
  { name: 'WebAuthn challenges', make: webauthnChallenge, bits: 256, minBits: 128 },
];

describe('randomness', () => {
  it('every secret is drawn from node:crypto: made predictable, it makes every generator predictable', async () => {
    const saved = { randomInt: nodeCrypto.randomInt, randomBytes: nodeCrypto.randomBytes };
    nodeCrypto.randomInt = (a: unknown, b?: unknown) => (typeof b === 'number' ? (a as number) : 0);
    nodeCrypto.randomBytes = (n: number) => Buffer.alloc(n, 7);
    syncBuiltinESMExports();
    try {
      for (const g of GENERATORS) assert.equal(await g.make(), await g.make(), `${g.name}: not drawn from node:crypto`);
    } finally {
      Object.assign(nodeCrypto, saved);
      syncBuiltinESMExports();
    }
  });

  it('none depends on Math.random, and each carries the bits the checklist asks for', async () => {
    const random = Math.random;
    Math.random = () => 0.5;
    try {
      for (const g of GENERATORS) {
        const seen = new Set<string>();
        for (let i = 0; i < 200; i++) seen.add(await g.make());
        assert.ok(seen.size >= 190, `${g.name}: ${seen.size} distinct of 200`);
        assert.ok(g.bits >= g.minBits, `${g.name}: ${g.bits.toFixed(1)} bits < ${g.minBits.toFixed(1)}`);
      }
    } finally {
      Math.random = random;
    }
    assert.equal(Buffer.from(randomToken(), 'base64url').length, 32);
    assert.equal(Buffer.from(await webauthnChallenge(), 'base64url').length, 32);
    assert.match(newTotpSecret(), /^[A-Z2-7]{32}$/);
  });
});
