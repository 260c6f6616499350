/**
 * Phone numbers as people type them (#17, task A4): the national form is read in the organization's
 * default country, the international form anywhere; without a default country a national number is
 * refused with a reason that asks for the country code. The hint's example follows the same rule.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkPhone, parsePhoneInput, phoneExample } from '../../src/domain/mfa/phone-policy.js';

describe('phone numbers typed in national and international form', () => {
  it('reads every way a Dutch mobile number is written as the same E.164 number, with NL as default country', () => {
    for (const typed of [
      '06 12345678',
      '06-12345678',
      '0612345678',
      ' 06 1234 5678 ',
      '(06) 12345678',
      '+31 6 12345678',
      '+31612345678',
      '+31 (0)6 12345678',
      '0031612345678',
      '0031 6 1234 5678',
    ])
      assert.equal(parsePhoneInput(typed, 'NL'), '+31612345678', typed);
  });

  it('reads a national number in the default country only: 06 is Dutch in NL, and a landline in Belgium', () => {
    assert.equal(parsePhoneInput('020 1234567', 'NL'), '+31201234567');
    assert.equal(parsePhoneInput('0470 12 34 56', 'BE'), '+32470123456');
    assert.equal(parsePhoneInput('07400 123456', 'GB'), '+447400123456');
    // The international form wins over the default country.
    assert.equal(parsePhoneInput('+44 7400 123456', 'NL'), '+447400123456');
    assert.equal(parsePhoneInput('0044 7400 123456', 'NL'), '+447400123456');
  });

  it('reads the international form without a default country, and refuses the national form with its own code', () => {
    assert.equal(parsePhoneInput('+31 6 12345678', null), '+31612345678');
    assert.equal(parsePhoneInput('0031612345678', null), '+31612345678');
    assert.throws(() => parsePhoneInput('06 12345678', null), { code: 'phone_country_code_required' });
    assert.throws(() => parsePhoneInput('0612345678', null), { code: 'phone_country_code_required' });
  });

  it('refuses what is no phone number', () => {
    for (const typed of ['', '12345', '06 1234', 'call me', '06 12345678 ext 5', '+1', `+31${'6'.repeat(40)}`])
      assert.throws(() => parsePhoneInput(typed, 'NL'), { code: 'invalid_phone' }, typed);
    assert.throws(() => parsePhoneInput('+abc', null), { code: 'invalid_phone' });
  });

  it('leaves the country and type rules to checkPhone: a national number of a country not allowed is refused there', () => {
    const e164 = parsePhoneInput('0470 12 34 56', 'BE');
    assert.throws(() => checkPhone('sms', e164, ['NL']), { code: 'phone_country_not_allowed' });
    assert.doesNotThrow(() => checkPhone('sms', parsePhoneInput('06 12345678', 'NL'), ['NL']));
  });

  it("shows an example in the organization's national form, or in international form without a default country", () => {
    assert.equal(phoneExample('NL'), '06 12345678');
    assert.equal(phoneExample('GB'), '07400 123456');
    assert.equal(phoneExample(null), '+31 6 12345678');
    assert.equal(phoneExample(null, 'GB'), '+44 7400 123456');
  });
});
