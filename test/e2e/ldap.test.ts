/**
 * The LDAP interface end to end (issue #19, items 2 and 4): the real server process with
 * SESAME_LDAP_PORT (StartTLS) and SESAME_LDAPS_PORT, a throwaway CA made with openssl, and real
 * clients: OpenLDAP's ldapwhoami, ldapsearch and ldapdelete (Debian ldap-utils), and Python's ldap3.
 *
 *   - An app password allowed for `ldap` binds by DN and by address, over StartTLS and LDAPS;
 *     whoami answers the user's DN.
 *   - ldapsearch reads the organization's address book: active users only, the user's own
 *     organization only; a size limit is answered sizeLimitExceeded; ldap3 pages through it.
 *   - Refused, all with invalidCredentials (49): the main password once MFA is enforced, a revoked
 *     app password, a disabled user's, an app password for IMAP only. The main password of a user
 *     whose MFA is disabled binds, as on the mail protocols.
 *   - Anonymous binds get 48, a bind without TLS 13, a search before a bind 1, a write 53.
 *   - Every bind is in the sign-in log with protocol `ldap`.
 *   - A service bind (an integration key as the password of cn=<its name>,ou=services,dc=...) reads
 *     the organization its DN names; another name, an app password or a wrong key is refused.
 *   - Wrong main passwords lock the account (the smart lockout the other protocols share): then the
 *     right one is refused too, and the log says account_locked.
 *
 * Needs root and the Debian packages scripts/test.sh installs (ldap-utils, python3-ldap3, openssl).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createContext, type AppContext } from '../../src/app/context.js';
import { loadConfig } from '../../src/config/config.js';
import { KyselyPosixIds } from '../../src/storage/posix-ids.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { User } from '../../src/domain/accounts/model.js';
import { PROTOCOLS } from '../../src/domain/app-passwords/model.js';
import { makeCertificates, run } from '../support/ldap-clients.js';
import { freePorts, runSesameCli, serverEnv, startServer, type StartedServer } from '../support/processes.js';

const ANN = { address: 'ann@contoso.test', password: 'harbour-violet-lantern-42', name: 'Ann Enforced' };
const DAN = { address: 'dan@contoso.test', password: 'meadow-copper-quiet-77', name: 'Dan Disabled' };
const CARL = { address: 'carl@contoso.test', password: 'orchard-silver-candle-19', name: 'Carl Gone' };
const FAY = { address: 'fay@fabrikam.test', password: 'river-amber-window-63', name: 'Fay Elsewhere' };
const ANN_DN = 'uid=ann,ou=people,dc=contoso,dc=test';

/** The DNs in an LDIF answer. */
const dns = (ldif: string) =>
  ldif
    .split('\n')
    .filter((l) => l.startsWith('dn: '))
    .map((l) => l.slice(4));

/** ldap3 over StartTLS: binds (unless `user` is empty), then runs `body` with `conn`; prints JSON. */
const PY = `
import json, os, ssl, sys
from ldap3 import Server, Connection, Tls, SUBTREE, ALL
tls = Tls(ca_certs_file=os.environ['CA'], validate=ssl.CERT_REQUIRED)
server = Server('127.0.0.1', port=int(os.environ['LDAP_PORT']), tls=tls, get_info=ALL)
conn = Connection(server, user=os.environ.get('BIND') or None, password=os.environ.get('PW') or None)
conn.open()
conn.start_tls()
out = {}
if os.environ.get('BIND'):
    out['bind'] = conn.bind()
    out['bindResult'] = conn.result['result']
exec(sys.stdin.read())
print(json.dumps(out))
`;

describe('the LDAP interface with ldapwhoami, ldapsearch and ldap3 (real clients)', { timeout: 120_000 }, () => {
  let dir = '';
  let server: StartedServer | undefined;
  let ctx: AppContext | undefined;
  let env: NodeJS.ProcessEnv = {};
  let ldapPort = 0;
  let ldapsPort = 0;
  let ca = '';
  const pw = { book: '', imapOnly: '', revoked: '', carl: '' };
  /** The integration key of the service `printer` (`sesame integration add printer`). */
  let serviceKey = '';

  // Not LDAPNOINIT: it would drop the LDAPTLS_* variables too. A system ldap.conf only adds defaults
  // (a base or URI) that every call here gives explicitly.
  const tlsEnv = () => ({ LDAPTLS_CACERT: ca, LDAPTLS_REQCERT: 'demand' });
  /** ldapsearch over LDAPS as Ann with her address-book app password. */
  const annSearch = (base: string, extra: string[], filter: string, ...attrs: string[]) =>
    run(
      '/usr/bin/ldapsearch',
      [
        '-x',
        '-LLL',
        '-H',
        `ldaps://127.0.0.1:${ldapsPort}`,
        '-D',
        ANN.address,
        '-w',
        pw.book,
        '-b',
        base,
        ...extra,
        filter,
        ...attrs,
      ],
      tlsEnv(),
    );
  const whoami = (bind: string, password: string, how: 'starttls' | 'ldaps' = 'starttls') =>
    run(
      '/usr/bin/ldapwhoami',
      [
        '-x',
        '-H',
        how === 'ldaps' ? `ldaps://127.0.0.1:${ldapsPort}` : `ldap://127.0.0.1:${ldapPort}`,
        ...(how === 'starttls' ? ['-ZZ'] : []),
        '-D',
        bind,
        '-w',
        password,
      ],
      tlsEnv(),
    );
  const py = async (vars: Record<string, string>, body: string) => {
    const r = await run('/usr/bin/python3', ['-c', PY], { CA: ca, LDAP_PORT: String(ldapPort), ...vars }, body);
    assert.equal(r.code, 0, `python ldap3 failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };

  before(async () => {
    for (const tool of ['/usr/bin/ldapwhoami', '/usr/bin/ldapsearch', '/usr/bin/openssl'])
      if (!fs.existsSync(tool))
        throw new Error(`${tool} not found: install ldap-utils and openssl (scripts/test.sh does)`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ldap-e2e-'));
    // A throwaway CA and a certificate for 127.0.0.1 that it signs: the clients verify both.
    const made = await makeCertificates(dir);
    ca = made.ca;
    const { cert, key } = made;

    const [port, p1, p2] = await freePorts(3);
    ldapPort = p1!;
    ldapsPort = p2!;
    env = serverEnv(path.join(dir, 'data'), port!, {
      SESAME_LDAP_PORT: String(ldapPort),
      SESAME_LDAPS_PORT: String(ldapsPort),
      SESAME_LDAP_TLS_CERT_FILE: cert,
      SESAME_LDAP_TLS_KEY_FILE: key,
      // Refusals on purpose, all from 127.0.0.1: the client IP is never locked. The account limit
      // is low for the lockout test (no other test fails one account's main password twice).
      SESAME_ACCOUNT_FAILURE_LIMIT: '5',
      SESAME_IP_FAILURE_LIMIT: '10000',
    });
    fs.mkdirSync(env.SESAME_DATA_DIR!);
    const cli = (args: string[], stdin?: string) => runSesameCli(env, args, stdin, { stdoutOnly: true });
    await cli(['org', 'add', 'contoso.test', '--name', 'Contoso']);
    await cli(['org', 'add', 'fabrikam.test', '--name', 'Fabrikam']);
    for (const u of [ANN, DAN, CARL, FAY])
      await cli(['user', 'add', u.address, '--name', u.name, '--password-stdin'], `${u.password}\n`);
    for (const u of [ANN, CARL, FAY]) await cli(['user', 'mfa', u.address, 'enforced']);
    await cli(['user', 'mfa', DAN.address, 'disabled']);
    serviceKey = (await cli(['integration', 'add', 'printer'])).trim().split('\n').pop()!.trim();
    assert.match(serviceKey, /^sesame_int_/);

    ctx = await createContext(loadConfig(env));
    const user = async (address: string) => {
      const u = await ctx!.accounts.findUserByAddressOrNull(address);
      assert.ok(u);
      return u;
    };
    const ann: User = await user(ANN.address);
    const carl: User = await user(CARL.address);
    const meta = { ip: '127.0.0.1', locale: 'en' as const };
    const session = async (u: User) =>
      (await ctx!.sessions.start(u.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 'ldap test' }, Date.now()))
        .session;
    const setProtocols = (protocols: (typeof PROTOCOLS)[number][]) =>
      ctx!.mfaAdmin.setPolicy(OPERATOR, ann.orgId, { appPasswords: { protocols } });
    // ldap is not in an organization's default policy: the admin turns it on.
    await setProtocols([...PROTOCOLS]);
    const annSession = await session(ann);
    pw.book = (await ctx.appPasswords.create(ann, annSession, 'Address book', meta)).password;
    const revoked = await ctx.appPasswords.create(ann, annSession, 'Old laptop', meta);
    pw.revoked = revoked.password;
    await ctx.appPasswords.remove(ann, revoked.appPassword.id);
    pw.carl = (await ctx.appPasswords.create(carl, await session(carl), 'Carl', meta)).password;
    await setProtocols(['imap']);
    pw.imapOnly = (await ctx.appPasswords.create(ann, annSession, 'Phone', meta)).password;
    await setProtocols([...PROTOCOLS]);
    await cli(['user', 'disable', CARL.address]);

    server = await startServer({ env, pollMs: 50 });
  });

  after(async () => {
    try {
      await ctx?.close();
      await server?.stop();
    } finally {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an app password allowed for ldap binds by DN or address, over StartTLS and LDAPS; whoami says the DN', async () => {
    for (const [bind, how] of [
      [ANN_DN, 'starttls'],
      [ANN.address, 'starttls'],
      [ANN_DN, 'ldaps'],
      ['UID=Ann, OU=People, DC=Contoso, DC=Test', 'ldaps'],
    ] as const) {
      const r = await whoami(bind, pw.book, how);
      assert.equal(r.code, 0, `${bind} over ${how}: ${r.stderr}`);
      assert.equal(r.stdout.trim(), `dn:${ANN_DN}`);
    }
  });

  it("ldapsearch reads the organization's address book: active users of the bound user's organization only", async () => {
    const search = (extra: string[], filter: string, ...attrs: string[]) =>
      annSearch('ou=people,dc=contoso,dc=test', extra, filter, ...attrs);
    const all = await search([], '(objectClass=inetOrgPerson)', 'uid', 'mail', 'cn', 'displayName');
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(dns(all.stdout), [ANN_DN, 'uid=dan,ou=people,dc=contoso,dc=test'], 'Carl is disabled');
    assert.match(all.stdout, /\nmail: dan@contoso\.test\n/);
    assert.match(all.stdout, /\ndisplayName: Dan Disabled\n/);
    // The usual address-book query: a substring of the name or the address, case-insensitive.
    const typed = await search([], '(|(cn=*DAN*)(mail=dan*))', 'mail');
    assert.deepEqual(dns(typed.stdout), ['uid=dan,ou=people,dc=contoso,dc=test']);
    // A lookup by uid or mail (as Dovecot or Apache sends) reads that one user from the store.
    const one = await search([], '(&(objectClass=person)(mail=DAN@contoso.test))', 'uid');
    assert.deepEqual(dns(one.stdout), ['uid=dan,ou=people,dc=contoso,dc=test']);
    const disabled = await search([], '(uid=carl)', 'uid');
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.deepEqual(dns(disabled.stdout), [], 'a disabled user is not found by uid either');
    // A size limit: one entry, then sizeLimitExceeded (4).
    const limited = await search(['-z', '1'], '(uid=*)', 'uid');
    assert.equal(limited.code, 4, limited.stderr);
    assert.equal(dns(limited.stdout).length, 1);
    // Another organization is not there for Ann, whatever she asks.
    const other = await run(
      '/usr/bin/ldapsearch',
      [
        '-x',
        '-H',
        `ldaps://127.0.0.1:${ldapsPort}`,
        '-D',
        ANN.address,
        '-w',
        pw.book,
        '-b',
        'dc=fabrikam,dc=test',
        '(objectClass=*)',
      ],
      tlsEnv(),
    );
    assert.equal(other.code, 32, 'noSuchObject');
    assert.doesNotMatch(other.stdout, /fay/);
    // Nor by the keys that are unique across organizations: Fay's POSIX number and entryUUID.
    const fay = (await ctx!.accounts.findUserByAddressOrNull(FAY.address))!;
    const fayNumber = (await new KyselyPosixIds(ctx!.store.db).numbersFor([fay.id])).get(fay.id)!;
    for (const filter of [
      `(uidNumber=${fayNumber})`,
      `(gidNumber=${fayNumber})`,
      `(entryUUID=${fay.id})`,
      `(|(mail=${FAY.address})(uid=fay))`,
    ]) {
      const r = await annSearch('dc=contoso,dc=test', [], filter, 'uid');
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(dns(r.stdout), [], `${filter} finds no one of another organization`);
    }
  });

  it('refused with invalidCredentials: the main password once MFA is enforced, a revoked app password, a disabled user, an IMAP-only app password', async () => {
    for (const [label, bind, password] of [
      ['main password, MFA enforced', ANN_DN, ANN.password],
      ['revoked app password', ANN_DN, pw.revoked],
      ['disabled user', 'uid=carl,ou=people,dc=contoso,dc=test', pw.carl],
      ['IMAP-only app password', ANN.address, pw.imapOnly],
      ['a DN outside ou=people', 'cn=admin,dc=contoso,dc=test', pw.book],
    ]) {
      const r = await whoami(bind!, password!);
      assert.equal(r.code, 49, `${label}: ${r.stderr}`);
    }
    // ldap3 is refused alike (49, invalidCredentials), over StartTLS.
    for (const [label, bind, password] of [
      ['ldap3: main password, MFA enforced', ANN.address, ANN.password],
      ['ldap3: revoked app password', ANN_DN, pw.revoked],
      ['ldap3: disabled user', 'carl@contoso.test', pw.carl],
    ]) {
      const out = await py({ BIND: bind!, PW: password! }, '');
      assert.deepEqual([out.bind, out.bindResult], [false, 49], label);
    }
    // The main password while MFA is disabled follows the mail protocols' rule: accepted.
    const dan = await whoami(DAN.address, DAN.password, 'ldaps');
    assert.equal(dan.code, 0, dan.stderr);
    assert.equal(dan.stdout.trim(), 'dn:uid=dan,ou=people,dc=contoso,dc=test');
  });

  it('anonymous binds (48), binds without TLS (13), searches before a bind (1) and writes (53) are refused', async () => {
    const anonymous = await run('/usr/bin/ldapwhoami', ['-x', '-H', `ldap://127.0.0.1:${ldapPort}`, '-ZZ'], tlsEnv());
    assert.equal(anonymous.code, 48, anonymous.stderr);
    const plain = await run(
      '/usr/bin/ldapwhoami',
      ['-x', '-H', `ldap://127.0.0.1:${ldapPort}`, '-D', ANN_DN, '-w', pw.book],
      tlsEnv(),
    );
    assert.equal(plain.code, 13, plain.stderr);
    const del = await run(
      '/usr/bin/ldapdelete',
      [
        '-x',
        '-H',
        `ldaps://127.0.0.1:${ldapsPort}`,
        '-D',
        ANN_DN,
        '-w',
        pw.book,
        'uid=dan,ou=people,dc=contoso,dc=test',
      ],
      tlsEnv(),
    );
    assert.equal(del.code, 53, del.stderr);
    // ldap3 opens, starts TLS and searches without binding; then reads the root DSE.
    const out = await py(
      {},
      `
conn.search('dc=contoso,dc=test', '(objectClass=*)', search_scope=SUBTREE, attributes=['mail'])
out['search'] = conn.result['result']
out['entries'] = len(conn.entries)
out['versions'] = [str(v) for v in server.info.supported_ldap_versions]
out['contexts'] = [str(v) for v in (server.info.naming_contexts or [])]
`,
    );
    assert.equal(out.search, 1, 'operationsError');
    assert.equal(out.entries, 0);
    assert.deepEqual(out.versions, ['3']);
    assert.deepEqual(out.contexts, [], 'no organization is named before a bind');
  });

  it('ldap3 binds over StartTLS, asks whoami, pages through the people and is refused a write', async () => {
    const out = await py(
      { BIND: ANN_DN, PW: pw.book },
      `
out['whoami'] = conn.extend.standard.who_am_i()
pages = conn.extend.standard.paged_search('dc=contoso,dc=test', '(objectClass=person)', search_scope=SUBTREE, attributes=['uid', 'memberOf'], paged_size=1, generator=False)
out['uids'] = sorted(str(e['attributes']['uid'][0]) for e in pages)
out['memberOf'] = [e['attributes'].get('memberOf', []) for e in pages]
conn.add('uid=eve,ou=people,dc=contoso,dc=test', 'inetOrgPerson', {'sn': 'Eve', 'cn': 'Eve'})
out['add'] = conn.result['result']
conn.search('', '(objectClass=*)', search_scope='BASE', attributes=['namingContexts'])
out['contexts'] = [str(v) for v in conn.entries[0]['namingContexts']]
`,
    );
    assert.equal(out.bind, true);
    assert.equal(out.whoami, `dn:${ANN_DN}`);
    assert.deepEqual(out.uids, ['ann', 'dan']);
    assert.deepEqual(out.memberOf, [[], []], 'no groups yet');
    assert.equal(out.add, 53, 'unwillingToPerform');
    assert.deepEqual(out.contexts, ['dc=contoso,dc=test'], 'the bound user sees their own organization');
  });

  it("a service bind (an integration key, cn=<its name>,ou=services) reads the named organization's address book", async () => {
    const printer = 'cn=printer,ou=services,dc=contoso,dc=test';
    const who = await whoami(printer, serviceKey, 'ldaps');
    assert.equal(who.code, 0, who.stderr);
    assert.equal(who.stdout.trim(), `dn:${printer}`);
    const book = await run(
      '/usr/bin/ldapsearch',
      [
        '-x',
        '-LLL',
        '-H',
        `ldap://127.0.0.1:${ldapPort}`,
        '-ZZ',
        '-D',
        printer,
        '-w',
        serviceKey,
        '-b',
        'ou=people,dc=contoso,dc=test',
        '(mail=*)',
        'mail',
      ],
      tlsEnv(),
    );
    assert.equal(book.code, 0, book.stderr);
    assert.deepEqual(dns(book.stdout), [ANN_DN, 'uid=dan,ou=people,dc=contoso,dc=test']);
    // Another integration's name, an app password, or a wrong key: refused.
    for (const [bind, password] of [
      ['cn=dovecot,ou=services,dc=contoso,dc=test', serviceKey],
      [printer, pw.book],
      [printer, `sesame_int_${'A'.repeat(43)}`],
      ['cn=printer,ou=services,dc=nowhere,dc=test', serviceKey],
    ]) {
      const r = await whoami(bind!, password!);
      assert.equal(r.code, 49, `${bind}: ${r.stderr}`);
    }
  });

  it("groups (#19, item 1): ou=groups and memberOf show the organization's groups; a group required for LDAP refuses a non-member's app password (49, not_in_group) until they are added", async () => {
    const org = (await ctx!.accounts.organizationByDomain('contoso.test')).id;
    const staff = await ctx!.groups.create(OPERATOR, org, 'Staff');
    await ctx!.groups.addMember(OPERATOR, org, staff.id, ANN.address);
    const search = (base: string, filter: string, ...attrs: string[]) => annSearch(base, [], filter, ...attrs);
    const ann = await search('ou=people,dc=contoso,dc=test', '(uid=ann)', 'memberOf');
    assert.equal(ann.code, 0, ann.stderr);
    assert.match(ann.stdout, /\nmemberOf: cn=Staff,ou=groups,dc=contoso,dc=test\n/i);
    const groups = await search('ou=groups,dc=contoso,dc=test', '(objectClass=groupOfNames)', 'cn', 'member');
    assert.equal(groups.code, 0, groups.stderr);
    assert.match(groups.stdout, /\ncn: Staff\n/);
    assert.match(groups.stdout, new RegExp(`\\nmember: ${ANN_DN}\\n`, 'i'));
    // LDAP only for the members of another group: Ann's app password is refused, then works once she is in it.
    const ldapUsers = await ctx!.groups.create(OPERATOR, org, 'LDAP users');
    await ctx!.groups.setLimit(OPERATOR, org, 'ldap', ldapUsers.id);
    try {
      const refused = await whoami(ANN.address, pw.book, 'ldaps');
      assert.equal(refused.code, 49, refused.stderr);
      const refused3 = await py({ BIND: ANN.address, PW: pw.book }, '');
      assert.deepEqual([refused3.bind, refused3.bindResult], [false, 49], 'ldap3: outside the group LDAP requires');
      await ctx!.groups.addMember(OPERATOR, org, ldapUsers.id, ANN.address);
      const allowed = await whoami(ANN.address, pw.book, 'ldaps');
      assert.equal(allowed.code, 0, allowed.stderr);
    } finally {
      await ctx!.groups.setLimit(OPERATOR, org, 'ldap', null);
    }
    // The server writes the sign-in log in batches: wait for the row.
    let reasons: { reason: string; protocol: string }[] = [];
    for (let i = 0; i < 50 && !reasons.some((r) => r.protocol === 'ldap'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      reasons = await ctx!.store.db
        .selectFrom('sign_in_events')
        .select(['reason', 'protocol'])
        .where('address_typed', '=', ANN.address)
        .where('reason', '=', 'not_in_group')
        .execute();
    }
    assert.ok(
      reasons.some((r) => r.protocol === 'ldap'),
      JSON.stringify(reasons),
    );
  });

  it('every bind is in the sign-in log with protocol ldap', async () => {
    const read = () =>
      ctx!.store.db
        .selectFrom('sign_in_events')
        .select(['outcome', 'reason', 'address_typed', 'attempts'])
        .where('protocol', '=', 'ldap')
        .execute();
    // The server writes its log in batches after answering.
    let rows = await read();
    for (let i = 0; i < 50 && !rows.some((r) => r.reason === 'protocol_not_allowed'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      rows = await read();
    }
    const reasons = new Set(rows.map((r) => `${r.outcome}/${r.reason}`));
    for (const want of [
      'success/ok',
      'failure/main_password_refused',
      'failure/wrong_password',
      'failure/user_disabled',
      'failure/protocol_not_allowed',
      'failure/invalid_input',
    ])
      assert.ok(reasons.has(want), `${want} in ${[...reasons].join(', ')}`);
    // A DN is logged as the address it names: the log is searched by address.
    assert.ok(rows.some((r) => r.address_typed === ANN.address && r.outcome === 'success'));
  });

  it('wrong main passwords lock the account for ldap, as on the mail protocols: then even the right one is refused', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await whoami(DAN.address, `not-dans-password-${i}`, 'ldaps');
      assert.equal(r.code, 49, r.stderr);
    }
    const locked = await whoami(DAN.address, DAN.password, 'ldaps');
    assert.equal(locked.code, 49, 'locked: the right password is refused too');
    let rows: { reason: string }[] = [];
    for (let i = 0; i < 50 && !rows.length; i++) {
      rows = await ctx!.store.db
        .selectFrom('sign_in_events')
        .select(['reason'])
        .where('protocol', '=', 'ldap')
        .where('address_typed', '=', DAN.address)
        // Dan signed in from 127.0.0.1 before: a familiar network, with its own counter.
        .where('reason', 'in', ['account_locked', 'account_locked_familiar'])
        .execute();
      if (!rows.length) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(rows.length > 0, 'account_locked in the sign-in log');
  });
});
