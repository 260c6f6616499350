/**
 * Nextcloud's LDAP backend (user_ldap) against Sesame, as docs/nextcloud-ldap.md sets it up
 * (issue #19, item 6). Nextcloud itself cannot be installed here, so this replays, with Python's
 * ldap3 over LDAPS, the operations its source sends (apps/user_ldap/lib: Access.php, Wizard.php,
 * User_LDAP.php, Group_LDAP.php, User/Manager.php, ajax/testConfiguration.php; see the doc's "What
 * Nextcloud sends"), in its order and with its parameters: the service bind and "Test
 * Configuration", the wizard's detections and counts with paged results, the login search with
 * %uid replaced by an address and by a uid, then the user's bind (an app password allowed for
 * ldap: accepted; the main password once MFA is enforced: refused), the UUID detection and the
 * search by entryUUID, the user list with a search and an offset, group membership through
 * memberOf and member, and a renamed group found again by its entryUUID. (Users cannot be renamed
 * in Sesame: no rename of a user is replayed.)
 *
 * The filters and settings are read from the doc's fenced blocks, so a wrong value there fails here.
 * Runs on each store. Needs python3-ldap3, ldap-utils and openssl (scripts/test.sh installs them).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createContext, type AppContext } from '../../src/app/context.js';
import { loadConfig } from '../../src/config/config.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { User } from '../../src/domain/accounts/model.js';
import { PROTOCOLS } from '../../src/domain/app-passwords/model.js';
import { makeCertificates, run } from '../support/ldap-clients.js';
import { freePorts, ROOT, runSesameCli, serverEnv, startServer, type StartedServer } from '../support/processes.js';
import { makeTestStore, STORE_KINDS, type TestStore } from '../support/stores.js';

const DOC = fs.readFileSync(path.join(ROOT, 'docs/nextcloud-ldap.md'), 'utf8');

/** The body of the fenced block after `<!-- test: name -->` in the doc. */
function block(name: string): string {
  const m = new RegExp(`<!-- test: ${name} -->\\n\`\`\`[a-z]*\\n([\\s\\S]*?)\\n\`\`\``).exec(DOC);
  assert.ok(m, `docs/nextcloud-ldap.md has the block ${name}`);
  return m[1]!;
}

/** `occ ldap:set-config s01 KEY VALUE` lines of the doc, quotes removed; a "$VARIABLE" value is left out. */
function occSettings(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of block('nextcloud-occ').matchAll(/^occ ldap:set-config s01 (\w+) (?:'([^']*)'|"([^"]*)"|(\S+))$/gm)) {
    if (m[3] !== undefined) continue;
    out[m[1]!] = m[2] ?? m[4]!;
  }
  return out;
}

const OCC = occSettings();
const FILTERS = {
  user: block('nextcloud-user-filter').trim(),
  userGroup: block('nextcloud-user-filter-group').trim(),
  login: block('nextcloud-login-filter').trim(),
  group: block('nextcloud-group-filter').trim(),
};

const ANN = { address: 'ann@contoso.test', password: 'harbour-violet-lantern-42', name: 'Ann Lee' };
const BEN = { address: 'ben@contoso.test', password: 'granite-willow-ember-58', name: 'Ben Okafor' };
const CARL = { address: 'carl@contoso.test', password: 'orchard-silver-candle-19', name: 'Carl Gone' };
const FAY = { address: 'fay@fabrikam.test', password: 'river-amber-window-63', name: 'Fay Elsewhere' };
const ANN_DN = 'uid=ann,ou=people,dc=contoso,dc=test';
const BEN_DN = 'uid=ben,ou=people,dc=contoso,dc=test';
const groupDn = (cn: string) => `cn=${cn},ou=groups,dc=contoso,dc=test`;

/**
 * Nextcloud's LDAP calls in Python: `connect` (Connection::bind, a connection of its own), `search`
 * (LDAP::search as the wizard calls it, with a size limit), `paged` (Access::search/count: pages
 * until the cookie is empty), `read` (Access::readAttribute: scope base, one attribute, '' to test
 * existence), `escape` (ldap_escape for filters). The stdin body fills `out`, printed as JSON.
 */
const PY = `
import json, os, ssl, sys
from ldap3 import Server, Connection, Tls, BASE, SUBTREE
nc = json.loads(os.environ['NC'])
tls = Tls(ca_certs_file=os.environ['CA'], validate=ssl.CERT_REQUIRED)
server = Server('127.0.0.1', port=int(os.environ['LDAPS_PORT']), use_ssl=True, tls=tls, get_info=None)
PAGED = '1.2.840.113556.1.4.319'
UUID_ATTRIBUTES = ['entryuuid', 'nsuniqueid', 'objectguid', 'guid', 'ipauniqueid']
# User/Manager::getAttributes with this configuration (lower-cased, as Nextcloud sends them).
USER_ATTRIBUTES = UUID_ATTRIBUTES + ['dn', 'uid', 'samaccountname', 'memberof', nc['ldapExpertUUIDUserAttr'].lower(),
    nc['ldapEmailAttribute'].lower(), nc['ldapUserDisplayName'].lower(), 'jpegphoto', 'thumbnailphoto']

def connect(dn, password):
    c = Connection(server, user=dn, password=password, raise_exceptions=False, return_empty_attributes=False)
    c.open()
    c.bind()
    return c, c.result['result']

def entries(c):
    return [{'dn': r['dn'], 'attributes': {k.lower(): [v.decode('utf-8') for v in (vs or [])] for k, vs in r['raw_attributes'].items()}}
            for r in (c.response or []) if r['type'] == 'searchResEntry']

def search(c, base, flt, attrs, size_limit=0, types_only=False, scope=SUBTREE):
    c.search(base, flt, search_scope=scope, attributes=attrs, size_limit=size_limit, types_only=types_only)
    return {'code': c.result['result'], 'entries': entries(c)}

def page(c, base, flt, attrs, size, cookie=None):
    c.search(base, flt, search_scope=SUBTREE, attributes=attrs, paged_size=size, paged_cookie=cookie)
    control = (c.result.get('controls') or {}).get(PAGED)
    return c.result['result'], entries(c), (control['value']['cookie'] if control else None)

def paged(c, base, flt, attrs, size, limit=0):
    found, cookie, pages = [], None, 0
    while True:
        code, got, cookie = page(c, base, flt, attrs, size, cookie)
        if code != 0:
            return {'code': code, 'entries': found, 'pages': pages}
        found += got
        pages += 1
        if not cookie or (limit and len(found) >= limit):
            return {'code': 0, 'entries': found, 'pages': pages}

def read(c, dn, attr, flt='(objectClass=*)'):
    return search(c, dn, flt, [attr], scope=BASE)

def escape(v):
    return ''.join('\\\\%02x' % ord(ch) if ch in '\\\\*()\\x00' else ch for ch in v)

agent, agent_code = connect(nc['ldapAgentName'], os.environ['KEY'])
out = {'agent': agent_code}
exec(sys.stdin.read())
print(json.dumps(out))
`;

interface Found {
  code: number;
  entries: { dn: string; attributes: Record<string, string[]> }[];
  pages?: number;
}
const dnsOf = (f: Found) => f.entries.map((e) => e.dn.toLowerCase());

for (const kind of STORE_KINDS) {
  describe(`Nextcloud's LDAP backend, replayed with ldap3 (${kind})`, { timeout: 180_000 }, () => {
    let dir = '';
    let store: TestStore | undefined;
    let server: StartedServer | undefined;
    let ctx: AppContext | undefined;
    let ldapsPort = 0;
    let ca = '';
    let key = '';
    let orgId = '';
    const ids = { ann: '', ben: '', nextcloud: '', staff: '', empty: '' };
    const pw = { ann: '' };

    /** Runs `body` after the service bind, with the doc's settings (the test's port for the doc's host). */
    const py = async (body: string, env: Record<string, string> = {}) => {
      const nc = { ...OCC, userFilterGroup: FILTERS.userGroup };
      const r = await run(
        '/usr/bin/python3',
        ['-c', PY],
        { ...env, CA: ca, LDAPS_PORT: String(ldapsPort), KEY: key, NC: JSON.stringify(nc) },
        body,
      );
      assert.equal(r.code, 0, `python ldap3 failed: ${r.stderr}`);
      const out = JSON.parse(r.stdout) as Record<string, unknown>;
      assert.equal(out.agent, 0, 'the service bind (ldapAgentName and the integration key) succeeds');
      return out;
    };

    before(async () => {
      for (const tool of ['/usr/bin/ldapsearch', '/usr/bin/openssl', '/usr/lib/python3/dist-packages/ldap3'])
        if (!fs.existsSync(tool))
          throw new Error(`${tool} not found: install ldap-utils, openssl and python3-ldap3 (scripts/test.sh does)`);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nextcloud-ldap-'));
      const certs = await makeCertificates(dir);
      ca = certs.ca;
      store = await makeTestStore(kind);
      const [port, p1] = await freePorts(2);
      ldapsPort = p1!;
      const env = serverEnv(store.dataDir, port!, {
        DATABASE_URL: store.databaseUrl,
        SESAME_LDAPS_PORT: String(ldapsPort),
        SESAME_LDAP_TLS_CERT_FILE: certs.cert,
        SESAME_LDAP_TLS_KEY_FILE: certs.key,
        // Refusals on purpose, all from 127.0.0.1: the address must not lock.
        SESAME_IP_FAILURE_LIMIT: '10000',
      });
      const cli = (args: string[], stdin?: string) => runSesameCli(env, args, stdin, { stdoutOnly: true });
      await cli(['org', 'add', 'contoso.test', '--name', 'Contoso']);
      await cli(['org', 'add', 'fabrikam.test', '--name', 'Fabrikam']);
      for (const u of [ANN, BEN, CARL, FAY])
        await cli(['user', 'add', u.address, '--name', u.name, '--password-stdin'], `${u.password}\n`);
      for (const u of [ANN, CARL, FAY]) await cli(['user', 'mfa', u.address, 'enforced']);
      await cli(['user', 'mfa', BEN.address, 'disabled']);
      await cli(['user', 'disable', CARL.address]);
      // The doc's step: `npx sesame integration add nextcloud`; its key is ldapAgentPassword.
      key = (await cli(['integration', 'add', 'nextcloud'])).trim().split('\n').pop()!.trim();
      assert.match(key, /^sesame_int_/);

      ctx = await createContext(loadConfig(env));
      const user = async (address: string): Promise<User> => {
        const u = await ctx!.accounts.findUserByAddressOrNull(address);
        assert.ok(u);
        return u;
      };
      const ann = await user(ANN.address);
      ids.ann = ann.id;
      ids.ben = (await user(BEN.address)).id;
      orgId = ann.orgId;
      await ctx.mfaAdmin.setPolicy(OPERATOR, orgId, { appPasswords: { protocols: [...PROTOCOLS] } });
      const session = (
        await ctx.sessions.start(ann.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 'nextcloud test' }, Date.now())
      ).session;
      pw.ann = (await ctx.appPasswords.create(ann, session, 'Nextcloud', { ip: '127.0.0.1', locale: 'en' })).password;
      const group = async (name: string, members: string[]) => {
        const g = await ctx!.groups.create(OPERATOR, orgId, name);
        for (const m of members) await ctx!.groups.addMember(OPERATOR, orgId, g.id, m);
        return g.id;
      };
      ids.nextcloud = await group('Nextcloud', [ANN.address]);
      ids.staff = await group('Staff', [ANN.address, BEN.address]);
      ids.empty = await group('Empty', []);
      server = await startServer({ env, pollMs: 50 });
    });

    after(async () => {
      try {
        await ctx?.close();
        await server?.stop();
        await store?.dispose();
      } finally {
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("the doc's occ commands give the filters of its tabs, LDAPS on 636, and entryUUID for users and groups", () => {
      assert.equal(OCC.ldapUserFilter, FILTERS.user);
      assert.equal(OCC.ldapLoginFilter, FILTERS.login);
      assert.equal(OCC.ldapGroupFilter, FILTERS.group);
      assert.match(OCC.ldapHost!, /^ldaps:\/\//);
      assert.equal(OCC.ldapPort, '636');
      assert.equal(OCC.ldapTLS, '0', 'ldaps:// is TLS already: no StartTLS');
      assert.equal(OCC.ldapAgentName, 'cn=nextcloud,ou=services,dc=contoso,dc=test');
      assert.equal(OCC.ldapBase, 'dc=contoso,dc=test');
      assert.ok(FILTERS.login.includes('%uid'), 'Nextcloud refuses a login filter without %uid');
      const chunk = Number(OCC.ldapPagingSize);
      assert.ok(chunk > 0 && chunk <= 1000, "paging on, chunks no larger than Sesame's default size limit");
      for (const k of ['ldapExpertUUIDUserAttr', 'ldapExpertUUIDGroupAttr', 'ldapExpertUsernameAttr'])
        assert.equal(OCC[k], 'entryUUID', k);
    });

    it('Server tab: the service bind, Test Configuration (root DSE), Detect Base DN and Test Base DN; a wrong key is refused', async () => {
      const out = await py(`
out['rootDse'] = read(agent, '', 'dn')
base = nc['ldapAgentName'][nc['ldapAgentName'].lower().index('dc='):]
out['guessed'] = base
out['testBase'] = search(agent, base, '(objectClass=*)', ['dn'], size_limit=1)
out['countObjects'] = paged(agent, nc['ldapBase'], '(objectclass=*)', ['dn'], int(nc['ldapPagingSize']))
out['wrongKey'] = connect(nc['ldapAgentName'], 'sesame_int_' + 'x' * 43)[1]
`);
      const rootDse = out.rootDse as Found;
      assert.equal(rootDse.code, 0, 'not operationsError: Nextcloud would say anonymous binds are refused');
      assert.deepEqual(dnsOf(rootDse), ['']);
      assert.equal(out.guessed, OCC.ldapBase);
      const testBase = out.testBase as Found;
      assert.ok(testBase.code === 0 || testBase.code === 4, `size limit 1: ${testBase.code}`);
      assert.equal(testBase.entries.length, 1);
      // The suffix, ou=people, ou=groups, three groups, Ann and Ben (Carl is disabled, Fay elsewhere).
      const objects = out.countObjects as Found;
      assert.equal(objects.code, 0);
      assert.equal(objects.entries.length, 8, JSON.stringify(dnsOf(objects)));
      assert.equal(out.wrongKey, 49);
    });

    it('Users tab: the counts, with paged results of 500 and of 1; the group-only filter counts its members; the wizard picks uid, displayName and mail', async () => {
      const out = await py(`
uf = nc['ldapUserFilter']
count_filter = '(&' + uf + '(' + nc['ldapUserDisplayName'] + '=*))'
out['count'] = paged(agent, nc['ldapBaseUsers'], count_filter, ['dn'], int(nc['ldapPagingSize']))
out['countByOne'] = paged(agent, nc['ldapBaseUsers'], count_filter, ['dn'], 1)
out['countGroupOnly'] = paged(agent, nc['ldapBaseUsers'], '(&' + nc['userFilterGroup'] + '(displayName=*))', ['dn'], 500)
# Wizard::getUserAttributes: one entry of the user filter, types only, size limit 1, every user
# attribute (PHP sends an empty list; ldap3 would turn one into 1.1, so '*', its equal in RFC 4511).
first = search(agent, nc['ldapBase'], uf, ['*'], size_limit=1, types_only=True)
out['firstCode'] = first['code']
out['attributeNames'] = sorted(first['entries'][0]['attributes'].keys())
# countUsersWithAttribute: the display name (displayname, then cn) and the email field (mail, mailPrimaryAddress).
for a in ['displayname', 'cn', 'mail', 'mailPrimaryAddress']:
    out['with_' + a] = len(paged(agent, nc['ldapBaseUsers'], '(&' + uf + '(' + a + '=*))', ['dn'], 500)['entries'])
`);
      const count = out.count as Found;
      assert.equal(count.code, 0);
      assert.deepEqual(dnsOf(count).sort(), [ANN_DN, BEN_DN]);
      const byOne = out.countByOne as Found;
      assert.equal(byOne.pages, 2, 'one user per page, the cookie followed');
      assert.deepEqual(dnsOf(byOne).sort(), [ANN_DN, BEN_DN]);
      assert.deepEqual(dnsOf(out.countGroupOnly as Found), [ANN_DN], 'only the members of Nextcloud');
      assert.ok(out.firstCode === 0 || out.firstCode === 4);
      const names = out.attributeNames as string[];
      assert.ok(names.includes('uid') && names.includes('mail') && names.includes('displayname'), names.join());
      assert.ok(!names.includes('entryuuid'), 'operational: not among the attributes of a plain search');
      assert.equal(out.with_displayname, 2);
      assert.equal(out.with_mail, 2);
      assert.equal(out.with_mailPrimaryAddress, 0, 'so the wizard picks mail, as the doc says');
      assert.equal(OCC.ldapEmailAttribute, 'mail');
      assert.equal(OCC.ldapUserDisplayName, 'displayName');
    });

    it('Login: %uid replaced by the address or the uid finds Ann; her app password binds, her main password (MFA enforced) does not', async () => {
      const out = await py(
        `
def login(typed, flt=nc['ldapLoginFilter']):
    return paged(agent, nc['ldapBaseUsers'], flt.replace('%uid', escape(typed)), USER_ATTRIBUTES, int(nc['ldapPagingSize']))
for label, typed in [('address', 'ann@contoso.test'), ('uid', 'ann'), ('cased', 'ANN@Contoso.Test'),
                     ('unknown', 'zed@contoso.test'), ('disabled', 'carl'), ('elsewhere', 'fay@fabrikam.test'),
                     ('injection', 'ann)(uid=*'), ('star', '*')]:
    out[label] = login(typed)
# The wizard's own login filter (Wizard::composeLdapFilter with both boxes ticked).
wizard = '(&(|(objectclass=' + nc['ldapUserFilterObjectclass'] + '))(|(uid=%uid)(|(mailPrimaryAddress=%uid)(mail=%uid))))'
out['wizard'] = login('ann@contoso.test', wizard)
dn = out['address']['entries'][0]['dn']
out['appPassword'] = connect(dn, os.environ['ANN_APP_PASSWORD'])[1]
out['mainPassword'] = connect(dn, os.environ['ANN_PASSWORD'])[1]
out['ben'] = connect('${BEN_DN}', os.environ['BEN_PASSWORD'])[1]
`,
        { ANN_APP_PASSWORD: pw.ann, ANN_PASSWORD: ANN.password, BEN_PASSWORD: BEN.password },
      );
      for (const label of ['address', 'uid', 'cased', 'wizard']) {
        const f = out[label] as Found;
        assert.equal(f.code, 0, label);
        assert.deepEqual(dnsOf(f), [ANN_DN], label);
      }
      const record = (out.address as Found).entries[0]!.attributes;
      assert.deepEqual(record.entryuuid, [ids.ann], 'asked for by name with the user: entryUUID comes back');
      assert.deepEqual(record.mail, [ANN.address]);
      assert.deepEqual(record.displayname, [ANN.name]);
      for (const label of ['unknown', 'disabled', 'elsewhere', 'injection', 'star'])
        assert.deepEqual(dnsOf(out[label] as Found), [], label);
      assert.equal(out.appPassword, 0, 'an app password allowed for ldap binds');
      assert.equal(out.mainPassword, 49, 'the main password is refused once MFA is enforced');
      assert.equal(out.ben, 0, "Ben's main password binds while his MFA is not enforced");
    });

    it('UUID: entryuuid is the first attribute Nextcloud tries and answers; the internal username; a search by entryUUID; a user still there or gone', async () => {
      const out = await py(`
out['detected'] = None
for a in UUID_ATTRIBUTES:
    r = read(agent, '${ANN_DN}', a)
    if r['entries'] and r['entries'][0]['attributes'].get(a):
        out['detected'] = a
        out['uuid'] = r['entries'][0]['attributes'][a][0]
        break
out['username'] = read(agent, '${ANN_DN}', nc['ldapExpertUsernameAttr'])
uuid_filter = '(' + nc['ldapExpertUUIDUserAttr'] + '=' + out['uuid'] + ')'
out['byUuid'] = paged(agent, nc['ldapBaseUsers'], uuid_filter, ['dn'], 2, limit=2)
out['exists'] = read(agent, '${ANN_DN}', '', nc['ldapUserFilter'])
out['gone'] = read(agent, 'uid=carl,ou=people,dc=contoso,dc=test', '', nc['ldapUserFilter'])
`);
      assert.equal(out.detected, 'entryuuid');
      assert.equal(out.uuid, ids.ann, "entryUUID is the user's id in Sesame (and the OIDC sub)");
      const username = (out.username as Found).entries[0]!.attributes;
      assert.deepEqual(Object.values(username), [[ids.ann]]);
      assert.deepEqual(dnsOf(out.byUuid as Found), [ANN_DN]);
      const exists = out.exists as Found;
      assert.equal(exists.code, 0);
      assert.deepEqual(dnsOf(exists), [ANN_DN]);
      assert.equal((out.gone as Found).code, 32, 'a disabled user is no longer there (noSuchObject)');
    });

    it('ldapsearch: + returns the operational entryUUID and entryDN, * does not', async () => {
      const search = (...attrs: string[]) =>
        run(
          '/usr/bin/ldapsearch',
          [
            '-x',
            '-LLL',
            '-H',
            `ldaps://127.0.0.1:${ldapsPort}`,
            '-D',
            OCC.ldapAgentName!,
            '-w',
            key,
            '-b',
            ANN_DN,
            '-s',
            'base',
            '(objectClass=*)',
            ...attrs,
          ],
          { LDAPTLS_CACERT: ca, LDAPTLS_REQCERT: 'demand' },
        );
      const plus = await search('+');
      assert.equal(plus.code, 0, plus.stderr);
      assert.match(plus.stdout, new RegExp(`\\nentryUUID: ${ids.ann}\\n`));
      assert.match(plus.stdout, new RegExp(`\\nentryDN: ${ANN_DN}\\n`));
      assert.doesNotMatch(plus.stdout, /\nmail: /);
      const star = await search('*');
      assert.equal(star.code, 0, star.stderr);
      assert.match(star.stdout, /\nmail: ann@contoso\.test\n/);
      assert.doesNotMatch(star.stdout, /entryUUID/);
      const both = await search('*', '+');
      assert.match(both.stdout, /\nmail: ann@contoso\.test\n/);
      assert.match(both.stdout, /\nentryUUID: /);
    });

    it("Users page: Nextcloud's list with a search term, and a page at an offset through the cookie of the pages before", async () => {
      const out = await py(`
base_filter = '(&' + nc['ldapUserFilter'] + '(' + nc['ldapUserDisplayName'] + '=*)'
def term(t):
    attrs = nc['ldapAttributesForUserSearch'].split(';')
    return '(|' + ''.join('(' + a + '=' + t + ')(' + a + '=' + t + '*)' for a in attrs) + ')'
out['search'] = paged(agent, nc['ldapBaseUsers'], base_filter + term('ann') + ')', USER_ATTRIBUTES, 10, limit=10)
out['searchB'] = paged(agent, nc['ldapBaseUsers'], base_filter + term('BEN') + ')', USER_ATTRIBUTES, 10, limit=10)
everyone = base_filter + ')'
out['all'] = paged(agent, nc['ldapBaseUsers'], everyone, USER_ATTRIBUTES, 10, limit=10)
# getUsers(limit 1, offset 1): Access::initPagedSearch reads the page before for its cookie, then asks for the next.
code, skipped, cookie = page(agent, nc['ldapBaseUsers'], everyone, USER_ATTRIBUTES, 1)
code2, second, cookie2 = page(agent, nc['ldapBaseUsers'], everyone, USER_ATTRIBUTES, 1, cookie)
out['offset'] = {'codes': [code, code2], 'skipped': [e['dn'] for e in skipped], 'second': [e['dn'] for e in second], 'last': not cookie2}
`);
      assert.deepEqual(dnsOf(out.search as Found), [ANN_DN]);
      assert.deepEqual(dnsOf(out.searchB as Found), [BEN_DN], 'case does not matter');
      const all = dnsOf(out.all as Found);
      assert.deepEqual(all, [ANN_DN, BEN_DN]);
      const offset = out.offset as { codes: number[]; skipped: string[]; second: string[]; last: boolean };
      assert.deepEqual(offset.codes, [0, 0]);
      assert.deepEqual(
        [...offset.skipped, ...offset.second].map((d) => d.toLowerCase()),
        all,
      );
      assert.ok(offset.last, 'no cookie after the last page');
    });

    it('Groups tab and membership: the wizard finds groupOfNames and member; groups of a user by memberOf and by member; members of a group; entryUUID of a group', async () => {
      const out = await py(`
gf = nc['ldapGroupFilter']
wizard = '(&(|(objectclass=posixGroup)(objectclass=group)(objectclass=zimbraDistributionList)(objectclass=groupOfNames))(cn=*))'
out['fetchGroups'] = paged(agent, nc['ldapBaseGroups'], wizard, ['cn', 'dn'], 400)
out['countGroups'] = paged(agent, nc['ldapBaseGroups'], gf, ['dn'], 500)
assoc = search(agent, nc['ldapBase'], gf, ['uniqueMember', 'memberUid', 'member'], size_limit=1000)
out['assoc'] = [sorted(e['attributes'].keys()) for e in assoc['entries']]
# Wizard::testMemberOf: countUsers('memberOf=*', ['memberOf'], 1) (libldap adds the parentheses).
out['memberOfSupport'] = len(paged(agent, nc['ldapBaseUsers'], '(memberOf=*)', ['memberOf'], 1, limit=1)['entries'])
out['groupUuid'] = read(agent, '${groupDn('Staff')}', nc['ldapExpertUUIDGroupAttr'].lower())
member_of = read(agent, '${ANN_DN}', 'memberOf')['entries'][0]['attributes']['memberof']
out['memberOf'] = member_of
out['valid'] = [read(agent, g, '', gf)['code'] for g in member_of]
out['byMember'] = paged(agent, nc['ldapBaseGroups'], '(&(' + nc['ldapGroupMemberAssocAttr'] + '=${ANN_DN})' + gf + ')', ['member', 'cn', 'dn'], 500)
out['members'] = read(agent, '${groupDn('Staff')}', nc['ldapGroupMemberAssocAttr'])['entries'][0]['attributes']
out['empty'] = read(agent, '${groupDn('Empty')}', nc['ldapGroupMemberAssocAttr'])['entries'][0]['attributes']
nested = '(&' + nc['ldapUserFilter'] + '(displayName=*)(memberof:1.2.840.113556.1.4.1941:=${groupDn('Staff')}))'
out['nested'] = paged(agent, nc['ldapBaseUsers'], nested, USER_ATTRIBUTES, 500)
`);
      const names = (out.fetchGroups as Found).entries.map((e) => e.attributes.cn![0]).sort();
      assert.deepEqual(names, ['Empty', 'Nextcloud', 'Staff']);
      assert.equal((out.countGroups as Found).entries.length, 3);
      // Every group has member, the association the doc sets; those with members also memberUid
      // (posixGroup, for NAS boxes), which the wizard would pick first: hence the doc's explicit member.
      assert.ok(
        (out.assoc as string[][]).every((a) => a.includes('member') && !a.includes('uniquemember')),
        `member on every group: ${JSON.stringify(out.assoc)}`,
      );
      assert.equal(OCC.ldapGroupMemberAssocAttr, 'member');
      assert.equal(out.memberOfSupport, 1, 'memberOf=* finds a user: Nextcloud turns memberOf support on');
      const groupUuid = (out.groupUuid as Found).entries[0]!.attributes;
      assert.deepEqual(groupUuid.entryuuid, [ids.staff]);
      assert.deepEqual((out.memberOf as string[]).map((d) => d.toLowerCase()).sort(), [
        groupDn('nextcloud'),
        groupDn('staff'),
      ]);
      assert.deepEqual(out.valid, [0, 0], 'each group passes the group filter');
      assert.deepEqual(dnsOf(out.byMember as Found).sort(), [groupDn('nextcloud'), groupDn('staff')]);
      const members = out.members as Record<string, string[]>;
      assert.deepEqual(members.member!.map((d) => d.toLowerCase()).sort(), [ANN_DN, BEN_DN]);
      assert.deepEqual(
        (out.empty as Record<string, string[]>).member!.map((d) => d.toLowerCase()),
        [groupDn('empty')],
        'an empty group names itself, which Nextcloud drops ("a group cannot be a member of itself")',
      );
      const nested = out.nested as Found;
      assert.equal(nested.code, 0);
      assert.deepEqual(nested.entries, [], 'the in-chain matching rule is Undefined: Nextcloud falls back to member');
    });

    it('a renamed group keeps its entryUUID: Nextcloud finds it again under its new DN; the old DN is gone', async () => {
      const earlier = await py(
        `out['dn'] = paged(agent, nc['ldapBaseGroups'], '(entryUUID=${ids.staff})', ['dn', 'cn'], 2, limit=2)`,
      );
      assert.deepEqual(dnsOf(earlier.dn as Found), [groupDn('staff')]);
      await ctx!.groups.update(OPERATOR, orgId, ids.staff, 'Team', '');
      const out = await py(`
out['byUuid'] = paged(agent, nc['ldapBaseGroups'], '(' + nc['ldapExpertUUIDGroupAttr'] + '=${ids.staff})', ['dn', 'cn'], 2, limit=2)
out['old'] = read(agent, '${groupDn('Staff')}', '', nc['ldapGroupFilter'])
out['memberOf'] = read(agent, '${ANN_DN}', 'memberOf')['entries'][0]['attributes']['memberof']
`);
      const found = out.byUuid as Found;
      assert.deepEqual(dnsOf(found), [groupDn('team')]);
      assert.deepEqual(found.entries[0]!.attributes.cn, ['Team']);
      assert.equal((out.old as Found).code, 32);
      assert.ok((out.memberOf as string[]).some((d) => d.toLowerCase() === groupDn('team')));
    });
  });
}
