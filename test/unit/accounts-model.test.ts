import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeAddress, normalizeDisplayName, normalizeDomain } from '../../src/domain/accounts/model.js';
import {
  COMMON_PASSWORDS_EN,
  COMMON_PASSWORDS_NL,
  loadCommonPasswords,
} from '../../src/domain/accounts/common-passwords.js';
import { PasswordPolicy, PASSWORD_MAX } from '../../src/domain/accounts/password-policy.js';
import { SesameError } from '../../src/domain/errors.js';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SesameError, `expected SesameError, got ${String(e)}`);
    return e.code;
  }
  return 'ok';
};

describe('addresses and domains', () => {
  it('lower-cases and trims addresses and splits off the domain', () => {
    assert.deepEqual(normalizeAddress('  Alice@Contoso.TEST '), {
      address: 'alice@contoso.test',
      domain: 'contoso.test',
    });
  });
  it('refuses what is not an address', () => {
    for (const bad of [
      '',
      'alice',
      '@contoso.test',
      'alice@',
      'a b@contoso.test',
      'alice@contoso',
      'alice@@contoso.test',
      'al\r\nice@contoso.test',
      `${'a'.repeat(65)}@contoso.test`,
    ]) {
      assert.equal(
        code(() => normalizeAddress(bad)),
        'invalid_address',
        bad,
      );
    }
  });
  it('checks domains', () => {
    assert.equal(normalizeDomain('Contoso.Test'), 'contoso.test');
    for (const bad of ['contoso', '-a.test', 'a..test', 'conto so.test', ''])
      assert.equal(
        code(() => normalizeDomain(bad)),
        'invalid_domain',
        bad,
      );
  });
  it('refuses display names with control characters or out of bounds', () => {
    assert.equal(normalizeDisplayName('  Ada  Lovelace '), 'Ada  Lovelace');
    for (const bad of ['', '   ', 'a\nb', 'x'.repeat(201), 'tab\there'])
      assert.equal(
        code(() => normalizeDisplayName(bad)),
        'invalid_name',
        JSON.stringify(bad),
      );
  });
});

describe('password policy (checklist 1 and 2)', () => {
  const policy = new PasswordPolicy(loadCommonPasswords());

  it('ships at least 10,000 common passwords', () => {
    assert.ok(loadCommonPasswords().size >= 10_000);
  });
  it('accepts 8 characters and refuses 7', () => {
    assert.equal(
      code(() => policy.check('tz8#kq!w')),
      'ok',
    );
    assert.equal(
      code(() => policy.check('tz8#kq!')),
      'password_too_short',
    );
  });
  it('accepts long passwords, 64 and up to the maximum, with no composition rules', () => {
    assert.equal(
      code(() => policy.check(`${'x'.repeat(40)} lowercase only words go here`)),
      'ok',
    );
    assert.equal(
      code(() => policy.check('q'.repeat(PASSWORD_MAX))),
      'ok',
    );
    assert.equal(
      code(() => policy.check('q'.repeat(PASSWORD_MAX + 1))),
      'password_too_long',
    );
  });
  it('counts characters, not bytes', () => {
    assert.equal(
      code(() => policy.check('ééééééé')),
      'password_too_short',
    );
    assert.equal(
      code(() => policy.check('éééééééé')),
      'ok',
    );
  });
  it('refuses common passwords whatever their case', () => {
    for (const p of ['password', '12345678', 'qwertyuiop', 'iloveyou', 'PassWord1', 'Iloveyou']) {
      const c = code(() => policy.check(p));
      if (loadCommonPasswords().has(p.toLowerCase())) assert.equal(c, 'password_common', p);
    }
    assert.equal(
      code(() => policy.check('Password')),
      'password_common',
    );
  });
  it('refuses common Dutch passwords as well as English ones, alone or with digits and punctuation after them (issue #15, item 6)', () => {
    for (const p of ['wachtwoord1', 'Wachtwoord', 'welkom2024!', 'voetbal123', 'zomer2025', 'geheim12'])
      assert.equal(
        code(() => policy.check(p)),
        'password_common',
        p,
      );
    for (const p of ['password1', 'Sunshine99', 'iloveyou!', 'dragon2024'])
      assert.equal(
        code(() => policy.check(p)),
        'password_common',
        p,
      );
    // The Dutch list is what refuses Dutch words the English list lacks.
    const en = loadCommonPasswords(COMMON_PASSWORDS_EN);
    const nl = loadCommonPasswords(COMMON_PASSWORDS_NL);
    for (const p of ['gezellig1', 'natuurlijk', 'appeltaart2024']) {
      assert.equal(
        code(() => new PasswordPolicy(en).check(p)),
        'ok',
        p,
      );
      assert.equal(
        code(() => new PasswordPolicy(nl).check(p)),
        'password_common',
        p,
      );
      assert.equal(
        code(() => policy.check(p)),
        'password_common',
        p,
      );
    }
    // Before the stem rule, `wachtwoord1` passed: only the bare word is on the English list.
    assert.ok(en.has('wachtwoord') && !en.has('wachtwoord1'));
    // A word inside a longer passphrase is not a common password, nor a short stem with digits.
    for (const p of ['wachtwoord paarse olifant 7', 'wacht-op-de-trein-42', 'tz8#kq!w2024'])
      assert.equal(
        code(() => policy.check(p)),
        'ok',
        p,
      );
  });
  it("refuses the user's own name, address or domain inside the password", () => {
    assert.equal(
      code(() => policy.check('contoso-rules-2026', { address: 'alice@contoso.test' })),
      'password_contains_identity',
    );
    assert.equal(
      code(() => policy.check('my-alice-secret!', { address: 'alice@contoso.test' })),
      'password_contains_identity',
    );
    assert.equal(
      code(() => policy.check('lovelace-rocks-99', { address: 'ada@x.test', name: 'Ada Lovelace' })),
      'password_contains_identity',
    );
    assert.equal(
      code(() => policy.check('violet-harbour-lantern', { address: 'ada@contoso.test', name: 'Ada' })),
      'ok',
    );
  });
});
