/**
 * Real consumers of the LDAP interface (issue #19, item 4), each with the config that
 * `sesame integration config apache` / `dovecot-ldap` writes from integrations/ (with a fresh
 * integration key), and a throwaway CA made with openssl:
 *
 *   - Apache httpd with mod_authnz_ldap (integrations/apache/sesame-ldap.conf) protecting /private:
 *     curl with Basic auth gets 200 for an app password allowed for ldap of a Staff member, and 401
 *     for the main password once MFA is enforced, a revoked app password, a disabled user, a user
 *     outside Staff (`Require ldap-group`, which Apache checks with an LDAP Compare), at once when a
 *     member leaves Staff (mod_ldap's caches are off).
 *   - Dovecot with the LDAP passdb and auth_bind (integrations/dovecot/conf.d/95-sesame-ldap.conf and
 *     dovecot-sesame-ldap.conf.ext): Python's imaplib logs in with an app password allowed for ldap,
 *     and is refused the main password once MFA is enforced, a revoked app password, a disabled
 *     user, and a user outside the group the organization requires for LDAP.
 *
 * Sesame runs as the real server with an LDAPS port; users, groups and app passwords are seeded
 * through an in-process context on the same store. Needs root and the Debian packages
 * scripts/test.sh installs (apache2, dovecot-imapd, dovecot-ldap, openssl, curl).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
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
import { waitForPort } from '../support/mail-servers.js';
import {
  freePorts,
  runSesameCli,
  serverEnv,
  startServer,
  type StartedServer,
  stopProcess,
} from '../support/processes.js';

const ANN = { address: 'ann@contoso.test', password: 'harbour-violet-lantern-42', name: 'Ann Staff' };
const BEN = { address: 'ben@contoso.test', password: 'granite-willow-ember-58', name: 'Ben Outside' };
const CARL = { address: 'carl@contoso.test', password: 'orchard-silver-candle-19', name: 'Carl Gone' };
const APACHE_MODULES = '/usr/lib/apache2/modules';
const APACHE = '/usr/sbin/apache2';
const DOVECOT = '/usr/sbin/dovecot';
const DOVECOT_LDAP = '/usr/lib/dovecot/modules/auth/libauthdb_ldap.so';

describe("LDAP consumers: Apache mod_authnz_ldap and Dovecot's LDAP passdb (real servers)", {
  timeout: 120_000,
}, () => {
  let dir = '';
  let server: StartedServer | undefined;
  let ctx: AppContext | undefined;
  let apache: ChildProcess | undefined;
  let apacheLog = '';
  let httpPort = 0;
  let dovecot: ChildProcess | undefined;
  let dovecotLog = '';
  let imapPort = 0;
  let orgId = '';
  let staffId = '';
  const pw = { ann: '', revoked: '', ben: '', carl: '' };
  const dlog = () => (dovecotLog && fs.existsSync(dovecotLog) ? fs.readFileSync(dovecotLog, 'utf8') : '');
  const log = () => (apacheLog && fs.existsSync(apacheLog) ? fs.readFileSync(apacheLog, 'utf8') : '');

  before(async () => {
    const tools = [
      APACHE,
      `${APACHE_MODULES}/mod_authnz_ldap.so`,
      DOVECOT,
      DOVECOT_LDAP,
      '/usr/bin/openssl',
      '/usr/bin/curl',
    ];
    for (const tool of tools)
      if (!fs.existsSync(tool))
        throw new Error(
          `${tool} not found: install apache2, dovecot-imapd, dovecot-ldap, openssl and curl (scripts/test.sh does)`,
        );
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ldap-consumers-'));
    const { ca, cert, key } = await makeCertificates(dir);

    const [port, ldapsPort, http, imap] = await freePorts(4);
    httpPort = http!;
    imapPort = imap!;
    const env = serverEnv(path.join(dir, 'data'), port!, {
      SESAME_LDAPS_PORT: String(ldapsPort),
      SESAME_LDAP_TLS_CERT_FILE: cert,
      SESAME_LDAP_TLS_KEY_FILE: key,
      // Refusals on purpose, all from 127.0.0.1: neither the address nor an account may lock.
      SESAME_IP_FAILURE_LIMIT: '10000',
    });
    fs.mkdirSync(env.SESAME_DATA_DIR!);
    const cli = (args: string[], stdin?: string) => runSesameCli(env, args, stdin, { stdoutOnly: true });
    await cli(['org', 'add', 'contoso.test', '--name', 'Contoso']);
    for (const u of [ANN, BEN, CARL]) {
      await cli(['user', 'add', u.address, '--name', u.name, '--password-stdin'], `${u.password}\n`);
      await cli(['user', 'mfa', u.address, 'enforced']);
    }
    ctx = await createContext(loadConfig(env));
    const user = async (address: string): Promise<User> => {
      const u = await ctx!.accounts.findUserByAddressOrNull(address);
      assert.ok(u);
      return u;
    };
    const [ann, ben, carl] = [await user(ANN.address), await user(BEN.address), await user(CARL.address)];
    // ldap is not in an organization's default policy: the admin turns it on.
    await ctx.mfaAdmin.setPolicy(OPERATOR, ann.orgId, { appPasswords: { protocols: [...PROTOCOLS] } });
    const meta = { ip: '127.0.0.1', locale: 'en' as const };
    const create = async (u: User, label: string) => {
      const { session } = await ctx!.sessions.start(
        u.id,
        ['pwd', 'otp'],
        { ip: '127.0.0.1', userAgent: 'test' },
        Date.now(),
      );
      return ctx!.appPasswords.create(u, session, label, meta);
    };
    pw.ann = (await create(ann, 'Intranet')).password;
    const revoked = await create(ann, 'Old laptop');
    pw.revoked = revoked.password;
    await ctx.appPasswords.remove(ann, revoked.appPassword.id);
    pw.ben = (await create(ben, 'Intranet')).password;
    pw.carl = (await create(carl, 'Intranet')).password;
    await cli(['user', 'disable', CARL.address]);
    const staff = await ctx.groups.create(OPERATOR, ann.orgId, 'Staff');
    for (const a of [ANN.address, CARL.address]) await ctx.groups.addMember(OPERATOR, ann.orgId, staff.id, a);
    orgId = ann.orgId;
    staffId = staff.id;

    server = await startServer({ env, pollMs: 50 });

    // What `sesame integration config` writes (with a fresh key), inside a server config of the
    // test's own (its root, port, logs and pid).
    const ldapFlags = ['--domain', 'contoso.test', '--ldap-host', '127.0.0.1', '--ldaps-port', String(ldapsPort)];
    const root = path.join(dir, 'apache');
    fs.mkdirSync(path.join(root, 'htdocs', 'private'), { recursive: true });
    fs.writeFileSync(path.join(root, 'htdocs', 'private', 'index.html'), 'staff only\n');
    // The group as typed (staff); the file names it as stored (Staff).
    const apacheFlags = ['--group', 'staff', '--location', '/private', '--realm', 'Contoso staff'];
    await cli(['integration', 'config', 'apache', '--out', root, ...ldapFlags, '--ca-file', ca, ...apacheFlags]);
    const shipped = path.join(root, 'conf-available', 'sesame-ldap.conf');
    apacheLog = path.join(root, 'error.log');
    const modules = ['mpm_prefork', 'authn_core', 'authz_core', 'auth_basic', 'ldap', 'authnz_ldap', 'dir'];
    fs.writeFileSync(
      path.join(root, 'httpd.conf'),
      [
        `ServerRoot ${root}`,
        ...modules.map((m) => `LoadModule ${m}_module ${APACHE_MODULES}/mod_${m}.so`),
        `Listen 127.0.0.1:${httpPort}`,
        'ServerName 127.0.0.1',
        // Root starts Apache; its children must not serve as root.
        'User www-data',
        'Group www-data',
        `PidFile ${path.join(root, 'httpd.pid')}`,
        `ErrorLog ${apacheLog}`,
        'LogLevel warn authnz_ldap:debug ldap:debug',
        `DocumentRoot ${path.join(root, 'htdocs')}`,
        'DirectoryIndex index.html',
        `Mutex file:${root}`,
        `DefaultRuntimeDir ${root}`,
        'StartServers 1',
        `Include ${shipped}`,
        '',
      ].join('\n'),
    );
    // Apache's children (www-data) read htdocs below it; mkdtemp made it 0700.
    fs.chmodSync(dir, 0o755);
    apache = spawn(APACHE, ['-f', path.join(root, 'httpd.conf'), '-DFOREGROUND'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      // Its own process group: prefork's shutdown signals the whole group Apache is in.
      detached: true,
    });
    let stderr = '';
    apache.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitForPort(httpPort, 60_000, 'Apache').catch((e: Error) => {
      throw new Error(`${e.message}\n${stderr}\n${log()}`);
    });

    // Dovecot: the shipped passdb and its LDAP settings, in a config of the test's own.
    const dc = path.join(dir, 'dovecot');
    fs.mkdirSync(path.join(dc, 'mail'), { recursive: true, mode: 0o777 });
    // The static userdb's uid (nobody) makes each user's maildir here; mkdir's mode is cut by the umask.
    fs.chmodSync(path.join(dc, 'mail'), 0o777);
    await cli(['integration', 'config', 'dovecot-ldap', '--out', dc, ...ldapFlags, '--ca-file', ca]);
    // The passdb names the settings file where the command wrote it.
    const passdb = fs.readFileSync(path.join(dc, 'conf.d', '95-sesame-ldap.conf'), 'utf8');
    dovecotLog = path.join(dc, 'dovecot.log');
    const dovecotConf = path.join(dc, 'dovecot.conf');
    fs.writeFileSync(
      dovecotConf,
      `# Private Dovecot for the test: loopback only, a free port, everything under ${dc}.
protocols = imap
listen = 127.0.0.1
base_dir = ${path.join(dc, 'run')}
state_dir = ${path.join(dc, 'state')}
log_path = ${dovecotLog}
default_login_user = dovenull
default_internal_user = dovecot
# A loopback client counts as secured: plaintext logins without TLS are allowed from it.
ssl = no
auth_verbose = yes
auth_mechanisms = plain login
mail_location = maildir:${path.join(dc, 'mail', '%u')}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=${path.join(dc, 'mail', '%u')}
}
service imap-login {
  inet_listener imap {
    port = ${imapPort}
  }
  inet_listener imaps {
    port = 0
  }
}
${passdb}
# Refusals on purpose, all from 127.0.0.1: no delay after a failed login, no growing penalty.
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`,
    );
    dovecot = spawn(DOVECOT, ['-F', '-c', dovecotConf], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let dovecotErr = '';
    dovecot.stderr?.on('data', (d: Buffer) => (dovecotErr += d.toString()));
    await waitForPort(imapPort, 60_000, 'Dovecot').catch((e: Error) => {
      throw new Error(`${e.message}\n${dovecotErr}\n${dlog()}`);
    });
  });

  after(async () => {
    try {
      await stopProcess(apache);
      await stopProcess(dovecot);
      await ctx?.close();
      await server?.stop();
    } finally {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  const get = async (address: string, password: string) => {
    const r = await run('/usr/bin/curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-u',
      `${address}:${password}`,
      `http://127.0.0.1:${httpPort}/private/`,
    ]);
    return r.stdout;
  };

  it("lets in a Staff member's app password allowed for ldap (200)", async () => {
    assert.equal(await get(ANN.address, pw.ann), '200', log());
  });

  it('refuses (401) the main password once MFA is enforced, a revoked app password, a disabled user, a non-member', async () => {
    for (const [label, address, password] of [
      ['main password, MFA enforced', ANN.address, ANN.password],
      ['revoked app password', ANN.address, pw.revoked],
      ['disabled user (a Staff member)', CARL.address, pw.carl],
      ['not in Staff', BEN.address, pw.ben],
      ['no password', ANN.address, ''],
    ])
      assert.equal(await get(address!, password!), '401', `${label}\n${log()}`);
    // Still good afterwards: nothing above locked Ann out.
    assert.equal(await get(ANN.address, pw.ann), '200', log());
  });

  it('Apache refuses a member as soon as they leave Staff, and lets them in again once back (no cache)', async () => {
    await ctx!.groups.removeMember(OPERATOR, orgId, staffId, ANN.address);
    try {
      assert.equal(await get(ANN.address, pw.ann), '401', log());
    } finally {
      await ctx!.groups.addMember(OPERATOR, orgId, staffId, ANN.address);
    }
    assert.equal(await get(ANN.address, pw.ann), '200', log());
  });

  /** Python's imaplib: LOGIN, then SELECT INBOX; prints ok or the server's refusal. */
  const imapLogin = async (address: string, password: string) => {
    const r = await run(
      '/usr/bin/python3',
      [
        '-c',
        `
import imaplib, os
m = imaplib.IMAP4('127.0.0.1', int(os.environ['PORT']), timeout=15)
try:
    m.login(os.environ['USER_ADDRESS'], os.environ['PASSWORD'])
    m.select('INBOX')
    print('ok')
except imaplib.IMAP4.error as e:
    print('refused', e)
m.logout()
`,
      ],
      { PORT: String(imapPort), USER_ADDRESS: address, PASSWORD: password },
    );
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };

  it('Dovecot (LDAP passdb, auth_bind) logs a user in with an app password allowed for ldap', async () => {
    assert.equal(await imapLogin(ANN.address, pw.ann), 'ok', dlog());
  });

  it('Dovecot refuses the main password once MFA is enforced, a revoked app password, a disabled user, a user outside the group LDAP requires', async () => {
    for (const [label, address, password] of [
      ['main password, MFA enforced', ANN.address, ANN.password],
      ['revoked app password', ANN.address, pw.revoked],
      ['disabled user', CARL.address, pw.carl],
    ])
      assert.match(await imapLogin(address!, password!), /^refused/, `${label}\n${dlog()}`);
    // Ben's app password works until LDAP is limited to Staff.
    assert.equal(await imapLogin(BEN.address, pw.ben), 'ok', dlog());
    await ctx!.groups.setLimit(OPERATOR, orgId, 'ldap', staffId);
    try {
      assert.match(await imapLogin(BEN.address, pw.ben), /^refused/, `not in Staff\n${dlog()}`);
      assert.equal(await imapLogin(ANN.address, pw.ann), 'ok', `a Staff member still logs in\n${dlog()}`);
    } finally {
      await ctx!.groups.setLimit(OPERATOR, orgId, 'ldap', null);
    }
  });

  it("the refusals are Sesame's: each reason is in the sign-in log with protocol ldap", async () => {
    const want = ['success/ok', 'failure/main_password_refused', 'failure/user_disabled', 'failure/not_in_group'];
    let reasons = new Set<string>();
    // The server writes its log in batches after answering.
    for (let i = 0; i < 50 && !want.every((w) => reasons.has(w)); i++) {
      if (i) await new Promise((r) => setTimeout(r, 100));
      const rows = await ctx!.store.db
        .selectFrom('sign_in_events')
        .select(['outcome', 'reason'])
        .where('protocol', '=', 'ldap')
        .execute();
      reasons = new Set(rows.map((r) => `${r.outcome}/${r.reason}`));
    }
    for (const w of want) assert.ok(reasons.has(w), `${w} in ${[...reasons].join(', ')}`);
    // The revoked app password is just a wrong password by then.
    assert.ok(reasons.has('failure/wrong_password'), [...reasons].join(', '));
  });
});
