/**
 * Real mail servers for end-to-end tests, configured from the shipped templates in integrations/:
 *
 *   - Dovecot (IMAP, POP3, submission) whose only passdb is integrations/dovecot/sesame-auth.lua,
 *     as `sesame integration config dovecot` renders it with conf.d/99-sesame.conf (its passdb and
 *     auth settings; the rest of that drop-in is tested on a stock host by
 *     test/e2e/integrations-mail.test.ts), and, when asked, the
 *     doveadm HTTP API of conf.d/sesame-doveadm-api.conf.ext); when asked, a second Dovecot (IMAP)
 *     with the oauth2 passdb of integrations/dovecot/ (dovecot-oauth2.conf.ext for IMAP) instead;
 *   - Postfix, its SMTP AUTH through Dovecot SASL (main.cf.sesame as the postfix target renders it), with a
 *     second port that believes XCLIENT from nginx;
 *   - nginx, the mail proxy of integrations/nginx/mail-proxy.conf (STARTTLS and implicit TLS) in
 *     front of Dovecot for IMAP/POP3 and Postfix for SMTP, Dovecot trusting it through the `local`
 *     block the nginx-mail target writes, and integrations/nginx/forward-auth.conf in an http server.
 *
 * Nothing is relaxed for the tests: every server has TLS as the docs set it up (Dovecot's stock
 * ssl = yes with disable_plaintext_auth = yes, Postfix's AUTH only after STARTTLS, its master.cf
 * options copied from the doc's `postconf -M` lines), with a certificate from a CA the harness makes
 * (`caFile`), which every client checks.
 *
 * Everything listens on free 127.0.0.1 ports and lives in one temporary folder (configs, sockets,
 * queue, mailboxes, logs). The daemons run as they do in production (as root, daemonized, with their
 * own users for workers) and are stopped by their pid files in `stop()`, which also runs on process
 * exit should a test runner die first. Needs root and Debian's dovecot-core, dovecot-imapd,
 * dovecot-pop3d, dovecot-submissiond, dovecot-auth-lua, lua-socket, nginx, libnginx-mod-mail, postfix and
 * openssl (scripts/test.sh installs them).
 *
 * Usage: `const mail = await MailServers.create()` picks ports (give `mail.backendEnv()` to Sesame),
 * then `await mail.start({ sesameUrl, integrationKey, relayPort })`, and `await mail.stop()` in
 * `after`, whatever happened.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { dovecot as dovecotTarget } from '../../src/cli/integration-config/targets/dovecot.js';
import { nginxMail as nginxMailTarget } from '../../src/cli/integration-config/targets/nginx-mail.js';
import { postfix as postfixTarget } from '../../src/cli/integration-config/targets/postfix.js';
import { type RenderedFile, renderTarget } from '../../src/cli/integration-config/model.js';
import { freePorts } from './processes.js';

/** One rendered file of a target, by its path. */
function rendered(files: RenderedFile[], file: string): string {
  const f = files.find((x) => x.path === file);
  if (!f) throw new Error(`the target no longer writes ${file}: update the harness`);
  return f.text;
}

export { freePorts };

const run = promisify(execFile);

/** The compiled file is dist/test/support/mail-servers.js: the repository is three levels up. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const INTEGRATIONS = path.join(ROOT, 'integrations');

/**
 * The `-o` options of a master.cf entry as docs/integrations.md adds it (`postconf -M NAME='...'`),
 * one per line: the private Postfix's ports take exactly what the doc tells the admin to run
 * (submission: STARTTLS then AUTH; nginx's port: XCLIENT from loopback, SASL without TLS).
 */
function masterOptions(name: string): string {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'integrations.md'), 'utf8');
  const line = doc.split('\n').find((l) => l.startsWith(`postconf -M ${name}=`));
  const options = line?.match(/-o [^\s']+/g);
  if (!options?.length)
    throw new Error(`docs/integrations.md no longer adds ${name} with postconf -M: update the harness`);
  return options.map((o) => `  ${o}`).join('\n');
}

export const BINARIES = {
  dovecot: '/usr/sbin/dovecot',
  doveadm: '/usr/bin/doveadm',
  nginx: '/usr/sbin/nginx',
  postfix: '/usr/sbin/postfix',
  openssl: '/usr/bin/openssl',
  luaPassdb: '/usr/lib/dovecot/modules/auth/libauthdb_lua.so',
  luaSocket: '/usr/share/lua/5.4/socket.lua',
  nginxMail: '/usr/lib/nginx/modules/ngx_mail_module.so',
};

export interface MailPorts {
  /** Dovecot's own listeners (clients connect directly and use STARTTLS). */
  imap: number;
  pop3: number;
  submission: number;
  /** Dovecot listeners that expect the PROXY protocol header from nginx (the SESAME_MAIL_BACKEND_* targets). */
  imapFromNginx: number;
  pop3FromNginx: number;
  /** Dovecot's doveadm HTTP API (only listening when started with `doveadmApiKey`). */
  doveadm: number;
  /** A second Dovecot (IMAP only) whose passdb is oauth2 introspection (only with `oauth2`). */
  imapOauth2: number;
  /** Postfix: SMTP AUTH through Dovecot SASL; and the port that believes nginx's XCLIENT. */
  postfixSubmission: number;
  postfixFromNginx: number;
  /** nginx mail proxy: STARTTLS ports and implicit-TLS ports. */
  nginxImap: number;
  nginxImaps: number;
  nginxPop3: number;
  nginxPop3s: number;
  nginxSubmission: number;
  nginxSubmissions: number;
  /** nginx http: the site protected by forward auth, and the "application" behind it. */
  nginxForwardAuth: number;
  nginxUpstream: number;
}

export interface MailServersOptions {
  /** Sesame's base URL, e.g. http://127.0.0.1:8080 (plain http: nginx's auth_http has no TLS). */
  sesameUrl: string;
  /** The key Dovecot's Lua passdb sends. */
  integrationKey: string;
  /** The key nginx's auth_http sends (default: integrationKey). */
  nginxIntegrationKey?: string;
  /** Where Dovecot's submission service and Postfix deliver what they accept (an SMTP sink). */
  relayPort: number;
  /** Overrides the shipped auth_cache_ttl (e.g. '10 mins' when Sesame flushes the cache). */
  authCacheTtl?: string;
  /** Overrides the shipped auth_cache_negative_ttl. */
  authCacheNegativeTtl?: string;
  /** When set, Dovecot's doveadm HTTP API listens on `ports.doveadm` with this key. */
  doveadmApiKey?: string;
  /** Also start a second Dovecot for IMAP whose passdb is the IMAP one of integrations/dovecot/conf.d/95-sesame-oauth2.conf. */
  oauth2?: boolean;
  /** Start Postfix (default true). */
  postfix?: boolean;
  /** Start nginx (default true). */
  nginx?: boolean;
  /**
   * For bench/dovecot-login.ts only: Dovecot's auth set up otherwise than shipped, to compare
   * configurations. `passdb` rewrites the shipped passdb block (or replaces it: a passwd-file),
   * `lua` the rendered script, and `extra` is appended last to dovecot.conf (so it wins).
   */
  variant?: { passdb?: (block: string) => string; lua?: (script: string) => string; extra?: string };
}

/** Replaces every @NAME@ of `values`; fails when the template names one we do not know (drift). */
export function fillTemplate(text: string, values: Record<string, string>, what: string): string {
  const out = text.replace(/@([A-Z][A-Z0-9_]*)@/g, (m, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`${what}: no value for placeholder ${m}`);
    return v;
  });
  return out;
}

function template(rel: string): string {
  return fs.readFileSync(path.join(INTEGRATIONS, rel), 'utf8');
}

/**
 * Resolves once something accepts TCP connections on 127.0.0.1:port; rejects after `ms`.
 * The tests give their daemons 60 s: it costs nothing when one starts at once, and with three test
 * files side by side on two cores a Python or Perl daemon has taken over 10 s to listen.
 */
export async function waitForPort(port: number, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** SIGTERM, wait up to `ms` for the process to go, then SIGKILL. */
async function terminate(pid: number, ms = 5_000): Promise<void> {
  if (!alive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + ms;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  if (alive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

export class MailServers {
  /** Daemon -> pid file, for every daemon started (kept even when a later start fails). */
  private readonly pidFiles = new Map<string, string>();
  /** Pids read right after each start, in case a daemon removes its pid file on its way out. */
  private readonly pids = new Map<string, number>();
  private readonly onExit = () => this.killNow();
  private stopped = false;

  private constructor(
    readonly dir: string,
    readonly ports: MailPorts,
  ) {
    process.once('exit', this.onExit);
  }

  /** A temporary folder (traversable by the daemons' own users) and a free port for every listener. */
  static async create(): Promise<MailServers> {
    if (process.getuid?.() !== 0)
      throw new Error(
        'the mail servers run as root (as Dovecot, Postfix and nginx do in production): run the tests as root',
      );
    for (const [name, file] of Object.entries(BINARIES)) {
      if (!fs.existsSync(file))
        throw new Error(
          `${file} (${name}) not found: install dovecot-core dovecot-imapd dovecot-pop3d dovecot-submissiond dovecot-auth-lua lua-socket nginx libnginx-mod-mail postfix openssl (scripts/test.sh does)`,
        );
    }
    const names: (keyof MailPorts)[] = [
      'imap',
      'pop3',
      'submission',
      'imapFromNginx',
      'pop3FromNginx',
      'doveadm',
      'imapOauth2',
      'postfixSubmission',
      'postfixFromNginx',
      'nginxImap',
      'nginxImaps',
      'nginxPop3',
      'nginxPop3s',
      'nginxSubmission',
      'nginxSubmissions',
      'nginxForwardAuth',
      'nginxUpstream',
    ];
    const got = await freePorts(names.length);
    const ports = Object.fromEntries(names.map((n, i) => [n, got[i]!])) as unknown as MailPorts;
    // Short path: Dovecot's and Postfix's unix sockets live under it (108-byte limit).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-mail-'));
    fs.chmodSync(dir, 0o755);
    return new MailServers(dir, ports);
  }

  /** Sesame's environment for nginx's backends: where a good login is sent on. */
  backendEnv(): Record<string, string> {
    return {
      SESAME_MAIL_BACKEND_IMAP: `127.0.0.1:${this.ports.imapFromNginx}`,
      SESAME_MAIL_BACKEND_POP3: `127.0.0.1:${this.ports.pop3FromNginx}`,
      SESAME_MAIL_BACKEND_SMTP: `127.0.0.1:${this.ports.postfixFromNginx}`,
    };
  }

  private p(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  /** Writes every config and starts Dovecot, then Postfix and nginx; waits until all ports listen. */
  async start(o: MailServersOptions): Promise<void> {
    const t0 = Date.now();
    for (const d of ['logs', 'run', 'conf.d', 'nginx', 'postfix', 'tls', 'mail'])
      fs.mkdirSync(this.p(d), { recursive: true });
    fs.chownSync(this.p('mail'), 65534, 65534);
    await this.makeCertificates();
    await this.startDovecot(o);
    const starts: Promise<void>[] = [];
    if (o.oauth2) starts.push(this.startOauth2Dovecot(o));
    if (o.postfix !== false) starts.push(this.startPostfix(o));
    if (o.nginx !== false) starts.push(this.startNginx(o));
    // Wait for every start, even after one failed, so that stop() finds every pid file.
    const failed = (await Promise.allSettled(starts)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    this.startedInMs = Date.now() - t0;
  }

  startedInMs = 0;
  private options: MailServersOptions | undefined;

  /** The throwaway CA that signed every server's certificate: clients check against it, as real ones would. */
  get caFile(): string {
    return this.p('tls', 'ca.crt');
  }
  /** The servers' certificate (for mail.test and 127.0.0.1) and its key: a test's own TLS server can present it too. */
  get certFile(): string {
    return this.p('tls', 'mail.test.crt');
  }
  get keyFile(): string {
    return this.p('tls', 'mail.test.key');
  }

  /**
   * A CA made for this run and one certificate it signs for mail.test and 127.0.0.1, shared by
   * Dovecot, Postfix and nginx: the servers run with TLS as the docs set them up, and the clients
   * verify the chain and the name instead of accepting anything.
   */
  private async makeCertificates(): Promise<void> {
    const caKey = this.p('tls', 'ca.key');
    const request = this.p('tls', 'mail.test.csr');
    const ext = this.p('tls', 'mail.test.ext');
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    await this.exec('openssl', BINARIES.openssl, [
      'req',
      '-x509',
      ...ec,
      '-days',
      '2',
      '-subj',
      '/CN=Sesame test CA',
      '-keyout',
      caKey,
      '-out',
      this.caFile,
    ]);
    await this.exec('openssl', BINARIES.openssl, [
      'req',
      ...ec,
      '-subj',
      '/CN=mail.test',
      '-keyout',
      this.keyFile,
      '-out',
      request,
    ]);
    fs.writeFileSync(ext, 'subjectAltName=DNS:mail.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    await this.exec('openssl', BINARIES.openssl, [
      'x509',
      '-req',
      '-in',
      request,
      '-CA',
      this.caFile,
      '-CAkey',
      caKey,
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      ext,
      '-out',
      this.certFile,
    ]);
    // The key stays 0600 root's: Dovecot, nginx and Postfix's smtpd read it as root before they drop privileges.
  }
  private dovecotIncludes: string[] = [];

  private async startDovecot(o: MailServersOptions): Promise<void> {
    const { ports } = this;
    // The files `sesame integration config dovecot` writes, rendered by the same code.
    const files = renderTarget(dovecotTarget, { sesameUrl: o.sesameUrl, key: o.integrationKey, values: {} });
    const lua = this.p('sesame-auth.lua');
    const script = rendered(files, 'sesame-auth.lua');
    fs.writeFileSync(lua, o.variant?.lua ? o.variant.lua(script) : script, { mode: 0o640 });
    fs.chownSync(lua, 0, dovecotGid());
    // Of its drop-in, what this private instance shares with a stock host: the mechanisms, the
    // Sesame passdb and the cache settings (the rest names the vmail account, Postfix's queue folder
    // and fixed ports, which the private instance has its own of).
    const dropIn = rendered(files, 'conf.d/99-sesame.conf');
    const passdb = /^passdb \{\n[\s\S]*?^\}\n/m.exec(dropIn)?.[0];
    const settings = dropIn.match(/^(auth_mechanisms|auth_cache_[a-z_]+) = .*$/gm) ?? [];
    if (!passdb?.includes('/etc/dovecot/sesame-auth.lua') || settings.length < 4)
      throw new Error('99-sesame.conf no longer has the Lua passdb and the auth settings: update the harness');
    const block = passdb.replaceAll('/etc/dovecot/sesame-auth.lua', lua);
    fs.writeFileSync(
      this.p('conf.d', 'auth-sesame.conf.ext'),
      `${settings.join('\n')}\n${o.variant?.passdb ? o.variant.passdb(block) : block}`,
    );
    const includes = [`!include ${this.p('conf.d', 'auth-sesame.conf.ext')}`];
    if (o.nginx !== false) {
      // How Dovecot trusts nginx, from the drop-in the nginx-mail target writes: plaintext login is
      // allowed on connections nginx proxies for its public address (nginx ended the client's TLS),
      // and nowhere else. Without it every proxied login is refused ([PRIVACYREQUIRED]). The rest of
      // that drop-in turns Dovecot's own listeners off, which this private instance keeps for the
      // direct cases.
      const local = /^local [^\n]+ \{\n[\s\S]*?^\}\n/m.exec(
        rendered(this.nginxMailFiles(o), 'dovecot/conf.d/99-sesame-nginx.conf'),
      )?.[0];
      if (!local?.includes('127.0.0.1'))
        throw new Error('99-sesame-nginx.conf no longer has its `local <address>` block: update the harness');
      fs.writeFileSync(this.p('conf.d', 'sesame-nginx.conf.ext'), local);
      includes.push(`!include ${this.p('conf.d', 'sesame-nginx.conf.ext')}`);
    }
    if (o.doveadmApiKey) {
      const api = fillTemplate(
        template('dovecot/conf.d/sesame-doveadm-api.conf.ext'),
        { DOVEADM_API_KEY: o.doveadmApiKey, DOVEADM_API_ADDRESS: '127.0.0.1', DOVEADM_API_PORT: String(ports.doveadm) },
        'sesame-doveadm-api.conf.ext',
      );
      fs.writeFileSync(this.p('conf.d', 'sesame-doveadm-api.conf.ext'), api, { mode: 0o640 });
      includes.push(`!include ${this.p('conf.d', 'sesame-doveadm-api.conf.ext')}`);
    }
    this.dovecotIncludes = includes;
    this.options = o;
    const file = this.p('dovecot.conf');
    fs.writeFileSync(file, this.dovecotConf(o));
    this.pidFiles.set('dovecot', this.p('run', 'dovecot', 'master.pid'));
    await this.exec('dovecot', BINARIES.dovecot, ['-c', file]);
    this.rememberPid('dovecot');
    const waits = [ports.imap, ports.pop3, ports.submission, ports.imapFromNginx, ports.pop3FromNginx];
    if (o.doveadmApiKey) waits.push(ports.doveadm);
    await Promise.all(waits.map((port) => waitForPort(port, 60_000, 'Dovecot')));
    // The auth socket Postfix uses appears once the auth service is up.
    await this.waitForFile(this.p('run', 'dovecot', 'auth-postfix'), 10_000, 'Dovecot auth-postfix socket');
  }

  private dovecotConf(o: MailServersOptions): string {
    const { ports } = this;
    const includes = this.dovecotIncludes;
    return `# Private Dovecot for the tests: loopback only, free ports, everything under ${this.dir}.
protocols = imap pop3 submission
listen = 127.0.0.1
base_dir = ${this.p('run', 'dovecot')}
state_dir = ${this.p('run', 'dovecot-state')}
log_path = ${this.p('logs', 'dovecot.log')}
default_login_user = dovenull
default_internal_user = dovecot
# TLS as on a stock Debian Dovecot: ssl = yes and the default disable_plaintext_auth = yes, so no
# plaintext login without TLS except on a secured connection (a loopback client, or what the local
# block for nginx below allows; with ssl = required that block would not apply). The clients use
# STARTTLS and check the certificate against the test's CA.
ssl = yes
ssl_cert = <${this.certFile}
ssl_key = <${this.keyFile}
auth_verbose = yes
hostname = mail.test
mail_location = maildir:${this.p('mail', '%u')}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=${this.p('mail', '%u')}
}
service imap-login {
  inet_listener imap {
    port = ${ports.imap}
  }
  inet_listener imap-from-nginx {
    port = ${ports.imapFromNginx}
    haproxy = yes
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = ${ports.pop3}
  }
  inet_listener pop3-from-nginx {
    port = ${ports.pop3FromNginx}
    haproxy = yes
  }
  inet_listener pop3s {
    port = 0
  }
}
service submission-login {
  inet_listener submission {
    port = ${ports.submission}
  }
}
submission_relay_host = 127.0.0.1
submission_relay_port = ${o.relayPort}
# nginx (on loopback here) sends the PROXY protocol header with the real client address
haproxy_trusted_networks = 127.0.0.1/32
# Postfix's SMTP AUTH asks Dovecot through this socket (smtpd_sasl_type = dovecot)
service auth {
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
${includes.join('\n')}
# Test-only overrides (after the shipped file, so they win). No delay after a failed login, and no
# growing per-IP penalty (anvil's, 2 s doubling up to 15 s): the tests fail logins on purpose, all
# from 127.0.0.1.
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
${o.authCacheTtl === undefined ? '' : `auth_cache_ttl = ${o.authCacheTtl}\n`}${o.authCacheNegativeTtl === undefined ? '' : `auth_cache_negative_ttl = ${o.authCacheNegativeTtl}\n`}${o.variant?.extra ?? ''}`;
  }

  /** The alternative to the Lua passdb: Dovecot's oauth2 passdb asking Sesame's RFC 7662 introspection. */
  private async startOauth2Dovecot(o: MailServersOptions): Promise<void> {
    const ext = this.p('conf.d', 'dovecot-oauth2-imap.conf.ext');
    fs.writeFileSync(
      ext,
      fillTemplate(
        template('dovecot/dovecot-oauth2.conf.ext'),
        { SESAME_URL: o.sesameUrl, SESAME_INTEGRATION_KEY: o.integrationKey, CLIENT_ID: 'imap' },
        'dovecot-oauth2.conf.ext',
      ),
      { mode: 0o640 },
    );
    fs.chownSync(ext, 0, dovecotGid());
    // The IMAP passdb of the shipped drop-in (this Dovecot serves IMAP only, so it is its only passdb).
    const passdb = /^protocol imap \{\n {2}(passdb \{[\s\S]*?\n {2}\})\n\}/m.exec(
      template('dovecot/conf.d/95-sesame-oauth2.conf'),
    );
    if (!passdb) throw new Error('95-sesame-oauth2.conf no longer has its `protocol imap` passdb: update the harness');
    const block = passdb[1]!.replace(/^ {2}/gm, '').replace('/etc/dovecot/dovecot-oauth2-imap.conf.ext', ext);
    const file = this.p('dovecot-oauth2.conf');
    fs.writeFileSync(
      file,
      `# Private Dovecot for the tests, passdb oauth2 (IMAP only).
protocols = imap
listen = 127.0.0.1
base_dir = ${this.p('run', 'dovecot-oauth2')}
state_dir = ${this.p('run', 'dovecot-oauth2-state')}
log_path = ${this.p('logs', 'dovecot-oauth2.log')}
default_login_user = dovenull
default_internal_user = dovecot
ssl = yes
ssl_cert = <${this.certFile}
ssl_key = <${this.keyFile}
auth_mechanisms = plain login
auth_verbose = yes
auth_failure_delay = 0
mail_location = maildir:${this.p('mail', '%u')}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=${this.p('mail', '%u')}
}
${block}
service imap-login {
  inet_listener imap {
    port = ${this.ports.imapOauth2}
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`,
    );
    this.pidFiles.set('dovecot-oauth2', this.p('run', 'dovecot-oauth2', 'master.pid'));
    await this.exec('dovecot-oauth2', BINARIES.dovecot, ['-c', file]);
    this.rememberPid('dovecot-oauth2');
    await waitForPort(this.ports.imapOauth2, 60_000, 'Dovecot (oauth2)');
  }

  private async startPostfix(o: MailServersOptions): Promise<void> {
    const { ports } = this;
    const queue = this.p('run', 'postfix-queue');
    const data = this.p('run', 'postfix-data');
    fs.mkdirSync(queue, { recursive: true });
    fs.mkdirSync(data, { recursive: true });
    fs.chownSync(data, postfixUid(), 0);
    // The shipped snippet's settings, then what differs in this private instance.
    const settings = new Map<string, string>();
    const mainCf = renderTarget(postfixTarget, {
      sesameUrl: o.sesameUrl,
      values: { MAIL_DOMAIN: 'example.com', TLS_CERTIFICATE: this.certFile, TLS_CERTIFICATE_KEY: this.keyFile },
    });
    for (const line of rendered(mainCf, 'main.cf.sesame').split('\n')) {
      const m = /^([a-z_0-9]+)\s*=\s*(.*)$/.exec(line);
      if (m) settings.set(m[1]!, m[2]!);
    }
    if (settings.get('smtpd_sasl_type') !== 'dovecot')
      throw new Error('main.cf.sesame no longer sets smtpd_sasl_type = dovecot');
    // This private instance relays to the test's sink instead of delivering over LMTP. Its TLS
    // settings are the shipped ones (AUTH only after STARTTLS), with the test's certificate.
    // SMTP AUTH is on per port (master.cf below), as the doc's postconf -M lines turn it on.
    for (const k of ['virtual_mailbox_domains', 'virtual_transport']) settings.delete(k);
    if (settings.get('smtpd_tls_auth_only') !== 'yes')
      throw new Error('main.cf.sesame no longer sets smtpd_tls_auth_only = yes');
    const overrides: Record<string, string> = {
      compatibility_level: '3.6',
      queue_directory: queue,
      data_directory: data,
      maillog_file: this.p('logs', 'postfix.log'),
      maillog_file_prefixes: this.p('logs'),
      inet_interfaces: '127.0.0.1',
      inet_protocols: 'ipv4',
      myhostname: 'mx.test',
      mydestination: '',
      alias_maps: '',
      alias_database: '',
      // Deliberately not loopback: relaying must be earned with SMTP AUTH or XCLIENT LOGIN.
      mynetworks: '192.0.2.1/32',
      relayhost: `[127.0.0.1]:${o.relayPort}`,
      // Outgoing, to the test's own sink (a plain SMTP listener).
      smtp_tls_security_level: 'none',
      smtpd_sasl_path: this.p('run', 'dovecot', 'auth-postfix'),
      smtpd_error_sleep_time: '0s',
    };
    for (const [k, v] of Object.entries(overrides)) settings.set(k, v);
    const dir = this.p('postfix');
    fs.writeFileSync(path.join(dir, 'main.cf'), `${[...settings].map(([k, v]) => `${k} = ${v}`).join('\n')}\n`);
    fs.writeFileSync(
      path.join(dir, 'master.cf'),
      `# service type  private unpriv  chroot  wakeup  maxproc command
127.0.0.1:${ports.postfixSubmission} inet n - n - - smtpd
${masterOptions('submission/inet')}
127.0.0.1:${ports.postfixFromNginx} inet n - n - - smtpd
${masterOptions('127.0.0.1:10025/inet')}
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
postlog   unix-dgram n  -       n       -       1       postlogd
`,
    );
    this.pidFiles.set('postfix', path.join(queue, 'pid', 'master.pid'));
    await this.exec('postfix', BINARIES.postfix, ['-c', dir, 'start']);
    await Promise.all(
      [ports.postfixSubmission, ports.postfixFromNginx].map((port) => waitForPort(port, 60_000, 'Postfix')),
    );
    this.rememberPid('postfix');
  }

  /** What `sesame integration config nginx-mail` writes for this proxy: nginx's file and Dovecot's drop-in. */
  private nginxMailFiles(o: MailServersOptions) {
    const { ports } = this;
    return renderTarget(nginxMailTarget, {
      sesameUrl: o.sesameUrl,
      key: o.nginxIntegrationKey ?? o.integrationKey,
      values: {
        PUBLIC_ADDRESS: '127.0.0.1',
        MAIL_HOSTNAME: 'mail.test',
        TLS_CERTIFICATE: this.certFile,
        TLS_CERTIFICATE_KEY: this.keyFile,
        LISTEN_IMAP: String(ports.nginxImap),
        LISTEN_IMAPS: String(ports.nginxImaps),
        LISTEN_POP3: String(ports.nginxPop3),
        LISTEN_POP3S: String(ports.nginxPop3s),
        LISTEN_SUBMISSION: String(ports.nginxSubmission),
        LISTEN_SUBMISSIONS: String(ports.nginxSubmissions),
      },
    });
  }

  private async startNginx(o: MailServersOptions): Promise<void> {
    const { ports } = this;
    const mail = rendered(this.nginxMailFiles(o), 'nginx/mail-proxy.conf');
    fs.writeFileSync(this.p('nginx', 'mail-proxy.conf'), mail, { mode: 0o600 });
    const forward = fillTemplate(
      template('nginx/forward-auth.conf'),
      { SESAME_URL: o.sesameUrl, UPSTREAM_URL: `http://127.0.0.1:${ports.nginxUpstream}`, PROTOCOL: 'http' },
      'forward-auth.conf',
    );
    fs.writeFileSync(this.p('nginx', 'forward-auth.conf'), forward);
    const conf = `# Private nginx for the tests. Run: nginx -p ${this.dir}/ -c nginx/nginx.conf -e logs/nginx-error.log
load_module ${BINARIES.nginxMail};
user nobody nogroup;
worker_processes 1;
pid ${this.p('run', 'nginx.pid')};
error_log ${this.p('logs', 'nginx-error.log')} info;
events {
    worker_connections 256;
}
include ${this.p('nginx', 'mail-proxy.conf')};
http {
    access_log ${this.p('logs', 'nginx-access.log')};
    client_body_temp_path ${this.p('run', 'nginx-body')};
    proxy_temp_path ${this.p('run', 'nginx-proxy')};
    fastcgi_temp_path ${this.p('run', 'nginx-fastcgi')};
    uwsgi_temp_path ${this.p('run', 'nginx-uwsgi')};
    scgi_temp_path ${this.p('run', 'nginx-scgi')};
    # the site protected by Sesame's forward auth
    server {
        listen 127.0.0.1:${ports.nginxForwardAuth};
        include ${this.p('nginx', 'forward-auth.conf')};
    }
    # the "application": shows what it was told about the user
    server {
        listen 127.0.0.1:${ports.nginxUpstream};
        location / {
            default_type text/plain;
            return 200 "remote-user=$http_remote_user remote-email=$http_remote_email remote-name=$http_remote_name authorization=$http_authorization\\n";
        }
    }
}
`;
    const file = this.p('nginx', 'nginx.conf');
    fs.writeFileSync(file, conf);
    this.pidFiles.set('nginx', this.p('run', 'nginx.pid'));
    await this.exec('nginx', BINARIES.nginx, [
      '-p',
      `${this.dir}/`,
      '-c',
      file,
      '-e',
      this.p('logs', 'nginx-error.log'),
    ]);
    this.rememberPid('nginx');
    await Promise.all(
      [
        ports.nginxImap,
        ports.nginxImaps,
        ports.nginxPop3,
        ports.nginxPop3s,
        ports.nginxSubmission,
        ports.nginxSubmissions,
        ports.nginxForwardAuth,
      ].map((port) => waitForPort(port, 60_000, 'nginx')),
    );
  }

  /**
   * Runs a start command and waits for it to exit. Its output goes to logs/<what>.out, not to pipes:
   * a daemon inherits its starter's stdout/stderr, and waiting for pipes to close would wait for the
   * daemon. On failure the error carries that output and the logs so far.
   */
  private async exec(what: string, file: string, args: string[]): Promise<void> {
    const outFile = this.p('logs', `${what}.out`);
    const fd = fs.openSync(outFile, 'a');
    try {
      const child = spawn(file, args, { stdio: ['ignore', fd, fd], env: { ...process.env, LANG: 'C' } });
      const code = await new Promise<number | string>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.once('error', (e) => {
          clearTimeout(timer);
          resolve(e.message);
        });
        child.once('exit', (c, signal) => {
          clearTimeout(timer);
          resolve(c ?? signal ?? 'unknown');
        });
      });
      if (code !== 0)
        throw new Error(
          `${what} failed to start (${code}): ${file} ${args.join(' ')}\n${fs.readFileSync(outFile, 'utf8')}\n${this.logs()}`,
        );
    } finally {
      fs.closeSync(fd);
    }
  }

  private rememberPid(name: string) {
    const file = this.pidFiles.get(name);
    const pid = file ? readPid(file) : undefined;
    if (pid) this.pids.set(name, pid);
  }

  private async waitForFile(file: string, ms: number, what: string) {
    const deadline = Date.now() + ms;
    while (!fs.existsSync(file)) {
      if (Date.now() > deadline) throw new Error(`${what} did not appear within ${ms} ms\n${this.logs()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** The pid of each daemon that was started (from its pid file, or as read right after start). */
  private daemonPids(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [name, file] of this.pidFiles) {
      const pid = readPid(file) ?? this.pids.get(name);
      if (pid) out.set(name, pid);
    }
    return out;
  }

  /** The tail of every log, for failure messages. */
  logs(maxPerLog = 4_000): string {
    const parts: string[] = [];
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.p('logs')).sort();
    } catch {
      // no folder yet
    }
    for (const name of names) {
      try {
        const text = fs.readFileSync(this.p('logs', name), 'utf8');
        if (text) parts.push(`--- ${name}\n${text.slice(-maxPerLog)}`);
      } catch {
        // not written (yet)
      }
    }
    return parts.join('\n');
  }

  /** One log's whole text ('' when absent). */
  log(name: 'dovecot.log' | 'dovecot-oauth2.log' | 'postfix.log' | 'nginx-error.log' | 'nginx-access.log'): string {
    try {
      return fs.readFileSync(this.p('logs', name), 'utf8');
    } catch {
      return '';
    }
  }

  /**
   * Changes Dovecot's auth cache lifetime (undefined: back to the shipped value) and reloads it
   * (`doveadm reload`, which also empties the cache); resolves once Dovecot has reloaded.
   */
  async setAuthCacheTtl(ttl: string | undefined): Promise<void> {
    if (!this.options) throw new Error('start() first');
    this.options = { ...this.options, authCacheTtl: ttl };
    const file = this.p('dovecot.conf');
    fs.writeFileSync(file, this.dovecotConf(this.options));
    const reloads = () => (this.log('dovecot.log').match(/SIGHUP received - reloading configuration/g) ?? []).length;
    const before = reloads();
    await run(BINARIES.doveadm, ['-c', file, 'reload'], { timeout: 10_000 });
    const deadline = Date.now() + 10_000;
    while (reloads() === before) {
      if (Date.now() > deadline) throw new Error(`Dovecot did not reload within 10 s\n${this.logs()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    await this.waitForFile(this.p('run', 'dovecot', 'auth-postfix'), 10_000, 'Dovecot auth-postfix socket');
  }

  /** Flushes Dovecot's auth cache for `user` (or all) with doveadm, as an operator would. */
  async flushAuthCache(user?: string): Promise<void> {
    await run(BINARIES.doveadm, ['-c', this.p('dovecot.conf'), 'auth', 'cache', 'flush', ...(user ? [user] : [])], {
      timeout: 10_000,
    });
  }

  /** Are all started daemons still running? (The name of the first that is not, otherwise undefined.) */
  firstDead(): string | undefined {
    for (const [name, pid] of this.daemonPids()) if (!alive(pid)) return name;
    return undefined;
  }

  /** Stops every daemon started (by pid file), then removes the folder. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    process.removeListener('exit', this.onExit);
    await Promise.all([...this.daemonPids().values()].map((pid) => terminate(pid)));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Last resort on process exit: SIGTERM every daemon, synchronously. */
  private killNow() {
    for (const pid of this.daemonPids().values()) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  }
}

function idOf(kind: 'passwd' | 'group', name: string, field: 2 | 3): number {
  const line = fs
    .readFileSync(`/etc/${kind}`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no ${kind === 'passwd' ? 'user' : 'group'} ${name} (installed with the Debian package)`);
  return Number(line.split(':')[field]);
}
const dovecotGid = () => idOf('group', 'dovecot', 2);
const postfixUid = () => idOf('passwd', 'postfix', 2);
