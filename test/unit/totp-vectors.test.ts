/** RFC 6238 and RFC 4226 test vectors (from ../shared/reference/security-checklist.md, kept in test/vectors/). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { HOTP, Secret, TOTP } from 'otpauth';
import { matchTotp, newTotpSecret, totpUri } from '../../src/domain/mfa/totp.js';
import { normalizeRecoveryCode, numericCode, recoveryCode } from '../../src/domain/mfa/codes.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const vectors = JSON.parse(fs.readFileSync(path.join(root, 'test/vectors/otp.json'), 'utf8')) as {
  totp: { seeds: Record<string, string>; rows: { time: number; SHA1: string; SHA256: string; SHA512: string }[] };
  hotp: { seed: string; codes: string[] };
};

describe('one-time password vectors', () => {
  it('RFC 6238: 8 digits, 30 s, SHA1/SHA256/SHA512', () => {
    for (const row of vectors.totp.rows) {
      for (const alg of ['SHA1', 'SHA256', 'SHA512'] as const) {
        const totp = new TOTP({
          secret: Secret.fromLatin1(vectors.totp.seeds[alg]!),
          algorithm: alg,
          digits: 8,
          period: 30,
        });
        assert.equal(totp.generate({ timestamp: row.time * 1000 }), row[alg], `${alg} at ${row.time}`);
      }
    }
  });
  it('RFC 4226: HOTP counters 0 to 9', () => {
    const hotp = new HOTP({ secret: Secret.fromLatin1(vectors.hotp.seed), digits: 6 });
    assert.deepEqual(
      vectors.hotp.codes.map((_, i) => hotp.generate({ counter: i })),
      vectors.hotp.codes,
    );
  });
  it('accepts a code within ±1 step only, and names the step it matched', () => {
    const secret = newTotpSecret();
    const totp = new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30 });
    const t = 1_800_000_000_000;
    const step = Math.floor(t / 30_000);
    assert.equal(matchTotp(secret, totp.generate({ timestamp: t }), t), step);
    assert.equal(matchTotp(secret, totp.generate({ timestamp: t - 30_000 }), t), step - 1);
    assert.equal(matchTotp(secret, totp.generate({ timestamp: t + 30_000 }), t), step + 1);
    assert.equal(matchTotp(secret, totp.generate({ timestamp: t - 60_000 }), t), undefined);
    assert.equal(matchTotp(secret, 'abcdef', t), undefined);
    assert.match(
      totpUri(secret, 'Sesame', 'a@contoso.test'),
      /^otpauth:\/\/totp\/Sesame:a%40contoso\.test\?issuer=Sesame&secret=[A-Z2-7]{32}&algorithm=SHA1&digits=6&period=30$/,
    );
  });
});

describe('codes', () => {
  it('makes 6-digit codes and 16-character recovery codes from the CSPRNG, without duplicates in 10,000', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const rc = recoveryCode();
      assert.match(rc, /^[a-hjkmnp-z2-9]{4}(-[a-hjkmnp-z2-9]{4}){3}$/);
      seen.add(rc);
    }
    assert.equal(seen.size, 10_000);
    assert.match(numericCode(), /^\d{6}$/);
  });
  it('normalises typed recovery codes (phone numbers: phone-input.test.ts)', () => {
    assert.equal(normalizeRecoveryCode(' ABCD efgh-JKMN pqrs '), 'abcd-efgh-jkmn-pqrs');
    assert.equal(normalizeRecoveryCode('abcd-efgh-jkmn-pqr1'), undefined, '1 is not in the alphabet');
  });
});
