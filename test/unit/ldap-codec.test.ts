/**
 * The LDAP codec (src/adapters/ldap/ber.ts, protocol.ts) and the directory's matching
 * (directory.ts), against bytes OpenLDAP's own clients sent (captured from ldapwhoami and
 * ldapsearch 2.5 talking to a listener that recorded them), and round trips of what Sesame writes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BerError, BerReader, elementLength, integer, octets, TAG } from '../../src/adapters/ldap/ber.js';
import {
  decodeMessage,
  decodePagedControl,
  encodeEntry,
  encodeExtendedResponse,
  encodeResult,
  OID,
  OP,
  RESULT,
} from '../../src/adapters/ldap/protocol.js';
import {
  bindAddress,
  entryOf,
  groupNode,
  matches,
  MAX_PINNED,
  PERSON_ATTRIBUTES,
  parseDn,
  personDn,
  personNode,
  pinnedAddresses,
  suffixOf,
} from '../../src/adapters/ldap/directory.js';
import type { Filter } from '../../src/adapters/ldap/protocol.js';

const hex = (h: string) => Buffer.from(h, 'hex');

/** `ldapwhoami -x -D uid=ann,ou=people,dc=contoso,dc=test -w secret` (no TLS: the capture's only way to see it). */
const SIMPLE_BIND = hex(
  '3036020101603102010304247569643d616e6e2c6f753d70656f706c652c64633d636f6e746f736f2c64633d746573748006736563726574',
);
/** `ldapsearch -x` binds anonymously first. */
const ANONYMOUS_BIND = hex('300c020101600702010304008000');
/** `ldapwhoami -x -ZZ`: the StartTLS extended request. */
const START_TLS = hex('301d02010177188016312e332e362e312e342e312e313436362e3230303337');
/**
 * `ldapsearch -x -b dc=contoso,dc=test -z 5 -E pr=10/noprompt
 *   '(&(objectClass=inetOrgPerson)(|(cn=An*)(mail=*@contoso.test))(!(uid=bob)))' cn mail`
 */
const PAGED_SEARCH = hex(
  '3081af020102638184041264633d636f6e746f736f2c64633d746573740a01020a0100020105020100010100a053a31c040b6f626a656374436c617373040d696e65744f7267506572736f6ea125a40a0402636e30048002416ea41704046d61696c300f820d40636f6e746f736f2e74657374a20ca30a04037569640403626f62300a0402636e04046d61696ca02330210416312e322e3834302e3131333535362e312e342e3331390407300502010a0400',
);

describe('LDAP codec', () => {
  it("decodes OpenLDAP's simple and anonymous binds", () => {
    const m = decodeMessage(SIMPLE_BIND);
    assert.equal(m.id, 1);
    assert.equal(m.request.op, 'bind');
    if (m.request.op !== 'bind' || m.request.auth.kind !== 'simple') throw new Error('not a simple bind');
    assert.equal(m.request.version, 3);
    assert.equal(m.request.name, 'uid=ann,ou=people,dc=contoso,dc=test');
    assert.equal(m.request.auth.password.toString(), 'secret');
    const a = decodeMessage(ANONYMOUS_BIND);
    assert.deepEqual(a.request, {
      op: 'bind',
      version: 3,
      name: '',
      auth: { kind: 'simple', password: Buffer.alloc(0) },
    });
  });

  it('decodes the StartTLS request', () => {
    assert.deepEqual(decodeMessage(START_TLS), { id: 1, request: { op: 'extended', oid: OID.startTls }, controls: [] });
  });

  it("decodes ldapsearch's paged search with and, or, not, substrings and equality (a long length form)", () => {
    assert.equal(elementLength(PAGED_SEARCH, 1024), PAGED_SEARCH.length);
    const m = decodeMessage(PAGED_SEARCH);
    assert.equal(m.id, 2);
    assert.deepEqual(m.request, {
      op: 'search',
      baseObject: 'dc=contoso,dc=test',
      scope: 2,
      sizeLimit: 5,
      timeLimit: 0,
      typesOnly: false,
      filter: {
        type: 'and',
        filters: [
          { type: 'equality', attribute: 'objectClass', value: 'inetOrgPerson' },
          {
            type: 'or',
            filters: [
              { type: 'substrings', attribute: 'cn', initial: 'An', any: [] },
              { type: 'substrings', attribute: 'mail', any: [], final: '@contoso.test' },
            ],
          },
          { type: 'not', filter: { type: 'equality', attribute: 'uid', value: 'bob' } },
        ],
      },
      attributes: ['cn', 'mail'],
    });
    assert.equal(m.controls.length, 1);
    assert.equal(m.controls[0]!.type, OID.pagedResults);
    assert.equal(m.controls[0]!.critical, false);
    assert.deepEqual(decodePagedControl(m.controls[0]!.value), { size: 10, cookie: Buffer.alloc(0) });
  });

  it('frames a stream: undefined until the whole element is there, and refuses what LDAP never sends', () => {
    for (let n = 0; n < PAGED_SEARCH.length; n++)
      assert.equal(elementLength(PAGED_SEARCH.subarray(0, n), 1024), undefined);
    assert.throws(() => elementLength(PAGED_SEARCH, 100), BerError, 'over the size limit');
    assert.throws(() => elementLength(hex('3080'), 1024), /indefinite/);
    assert.throws(() => elementLength(hex('1f01'), 1024), /multi-byte tags/);
    assert.throws(() => elementLength(hex('3085ffffffffff'), 1024), /length too long/);
    // A truncated inner element is an error, not a read past the end.
    assert.throws(() => decodeMessage(hex('30050201016007')), BerError);
    assert.throws(() => decodeMessage(hex('3003020101')), BerError);
  });

  it('writes the shortest integers (X.690 8.3.2), and reads them back', () => {
    const cases: [number, string][] = [
      [0, '020100'],
      [127, '02017f'],
      [128, '02020080'],
      [256, '02020100'],
      [-1, '0201ff'],
      [-128, '020180'],
      [-129, '0202ff7f'],
      [2147483647, '02047fffffff'],
    ];
    for (const [n, h] of cases) {
      assert.equal(integer(n).toString('hex'), h, String(n));
      assert.equal(new BerReader(integer(n)).integer('n'), n);
    }
    // Long contents get the long length form.
    const long = octets('x'.repeat(300));
    assert.equal(long.subarray(0, 4).toString('hex'), '0482012c');
    assert.equal(new BerReader(long).string('s'), 'x'.repeat(300));
    assert.equal(new BerReader(octets('é', TAG.OCTET_STRING)).string('s'), 'é');
  });

  it('encodes responses as OpenLDAP expects them', () => {
    // What the capture answered ldapsearch's bind with, which it accepted.
    assert.equal(encodeResult(1, OP.bindResponse, RESULT.success).toString('hex'), '300c02010161070a010004000400');
    assert.equal(
      encodeResult(7, OP.addResponse, RESULT.unwillingToPerform, 'ro').toString('hex'),
      '300e02010769090a013504000402726f',
    );
    const whoami = encodeExtendedResponse(3, RESULT.success, '', { value: 'dn:uid=ann' });
    assert.equal(
      whoami.toString('hex'),
      `301802010378130a0100040004008b0a${Buffer.from('dn:uid=ann').toString('hex')}`,
    );
  });
});

describe('LDAP directory', () => {
  const org = { domain: 'contoso.test', name: 'Contoso' };
  const ann = personNode({ id: 'u1', address: 'ann.lee@contoso.test', name: 'Ann  Lee', posixId: 100001 }, org, []);

  it('names people by uid under ou=people of the domain, and maps bind names to addresses', () => {
    assert.equal(suffixOf('contoso.test'), 'dc=contoso,dc=test');
    assert.equal(personDn('ann.lee@contoso.test', 'contoso.test'), 'uid=ann.lee,ou=people,dc=contoso,dc=test');
    assert.equal(bindAddress('UID=Ann.Lee, OU=People, DC=Contoso, DC=Test'), 'ann.lee@contoso.test');
    assert.equal(bindAddress('ann.lee@contoso.test'), 'ann.lee@contoso.test');
    assert.equal(bindAddress('cn=admin,dc=contoso,dc=test'), undefined);
    assert.equal(bindAddress('uid=ann,ou=groups,dc=contoso,dc=test'), undefined);
    assert.equal(bindAddress('annlee'), undefined);
    assert.deepEqual(parseDn('cn=A\\2C B,dc=x'), [
      ['cn', 'a, b'],
      ['dc', 'x'],
    ]);
    assert.throws(() => parseDn('cn=a+sn=b,dc=x'));
    assert.throws(() => parseDn('nonsense'));
  });

  it('matches filters case-insensitively, with three-valued logic for what it cannot evaluate', () => {
    const m = (f: Parameters<typeof matches>[1]) => matches(ann, f);
    assert.ok(m({ type: 'equality', attribute: 'MAIL', value: 'Ann.Lee@Contoso.Test' }));
    assert.ok(m({ type: 'equality', attribute: 'objectclass', value: 'INETORGPERSON' }));
    assert.ok(m({ type: 'substrings', attribute: 'cn', initial: 'an', any: ['n l'], final: 'EE' }));
    assert.ok(!m({ type: 'substrings', attribute: 'cn', initial: 'lee', any: [] }));
    assert.ok(m({ type: 'present', attribute: 'displayName' }));
    assert.ok(!m({ type: 'present', attribute: 'memberOf' }), 'no groups yet');
    assert.ok(m({ type: 'not', filter: { type: 'equality', attribute: 'uid', value: 'bob' } }));
    assert.ok(!m({ type: 'extensible' }));
    assert.ok(!m({ type: 'not', filter: { type: 'extensible' } }), 'NOT Undefined is Undefined');
    assert.ok(m({ type: 'or', filters: [{ type: 'extensible' }, { type: 'present', attribute: 'uid' }] }));
    assert.ok(m({ type: 'and', filters: [] }), 'an empty and is true');
  });

  it('serves posixAccount and posixGroup (RFC 2307bis) for NAS boxes and hosts, numbers ordered as numbers', () => {
    const m = (f: Parameters<typeof matches>[1]) => matches(ann, f);
    assert.deepEqual(entryOf(ann, ['uidNumber', 'gidNumber', 'homeDirectory'], false).attributes, [
      ['uidNumber', ['100001']],
      ['gidNumber', ['100001']],
      ['homeDirectory', ['/home/ann.lee']],
    ]);
    assert.ok(m({ type: 'equality', attribute: 'objectClass', value: 'posixAccount' }));
    // As text "99999" sorts after "100001": the numbers must be compared as numbers.
    assert.ok(m({ type: 'greaterOrEqual', attribute: 'uidNumber', value: '99999' }));
    assert.ok(!m({ type: 'lessOrEqual', attribute: 'uidNumber', value: '99999' }));
    // Not a number: Undefined, so neither it nor its negation matches.
    const many = { type: 'greaterOrEqual', attribute: 'uidNumber', value: 'many' } as const;
    assert.ok(!m(many) && !m({ type: 'not', filter: many }));
    const staff = groupNode(
      { id: 'g7', name: 'Staff', posixId: 100007, members: ['ann.lee@contoso.test', 'bob@contoso.test'] },
      org,
    );
    assert.deepEqual(entryOf(staff, ['objectClass', 'gidNumber', 'memberUid'], false).attributes, [
      ['objectClass', ['top', 'groupOfNames', 'posixGroup']],
      ['gidNumber', ['100007']],
      ['memberUid', ['ann.lee', 'bob']],
    ]);
  });

  it('returns the attributes asked for, none for 1.1, and no values with typesOnly', () => {
    assert.deepEqual(entryOf(ann, ['mail', 'CN'], false).attributes, [
      ['mail', ['ann.lee@contoso.test']],
      ['cn', ['Ann  Lee']],
    ]);
    assert.deepEqual(entryOf(ann, ['1.1'], false).attributes, []);
    assert.deepEqual(entryOf(ann, ['uid'], true).attributes, [['uid', []]]);
    const all = entryOf(ann, [], false).attributes.map(([n]) => n);
    assert.deepEqual(all, [
      'objectClass',
      'uid',
      'mail',
      'cn',
      'displayName',
      'sn',
      'givenName',
      'uidNumber',
      'gidNumber',
      'homeDirectory',
    ]);
    const bytes = encodeEntry(4, entryOf(ann, ['uid'], false));
    assert.equal(elementLength(bytes, 1024), bytes.length);
  });

  const ANN_UUID = '0b6e2f6c-3f1e-4c55-9d7e-2a1f0c9b8d11';
  const STAFF_UUID = '5d0c8a3e-7a41-4f0b-8e2c-6b9d1e4f3a22';
  const annU = personNode({ id: ANN_UUID, address: 'ann.lee@contoso.test', name: 'Ann Lee', posixId: 100001 }, org, [
    'Staff',
  ]);
  const staff = groupNode({ id: STAFF_UUID, name: 'Staff', posixId: 100002, members: ['ann.lee@contoso.test'] }, org);

  it('gives people and groups their store id as entryUUID (RFC 4530), sent only by name or with + (RFC 3673)', () => {
    const names = (attrs: string[]) => entryOf(annU, attrs, false).attributes.map(([n]) => n);
    assert.ok(!names([]).includes('entryUUID'), 'not among the user attributes');
    assert.ok(!names(['*']).includes('entryUUID'));
    assert.deepEqual(entryOf(annU, ['entryuuid'], false).attributes, [['entryUUID', [ANN_UUID]]]);
    assert.deepEqual(entryOf(annU, ['+'], false).attributes, [
      ['entryUUID', [ANN_UUID]],
      ['entryDN', ['uid=ann.lee,ou=people,dc=contoso,dc=test']],
    ]);
    assert.deepEqual(names(['*', '+']), [
      'objectClass',
      'uid',
      'mail',
      'cn',
      'displayName',
      'sn',
      'givenName',
      'memberOf',
      'uidNumber',
      'gidNumber',
      'homeDirectory',
      'entryUUID',
      'entryDN',
    ]);
    assert.deepEqual(names(['1.1', '+']), ['entryUUID', 'entryDN'], '1.1 with others is ignored');
    assert.deepEqual(entryOf(annU, ['entryUUID'], true).attributes, [['entryUUID', []]]);
    assert.deepEqual(entryOf(staff, ['entryUUID', 'cn'], false).attributes, [
      ['cn', ['Staff']],
      ['entryUUID', [STAFF_UUID]],
    ]);
  });

  it('matches entryUUID in filters (what Nextcloud searches by once it has mapped a user), case-insensitively', () => {
    const eq = (value: string): Filter => ({ type: 'equality', attribute: 'entryUUID', value });
    assert.ok(matches(annU, eq(ANN_UUID.toUpperCase())));
    assert.ok(!matches(annU, eq(STAFF_UUID)));
    assert.ok(matches(staff, eq(STAFF_UUID)));
    assert.ok(matches(annU, { type: 'present', attribute: 'entryuuid' }));
    assert.ok(matches(annU, { type: 'and', filters: [{ type: 'present', attribute: 'objectClass' }, eq(ANN_UUID)] }));
  });

  it('pins the people a login filter names, through and/or, so a login reads them and not the organization', () => {
    const eq = (attribute: string, value: string): Filter => ({ type: 'equality', attribute, value });
    const or = (...filters: Filter[]): Filter => ({ type: 'or', filters });
    const and = (...filters: Filter[]): Filter => ({ type: 'and', filters });
    const pin = (f: Filter) => pinnedAddresses(f, 'contoso.test');
    assert.deepEqual(pin(eq('UID', 'Ann')), ['ann@contoso.test']);
    assert.deepEqual(pin(and(eq('objectClass', 'person'), eq('mail', 'Ann@Contoso.test'))), ['ann@contoso.test']);
    // Nextcloud's login filter with %uid replaced by what was typed: an address, or a uid.
    const login = (typed: string) => and(eq('objectclass', 'inetOrgPerson'), or(eq('uid', typed), eq('mail', typed)));
    assert.deepEqual(pin(login('ann@contoso.test')), ['ann@contoso.test@contoso.test', 'ann@contoso.test']);
    assert.deepEqual(pin(login('ann')), ['ann@contoso.test', 'ann']);
    // Its wizard's form: an attribute no person has cannot match, so it pins nobody.
    const wizard = and(
      or(eq('objectclass', 'inetOrgPerson')),
      or(eq('uid', 'ann'), or(eq('mailPrimaryAddress', 'ann'), eq('mail', 'ann'))),
    );
    assert.deepEqual(pin(wizard), ['ann@contoso.test', 'ann']);
    assert.deepEqual(pin(eq('mailPrimaryAddress', 'ann')), []);
    // Not pinned: a branch that may match anyone, a test of an attribute people have, too many lookups.
    assert.equal(pin(or(eq('uid', 'ann'), eq('cn', 'Bob'))), undefined);
    assert.equal(pin(eq('entryUUID', ANN_UUID)), undefined);
    assert.equal(pin({ type: 'present', attribute: 'objectClass' }), undefined);
    assert.equal(pin(or(...Array.from({ length: MAX_PINNED + 1 }, (_, i) => eq('uid', `u${i}`)))), undefined);
    // What pinning skips must be every attribute a person's entry can have.
    for (const key of [...annU.attributes.keys(), ...annU.operational.keys(), 'entrydn'])
      assert.ok(PERSON_ATTRIBUTES.has(key), key);
  });
});
