/**
 * Groups' pure rules (issue #19, item 1): what a group name may be and how names compare, the
 * description, and the membership CSV (header by name in any order and case, refusals with codes).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSesameError } from '../../src/domain/errors.js';
import { membershipRowsFromCsv } from '../../src/domain/groups/group-csv.js';
import {
  groupNameKey,
  isGroupUse,
  normalizeGroupDescription,
  normalizeGroupName,
} from '../../src/domain/groups/model.js';

const code = (f: () => unknown) => {
  try {
    f();
    return 'none';
  } catch (e) {
    return isSesameError(e) ? `${e.code} ${e.messageId}` : String(e);
  }
};
const bytes = (s: string) => new TextEncoder().encode(s);

describe('group names', () => {
  it('are trimmed and NFC-normalized; compared without case', () => {
    assert.equal(normalizeGroupName('  Cafe\u0301 staff '), 'Café staff');
    assert.equal(groupNameKey('Café STAFF'), groupNameKey('café staff'));
  });
  it('refuse empty, too long, control characters and commas, with the group sentence', () => {
    for (const bad of ['', '   ', 'x'.repeat(101), 'a\nb', 'a\u2028b', 'a,b'])
      assert.equal(
        code(() => normalizeGroupName(bad)),
        'invalid_name error.invalid_name.group',
        JSON.stringify(bad),
      );
    assert.equal(normalizeGroupName('x'.repeat(100)).length, 100);
  });
  it('descriptions: up to 500 characters, no control characters', () => {
    assert.equal(normalizeGroupDescription('  Mail apps  '), 'Mail apps');
    assert.equal(
      code(() => normalizeGroupDescription('x'.repeat(501))),
      'invalid_input error.invalid_input',
    );
    assert.equal(
      code(() => normalizeGroupDescription('a\u0000')),
      'invalid_input error.invalid_input',
    );
  });
  it('uses a group can limit', () => {
    assert.ok(isGroupUse('app_passwords') && isGroupUse('ldap') && isGroupUse('radius'));
    assert.ok(!isGroupUse('smtp') && !isGroupUse(undefined));
  });
});

describe('membership CSV', () => {
  it('reads the columns by name, in any order and case; other columns ignored; rows numbered as a spreadsheet shows them', () => {
    const rows = membershipRowsFromCsv(
      bytes('Name,GROUP,Address\r\nBob,Staff, bob@contoso.test \r\n\r\nAda,Mail,ada@contoso.test\r\n'),
    );
    assert.deepEqual(rows, [
      { row: 2, address: 'bob@contoso.test', group: 'Staff' },
      { row: 4, address: 'ada@contoso.test', group: 'Mail' },
    ]);
  });
  it('undoes the spreadsheet-formula guard an export adds', () => {
    assert.equal(membershipRowsFromCsv(bytes("address,group\r\nbob@contoso.test,'=Staff\r\n"))[0]!.group, '=Staff');
  });
  it('refuses a file without both columns, without rows, not UTF-8 or not CSV', () => {
    assert.equal(
      code(() => membershipRowsFromCsv(bytes('address\r\nbob@contoso.test\r\n'))),
      'csv_columns error.csv_columns.group',
    );
    assert.equal(
      code(() => membershipRowsFromCsv(bytes('address,group\r\n'))),
      'bulk_empty error.bulk_empty.group',
    );
    assert.equal(
      code(() => membershipRowsFromCsv(new Uint8Array([0xff, 0xfe, 0x61, 0]))).split(' ')[0],
      'csv_encoding',
    );
    assert.equal(
      code(() => membershipRowsFromCsv(bytes('address,group\r\n"bob,Staff\r\n'))).split(' ')[0],
      'csv_invalid',
    );
  });
});
