/**
 * `sesame integration config <target>`, the real CLI beside the real server (SQLite, a free loopback
 * port): every target renders with no placeholder left; --out writes each file at its place with its
 * mode (and, as root, its group); the key in the files is a fresh, working integration key; wrong
 * usage (no target, a missing required flag, https for nginx's auth_http, a taken name, an unknown
 * organization or group for the LDAP consumers) exits 2 or 1 and leaves no integration behind. The
 * LDAP consumers (apache, dovecot-ldap): base DN, bind DN, group and paths filled in, the key only
 * in files of mode 0600. That the files work on stock servers is for test/e2e/integrations-*.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CONFIG_TARGETS } from '../../src/cli/integration-config/index.js';
import { TEMPLATES } from '../../src/cli/integration-config/model.js';
import { freePort, ROOT, serverEnv, startServer, type StartedServer } from '../support/processes.js';

interface Run {
  code: number | null;
  out: string;
  err: string;
}

function sesame(env: NodeJS.ProcessEnv, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/sesame.js', ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

/** The flags every required setting of a target needs, with a plausible value. */
function requiredFlags(name: string): string[] {
  const target = CONFIG_TARGETS.find((t) => t.name === name)!;
  const plausible: Record<string, string> = {
    address: '192.0.2.1',
    certificate: '/etc/ssl/certs/mail.example.com.pem',
    'certificate-key': '/etc/ssl/private/mail.example.com.key',
    domain: 'example.com',
    site: 'dav.example.com',
    hostname: 'mail.example.com',
    upstream: 'http://127.0.0.1:5232',
    // The organization and group the before() hook makes (the LDAP targets check both exist).
    group: 'Mail Staff',
    location: '/intranet',
    'ldap-host': 'ldap.example.com',
  };
  return target.settings
    .filter((s) => s.default === undefined && !s.optional)
    .flatMap((s) => [`--${s.flag}`, plausible[s.flag] ?? `x-${s.flag}`]);
}

describe('sesame integration config', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let server: StartedServer;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-intconf-'));
    const port = await freePort();
    env = serverEnv(path.join(dir, 'data'), port);
    server = await startServer({ env });
    for (const args of [
      ['org', 'add', 'example.com', '--name', 'Example'],
      ['group', 'add', 'example.com', 'Mail Staff'],
    ]) {
      const r = await sesame(env, args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
    }
  });
  after(async () => {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /**
   * The integrations' lines of `sesame integration list` (name and when added), without their
   * "last seen" lines: the server records a key's use after answering, so those change by themselves.
   */
  async function integrationNames(): Promise<string> {
    const out = (await sesame(env, ['integration', 'list'])).out;
    return out
      .split('\n')
      .filter((l) => l && !/^\s/.test(l))
      .join('\n');
  }

  it('renders every target with nothing left to fill in, each file after a ==> path <== line', async () => {
    // Four at a time: each is its own process (and its own integration name), and all ten at once
    // outlast the 30 s each may take on a busy two-core machine.
    const runs: Run[] = [];
    for (let i = 0; i < CONFIG_TARGETS.length; i += 4)
      runs.push(
        ...(await Promise.all(
          CONFIG_TARGETS.slice(i, i + 4).map((t) =>
            sesame(env, ['integration', 'config', t.name, '--name', `all-${t.name}`, ...requiredFlags(t.name)]),
          ),
        )),
      );
    for (const [i, t] of CONFIG_TARGETS.entries()) {
      const r = runs[i]!;
      assert.equal(r.code, 0, `${t.name}: ${r.err}`);
      for (const f of t.files)
        assert.ok(r.out.includes(`==> ${path.posix.join(t.folder, f.path)} <==`), `${t.name}: ${f.path}`);
      assert.doesNotMatch(r.out, /@[A-Z][A-Z0-9_]*@/, `${t.name}: a placeholder left`);
      // Postfix asks Dovecot, not Sesame: only targets that call Sesame carry its URL.
      const callsSesame = t.files.some((f) =>
        fs.readFileSync(path.join(TEMPLATES, f.template), 'utf8').includes('@SESAME_URL@'),
      );
      if (callsSesame)
        assert.ok(r.out.includes(server.base), `${t.name}: Sesame's URL (${server.base}) is in the files`);
      if (t.integration) assert.match(r.out, /sesame_int_[A-Za-z0-9_-]{20,}/, `${t.name}: a key`);
      else assert.doesNotMatch(r.out, /sesame_int_/, `${t.name} needs no key`);
    }
  });

  it('--out writes each file at its place with its mode, and the key in it is a working integration key', async () => {
    const out = path.join(dir, 'etc-dovecot');
    const r = await sesame(env, ['integration', 'config', 'dovecot', '--out', out]);
    assert.equal(r.code, 0, r.err);
    const target = CONFIG_TARGETS.find((t) => t.name === 'dovecot')!;
    let key: string | undefined;
    for (const f of target.files) {
      const file = path.join(out, f.path);
      const st = fs.statSync(file);
      assert.equal(st.mode & 0o777, f.mode, `${f.path} mode`);
      if (f.mode & 0o004) continue;
      // A file that holds the key is readable by its server's group only.
      if (f.group && process.getuid?.() === 0) {
        const gid = fs
          .readFileSync('/etc/group', 'utf8')
          .split('\n')
          .find((l) => l.startsWith(`${f.group}:`))
          ?.split(':')[2];
        if (gid) assert.equal(st.gid, Number(gid), `${f.path} group ${f.group}`);
      }
      key ??= /sesame_int_[A-Za-z0-9_-]+/.exec(fs.readFileSync(file, 'utf8'))?.[0];
    }
    assert.ok(key, 'the key is in a file readable only by its server');
    // The doveadm API's fresh key: the same in Dovecot's file and in the line for Sesame's environment.
    const apiKey = /^doveadm_api_key = (\S+)$/m.exec(
      fs.readFileSync(path.join(out, 'conf.d/99-sesame-doveadm-api.conf'), 'utf8'),
    )?.[1];
    assert.ok(apiKey && apiKey.length >= 40, 'a long random doveadm API key');
    assert.ok(r.err.includes(`SESAME_DOVEADM_API_KEY=${apiKey}`), r.err);
    assert.ok(r.err.includes('SESAME_DOVEADM_URL=http://127.0.0.1:8082/doveadm/v1'), r.err);
    assert.match(await integrationNames(), /^dovecot\s/m);
    // Sesame knows the key: a wrong password is answered as such, not with the Bearer challenge of an unknown key.
    const ask = (bearer: string) =>
      fetch(`${server.base}/auth/mail`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          user: 'nobody@example.com',
          password: 'wrong wrong',
          service: 'imap',
          remoteIp: '192.0.2.7',
        }),
      });
    const good = await ask(key);
    assert.equal(good.status, 401);
    assert.equal(good.headers.get('www-authenticate'), null, 'the key is known');
    const bad = await ask(`${key.slice(0, -2)}xx`);
    assert.equal(bad.status, 401);
    assert.match(bad.headers.get('www-authenticate') ?? '', /^Bearer/, 'a changed key is not');
    // A second run under the same name is refused (its key cannot be shown again); another name works.
    const again = await sesame(env, ['integration', 'config', 'dovecot', '--out', out]);
    assert.equal(again.code, 1, again.err);
    const other = await sesame(env, [
      'integration',
      'config',
      'dovecot',
      '--name',
      'dovecot-2',
      '--out',
      path.join(dir, 'd2'),
    ]);
    assert.equal(other.code, 0, other.err);
  });

  it('apache and dovecot-ldap: every value filled in, the key files 0600, the bind DN the integration whose key is in them', async () => {
    /** Sesame knows the key (a wrong password is answered as such, not with the Bearer challenge of an unknown key). */
    const knownKey = async (key: string) => {
      const r = await fetch(`${server.base}/auth/mail`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          user: 'nobody@example.com',
          password: 'wrong wrong',
          service: 'imap',
          remoteIp: '192.0.2.7',
        }),
      });
      return r.status === 401 && r.headers.get('www-authenticate') === null;
    };
    const apacheOut = path.join(dir, 'etc-apache2');
    const apache = await sesame(env, [
      'integration',
      'config',
      'apache',
      '--out',
      apacheOut,
      '--domain',
      'EXAMPLE.com',
      '--ldap-host',
      'ldap.example.com',
      '--group',
      'mail staff',
      '--location',
      '/intranet',
      '--realm',
      'Example intranet',
      '--ca-file',
      '/etc/sesame/ldap-ca.pem',
    ]);
    assert.equal(apache.code, 0, apache.err);
    const conf = path.join(apacheOut, 'conf-available/sesame-ldap.conf');
    assert.equal(fs.statSync(conf).mode & 0o777, 0o600);
    const text = fs.readFileSync(conf, 'utf8');
    assert.doesNotMatch(text, /@[A-Z][A-Z0-9_]*@/, 'a placeholder left');
    assert.match(text, /^LDAPTrustedGlobalCert CA_BASE64 \/etc\/sesame\/ldap-ca\.pem$/m);
    assert.match(text, /^<Location "\/intranet">$/m);
    assert.match(text, /^ {4}AuthName "Example intranet"$/m);
    assert.match(
      text,
      /^ {4}AuthLDAPURL "ldaps:\/\/ldap\.example\.com:636\/ou=people,dc=example,dc=com\?mail\?one\?\(objectClass=inetOrgPerson\)"$/m,
    );
    // The group's name as stored (Mail Staff), the domain as Sesame has it (lower case).
    assert.match(text, /^ {4}Require ldap-group cn=Mail Staff,ou=groups,dc=example,dc=com$/m);
    assert.match(text, /^ {4}AuthLDAPBindDN "cn=apache,ou=services,dc=example,dc=com"$/m);
    const apacheKey = /^ {4}AuthLDAPBindPassword "(sesame_int_[A-Za-z0-9_-]+)"$/m.exec(text)?.[1];
    assert.ok(apacheKey && (await knownKey(apacheKey)), 'the bind password is a working integration key');
    assert.match(await integrationNames(), /^apache\s/m);

    const dovecotOut = path.join(dir, 'etc-dovecot-ldap');
    const dovecot = await sesame(env, [
      'integration',
      'config',
      'dovecot-ldap',
      '--out',
      dovecotOut,
      '--name',
      'imap-ldap',
      '--domain',
      'example.com',
      '--ldap-host',
      '192.0.2.10',
      '--ldaps-port',
      '10636',
    ]);
    assert.equal(dovecot.code, 0, dovecot.err);
    const ext = path.join(dovecotOut, 'dovecot-sesame-ldap.conf.ext');
    const passdb = path.join(dovecotOut, 'conf.d/95-sesame-ldap.conf');
    assert.equal(fs.statSync(ext).mode & 0o777, 0o600, 'the file with the key');
    assert.equal(fs.statSync(passdb).mode & 0o777, 0o644);
    const extText = fs.readFileSync(ext, 'utf8');
    const passdbText = fs.readFileSync(passdb, 'utf8');
    for (const t of [extText, passdbText]) assert.doesNotMatch(t, /@[A-Z][A-Z0-9_]*@/, 'a placeholder left');
    assert.match(
      passdbText,
      new RegExp(`^  args = ${ext.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'),
      'the passdb names the written settings file',
    );
    assert.doesNotMatch(passdbText, /sesame_int_/, 'the key only in the settings file');
    assert.match(extText, /^uris = ldaps:\/\/192\.0\.2\.10:10636$/m);
    assert.match(extText, /^# tls_ca_cert_file = $/m, 'no CA file given: the line is commented out');
    assert.match(extText, /^dn = cn=imap-ldap,ou=services,dc=example,dc=com$/m);
    assert.match(extText, /^base = ou=people,dc=example,dc=com$/m);
    const dovecotKey = /^dnpass = (sesame_int_[A-Za-z0-9_-]+)$/m.exec(extText)?.[1];
    assert.ok(dovecotKey && dovecotKey !== apacheKey && (await knownKey(dovecotKey)), 'a fresh, working key');
    assert.match(await integrationNames(), /^imap-ldap\s/m);
    assert.match(dovecot.err, /app-password-protocols .*ldap/, 'the next steps say to allow ldap');

    // Without --out the passdb names the settings file at its place under /etc/dovecot.
    const shown = await sesame(env, [
      'integration',
      'config',
      'dovecot-ldap',
      '--name',
      'imap-ldap-2',
      '--domain',
      'example.com',
      '--ldap-host',
      'ldap.example.com',
    ]);
    assert.equal(shown.code, 0, shown.err);
    assert.match(shown.out, /^ {2}args = \/etc\/dovecot\/dovecot-sesame-ldap\.conf\.ext$/m);
  });

  it('wrong usage exits 2 and leaves no integration behind', async () => {
    const none = await sesame(env, ['integration', 'config']);
    assert.equal(none.code, 2);
    for (const t of CONFIG_TARGETS) assert.ok(none.err.includes(t.name), `the targets are listed: ${t.name}`);
    const unknown = await sesame(env, ['integration', 'config', 'exim']);
    assert.equal(unknown.code, 2);
    const before = await integrationNames();
    const missing = await sesame(env, ['integration', 'config', 'nginx-mail', '--name', 'nm-missing']);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /needs --(address|hostname|certificate)/);
    const tls = await sesame(env, [
      'integration',
      'config',
      'nginx-mail',
      '--name',
      'nm-tls',
      '--url',
      'https://sesame.example.com',
      ...requiredFlags('nginx-mail'),
    ]);
    assert.equal(tls.code, 2);
    assert.match(tls.err, /plain http/);
    // The LDAP targets check the store first: an unknown organization or group makes no key.
    const ldap = (domain: string, group: string) =>
      sesame(env, [
        'integration',
        'config',
        'apache',
        '--name',
        'ap-wrong',
        '--domain',
        domain,
        '--group',
        group,
        '--ldap-host',
        'ldap.example.com',
        '--location',
        '/x',
      ]);
    const noOrg = await ldap('example.org', 'Mail Staff');
    assert.equal(noOrg.code, 1, noOrg.err);
    assert.match(noOrg.err, /organization_not_found/);
    const noGroup = await ldap('example.com', 'Staf');
    assert.equal(noGroup.code, 1, noGroup.err);
    assert.match(noGroup.err, /group_not_found/);
    const badCa = await sesame(env, [
      'integration',
      'config',
      'dovecot-ldap',
      '--name',
      'dl-wrong',
      '--domain',
      'example.com',
      '--ldap-host',
      'ldap.example.com',
      '--ca-file',
      'relative.pem',
    ]);
    assert.equal(badCa.code, 2);
    assert.match(badCa.err, /--ca-file/);
    assert.equal(await integrationNames(), before, 'no key was made for a refused command');
    const help = await sesame(env, ['integration', 'config', 'nginx-mail', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.out, /--hostname VALUE .*\(required\)/);
  });
});
