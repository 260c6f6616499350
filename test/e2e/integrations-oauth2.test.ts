/**
 * docs/dovecot-oauth2.md, followed literally on stock Debian's Dovecot 2.3 (issue #16): in a
 * sandbox host (test/support/sandbox-host.ts, /etc and /var as copy-on-write overlays of this
 * machine's stock files), Sesame runs as the doc says (127.0.0.1:8080), the admin's certificate
 * (signed by a throwaway CA) is where Debian's 10-ssl.conf reads it, and then the doc's
 * `<!-- test: dovecot-oauth2 -->` blocks run as written: the vmail user, `sesame integration config
 * dovecot-oauth2 --out /etc/dovecot`, the one sed, the restart. Nothing else of Dovecot's
 * configuration is touched: `ssl = yes` and `disable_plaintext_auth = yes` stay.
 *
 * Then Python's imaplib and poplib (and curl) log in over IMAPS, IMAP STARTTLS, POP3S and POP3
 * STLS, verifying the certificate against the CA:
 *   - an app password opens its own user's mailbox (LIST and SELECT INBOX work: the userdb and
 *     mail_location are right, no "initialization failed"), and nobody else's;
 *   - the main password is refused, even of a user with MFA off (whom the Lua passdb would let in);
 *     a wrong password is refused;
 *   - per service: an IMAP-only app password opens IMAP and not POP3, a POP3-only one POP3 and not
 *     IMAP, one for both opens both; every other service is checked as smtp (doveadm auth test as
 *     submission: an SMTP-only app password passes there and not on IMAP);
 *   - a good password without TLS is refused on 143 and 110;
 *   - Sesame's sign-in log has each client's own address (send_auth_headers), not Dovecot's.
 *
 * Failed logins from one address are slowed down by Dovecot (auth_failure_delay, anvil's penalty):
 * each client uses its own loopback source address (127.0.0.x), and the clients run in parallel.
 *
 * Needs root and the Debian packages scripts/test.sh installs (dovecot-imapd, dovecot-pop3d,
 * dovecot-submissiond, openssl, curl, python3).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { createContext, type AppContext } from '../../src/app/context.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { loadConfig } from '../../src/config/config.js';
import { PROTOCOLS, type Protocol } from '../../src/domain/app-passwords/model.js';
import { docSteps, SandboxHost } from '../support/sandbox-host.js';
import { MAIN_JS, requireBuild, ROOT, runSesameCli } from '../support/processes.js';

const run = promisify(execFile);
const DOC = path.join(ROOT, 'docs/dovecot-oauth2.md');
const ORG = 'example.com';
const ALICE = { address: 'alice@example.com', password: 'harbour-violet-lantern-42' };
const BOB = { address: 'bob@example.com', password: 'meadow-copper-quiet-77' };
/** MFA off: the Lua passdb would take her main password; the oauth2 passdb never does. */
const CAROL = { address: 'carol@example.com', password: 'pebble-orchard-swift-19' };

/** Python clients: a JSON list of cases on stdin, a JSON list of {ok, detail} out, all in parallel. */
const CLIENTS_PY = `
import imaplib, json, poplib, socket, ssl, sys
from concurrent.futures import ThreadPoolExecutor
CA = sys.argv[1]
HOST = "mail.example.com"

def ctx():
    c = ssl.create_default_context(cafile=CA)  # verifies the chain and the name
    return c

def conn(src, port):
    return socket.create_connection(("127.0.0.1", port), 15, source_address=(src, 0))

class IMAP(imaplib.IMAP4):
    def __init__(self, src, port):
        self.src = src
        super().__init__(HOST, port, timeout=15)
    def _create_socket(self, timeout):
        return conn(self.src, self.port)

class IMAPS(imaplib.IMAP4_SSL):
    def __init__(self, src, port):
        self.src = src
        super().__init__(HOST, port, ssl_context=ctx(), timeout=15)
    def _create_socket(self, timeout):
        return self.ssl_context.wrap_socket(conn(self.src, self.port), server_hostname=HOST)

class POP(poplib.POP3):
    def __init__(self, src, port):
        self.src = src
        super().__init__(HOST, port, timeout=15)
    def _create_socket(self, timeout):
        return conn(self.src, self.port)

class POPS(poplib.POP3_SSL):
    def __init__(self, src, port):
        self.src = src
        super().__init__(HOST, port, context=ctx(), timeout=15)
    def _create_socket(self, timeout):
        return self.context.wrap_socket(conn(self.src, self.port), server_hostname=HOST)

def one(c):
    try:
        if c["proto"] == "imap":
            m = IMAPS(c["src"], 993) if c["tls"] == "implicit" else IMAP(c["src"], 143)
            if c["tls"] == "starttls":
                m.starttls(ssl_context=ctx())
            m.login(c["user"], c["password"])
            typ, boxes = m.list()
            typ2, n = m.select("INBOX")
            m.logout()
            return {"ok": typ == "OK" and typ2 == "OK", "detail": "LIST %s, SELECT INBOX %s %s" % (typ, typ2, n)}
        p = POPS(c["src"], 995) if c["tls"] == "implicit" else POP(c["src"], 110)
        if c["tls"] == "starttls":
            p.stls(context=ctx())
        p.user(c["user"])
        p.pass_(c["password"])
        stat = p.stat()
        p.quit()
        return {"ok": True, "detail": "STAT %r" % (stat,)}
    except Exception as e:
        return {"ok": False, "detail": "%s: %s" % (type(e).__name__, e)}

cases = json.load(sys.stdin)
with ThreadPoolExecutor(len(cases)) as ex:
    print(json.dumps(list(ex.map(one, cases))))
`;

interface Case {
  label: string;
  proto: 'imap' | 'pop3';
  tls: 'implicit' | 'starttls' | 'none';
  user: string;
  password: string;
  /** Logged in (IMAP: LIST and SELECT INBOX worked)? */
  expect: boolean;
}

describe('Dovecot oauth2 passdb: docs/dovecot-oauth2.md on stock Debian Dovecot', { timeout: 120_000 }, () => {
  let host: SandboxHost | undefined;
  let dir = '';
  let ctx: AppContext | undefined;
  const pw: Record<string, string> = {};
  let env: Record<string, string> = {};
  const sesameLog = () => fs.readFileSync(path.join(dir, 'sesame.log'), 'utf8');

  const timings: Record<string, number> = {};
  let t0 = Date.now();
  const mark = (what: string) => {
    timings[what] = Date.now() - t0;
    t0 = Date.now();
  };

  before(async () => {
    requireBuild();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-oauth2-e2e-'));
    const dataDir = path.join(dir, 'data');
    env = {
      SESAME_DATA_DIR: dataDir,
      DATABASE_URL: '', // SQLite in the data folder, whatever the caller's environment says
      SESAME_PUBLIC_URL: 'http://127.0.0.1:8080',
      HOST: '127.0.0.1',
      PORT: '8080',
      LOG_LEVEL: 'warn',
    };
    const cli = (args: string[], stdin?: string) => runSesameCli({ ...process.env, ...env }, args, stdin);
    await cli(['org', 'add', ORG, '--name', 'Example']);

    /**
     * The users and their app passwords, through the project's own code on the same store (as the
     * admin console and the App passwords page make them; the CLI's `org add` made the store above,
     * and the doc's step runs the CLI again). The protocols an app password is limited to are the
     * organization's policy when it is made (the console's, or `sesame org policy
     * --app-password-protocols`).
     */
    async function people() {
      ctx = await createContext(loadConfig({ ...process.env, ...env }));
      for (const [u, mfa] of [
        [ALICE, 'enforced'],
        [BOB, 'enabled'],
        [CAROL, 'disabled'],
      ] as const) {
        await ctx.accounts.addUser(OPERATOR, { address: u.address, password: u.password, role: 'user' });
        await ctx.mfaAdmin.setUserState(OPERATOR, u.address, mfa);
      }
      const orgId = (await ctx.accounts.findUserByAddressOrNull(ALICE.address))!.orgId;
      const make = async (address: string, name: string, protocols: Protocol[]) => {
        await ctx!.mfaAdmin.setPolicy(OPERATOR, orgId, { appPasswords: { protocols } });
        const user = await ctx!.accounts.findUserByAddressOrNull(address);
        assert.ok(user);
        const meta = { ip: '127.0.0.1', userAgent: 'integrations-oauth2 test' };
        const { session } = await ctx!.sessions.start(user.id, ['pwd', 'otp'], meta, Date.now());
        const made = await ctx!.appPasswords.create(user, session, name, { ip: '127.0.0.1', locale: 'en' });
        assert.deepEqual(made.appPassword.protocols, protocols);
        return made.password;
      };
      pw.aliceImap = await make(ALICE.address, 'Phone (IMAP)', ['imap']);
      pw.alicePop = await make(ALICE.address, 'Old laptop (POP3)', ['pop3']);
      pw.aliceSmtp = await make(ALICE.address, 'Printer (SMTP)', ['smtp']);
      pw.aliceBoth = await make(ALICE.address, 'Desktop', ['imap', 'pop3']);
      pw.bobBoth = await make(BOB.address, 'Desktop', ['imap', 'pop3']);
      await ctx.mfaAdmin.setPolicy(OPERATOR, orgId, { appPasswords: { protocols: [...PROTOCOLS] } });
      await ctx.close();
      ctx = undefined;
      mark('users and app passwords');
    }

    /** The host: the admin's certificate for mail.example.com (from a throwaway CA), and Sesame running. */
    async function server() {
      const ssl = (args: string) => run('openssl', args.split(' '), { cwd: dir });
      await ssl('req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=Test-CA -keyout ca.key -out ca.pem');
      await ssl('req -newkey rsa:2048 -nodes -subj /CN=mail.example.com -keyout mail.key -out mail.csr');
      fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:mail.example.com\n');
      await ssl(
        'x509 -req -in mail.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out mail.pem',
      );
      fs.writeFileSync(path.join(dir, 'clients.py'), CLIENTS_PY);

      host = await SandboxHost.create();
      host.write('/etc/dovecot/private/dovecot.pem', fs.readFileSync(path.join(dir, 'mail.pem')), 0o644);
      host.write('/etc/dovecot/private/dovecot.key', fs.readFileSync(path.join(dir, 'mail.key')), 0o600);
      // "DNS": mail.example.com is this host.
      host.write('/etc/hosts', `${host.read('/etc/hosts')}\n127.0.0.1 mail.example.com\n`);
      host.spawn('/usr/bin/node', [MAIN_JS], { env, cwd: ROOT, logFile: path.join(dir, 'sesame.log') });
      await host.waitForPort(8080, 60_000, 'Sesame');
      mark('sandbox and Sesame');
    }
    await Promise.all([people(), server()]);
    if (!host) throw new Error('no sandbox host');

    const steps = docSteps(fs.readFileSync(DOC, 'utf8'), 'dovecot-oauth2');
    assert.equal(steps.length, 3, 'the doc has its three test steps (vmail, the files, the sed and the restart)');
    for (const step of steps) {
      const r = await host.sh(step, { env, cwd: ROOT });
      assert.equal(r.code, 0, `doc step failed:\n${step}\n${r.stdout}${r.stderr}`);
    }
    for (const port of [143, 993, 110, 995]) await host.waitForPort(port, 60_000, `Dovecot (${port})`);
    mark('doc steps');
  });

  after(async () => {
    console.log(`# timings (ms): ${JSON.stringify(timings)}`);
    await ctx?.close().catch(() => undefined);
    await host?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Sesame's sign-in log of the mail logins so far ("protocol outcome ip"), once it has written them. */
  async function signIns(): Promise<string[]> {
    const c = await createContext(loadConfig({ ...process.env, ...env }));
    try {
      for (let i = 0; ; i++) {
        const rows = await c.store.db
          .selectFrom('sign_in_events')
          .select(['protocol', 'outcome', 'ip'])
          .where('user_agent', 'like', 'introspection:%')
          .execute();
        const seen = rows.map((r) => `${r.protocol} ${r.outcome} ${r.ip}`);
        if (seen.length >= 4 || i >= 50) return seen;
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await c.close();
    }
  }

  /** Runs the cases in parallel inside the sandbox, each from its own source address. */
  async function login(cases: Case[]) {
    const input = cases.map((c, i) => ({ ...c, src: `127.0.0.${10 + i}` }));
    const r = await host!.exec('python3', [path.join(dir, 'clients.py'), path.join(dir, 'ca.pem')], {
      input: JSON.stringify(input),
      timeoutMs: 40_000,
    });
    assert.equal(r.code, 0, `clients failed: ${r.stderr}`);
    const results = JSON.parse(r.stdout) as { ok: boolean; detail: string }[];
    const wrong = cases
      .map((c, i) => ({ c, r: results[i]! }))
      .filter(({ c, r: res }) => c.expect !== res.ok)
      .map(({ c, r: res }) => `${c.label}: expected ${c.expect ? 'in' : 'refused'}, got ${res.detail}`);
    const errors = wrong.length ? (await host!.sh('doveadm log errors || true')).stdout : '';
    assert.deepEqual(wrong, [], `${wrong.join('\n')}\nDovecot's errors:\n${errors}\nSesame:\n${sesameLog()}`);
    return results;
  }

  it('the files written are the ones the doc explains, in the modes it gives', async () => {
    const ls = await host!.sh(
      'cd /etc/dovecot && stat -c "%n %a %G" dovecot-oauth2-imap.conf.ext dovecot-oauth2-pop3.conf.ext dovecot-oauth2-smtp.conf.ext conf.d/95-sesame-oauth2.conf',
    );
    assert.equal(
      ls.stdout.trim(),
      [
        'dovecot-oauth2-imap.conf.ext 640 dovecot',
        'dovecot-oauth2-pop3.conf.ext 640 dovecot',
        'dovecot-oauth2-smtp.conf.ext 640 dovecot',
        'conf.d/95-sesame-oauth2.conf 644 root',
      ].join('\n'),
    );
    for (const p of ['imap', 'pop3', 'smtp'])
      assert.match(host!.read(`/etc/dovecot/dovecot-oauth2-${p}.conf.ext`), new RegExp(`^client_id = ${p}$`, 'm'));
    // Stock settings the doc says stay; the system-user login is gone.
    const conf = await host!.sh('doveconf ssl disable_plaintext_auth auth_mechanisms mail_location');
    assert.equal(
      conf.stdout.trim(),
      'ssl = yes\ndisable_plaintext_auth = yes\nauth_mechanisms = plain login\nmail_location = maildir:~/Maildir',
    );
    assert.doesNotMatch((await host!.sh('doveconf -n')).stdout, /driver = pam/);
  });

  it('an app password opens its own mailbox (IMAPS, IMAP STARTTLS, POP3S, POP3 STLS) and no one else can use it', async () => {
    const results = await login([
      {
        label: 'IMAPS, IMAP-only',
        proto: 'imap',
        tls: 'implicit',
        user: ALICE.address,
        password: pw.aliceImap!,
        expect: true,
      },
      {
        label: 'IMAP STARTTLS, IMAP+POP3',
        proto: 'imap',
        tls: 'starttls',
        user: ALICE.address,
        password: pw.aliceBoth!,
        expect: true,
      },
      {
        label: 'POP3S, POP3-only',
        proto: 'pop3',
        tls: 'implicit',
        user: ALICE.address,
        password: pw.alicePop!,
        expect: true,
      },
      {
        label: 'POP3 STLS, IMAP+POP3',
        proto: 'pop3',
        tls: 'starttls',
        user: ALICE.address,
        password: pw.aliceBoth!,
        expect: true,
      },
      {
        label: "IMAPS, Bob's own",
        proto: 'imap',
        tls: 'implicit',
        user: BOB.address,
        password: pw.bobBoth!,
        expect: true,
      },
      {
        label: "IMAPS, Bob's app password as Alice",
        proto: 'imap',
        tls: 'implicit',
        user: ALICE.address,
        password: pw.bobBoth!,
        expect: false,
      },
      {
        label: "POP3S, Alice's app password as Bob",
        proto: 'pop3',
        tls: 'implicit',
        user: BOB.address,
        password: pw.aliceBoth!,
        expect: false,
      },
      {
        label: "IMAPS, Alice's main password",
        proto: 'imap',
        tls: 'implicit',
        user: ALICE.address,
        password: ALICE.password,
        expect: false,
      },
      {
        label: "IMAPS, Carol's main password (MFA off)",
        proto: 'imap',
        tls: 'implicit',
        user: CAROL.address,
        password: CAROL.password,
        expect: false,
      },
      {
        label: 'POP3S, wrong password',
        proto: 'pop3',
        tls: 'implicit',
        user: ALICE.address,
        password: 'wrong-password-123',
        expect: false,
      },
    ]);
    assert.match(results[0]!.detail, /SELECT INBOX OK/);
    // Dovecot made the mailbox where the doc says, owned by vmail.
    const st = await host!.sh('stat -c "%U %G" /var/vmail/example.com/alice/Maildir');
    assert.equal(st.stdout.trim(), 'vmail vmail');
    // And a client nobody here wrote: curl over IMAPS, trusting the CA.
    const curl = await host!.exec('curl', [
      '-sS',
      '--cacert',
      path.join(dir, 'ca.pem'),
      '--user',
      `${ALICE.address}:${pw.aliceImap}`,
      'imaps://mail.example.com/INBOX?NEW',
    ]);
    assert.equal(curl.code, 0, curl.stderr);

    // Sesame saw each client's own address (send_auth_headers), not Dovecot's 127.0.0.1, and the
    // protocol of the service: IMAPS from 127.0.0.10, POP3S from 127.0.0.12.
    const seen = await signIns();
    assert.ok(seen.includes('imap success 127.0.0.10') && seen.includes('pop3 success 127.0.0.12'), seen.join('\n'));
  });

  it('per service: IMAP logins are checked as imap, POP3 as pop3, everything else as smtp', async () => {
    await login([
      {
        label: 'IMAPS, POP3-only',
        proto: 'imap',
        tls: 'implicit',
        user: ALICE.address,
        password: pw.alicePop!,
        expect: false,
      },
      {
        label: 'IMAP STARTTLS, POP3-only',
        proto: 'imap',
        tls: 'starttls',
        user: ALICE.address,
        password: pw.alicePop!,
        expect: false,
      },
      {
        label: 'POP3S, IMAP-only',
        proto: 'pop3',
        tls: 'implicit',
        user: ALICE.address,
        password: pw.aliceImap!,
        expect: false,
      },
      {
        label: 'IMAPS, SMTP-only',
        proto: 'imap',
        tls: 'implicit',
        user: ALICE.address,
        password: pw.aliceSmtp!,
        expect: false,
      },
      {
        label: 'POP3S, SMTP-only',
        proto: 'pop3',
        tls: 'implicit',
        user: ALICE.address,
        password: pw.aliceSmtp!,
        expect: false,
      },
    ]);
    // The passdb outside the protocol blocks: submission (and any other service) asks as smtp.
    const test = (service: string, password: string) =>
      host!.exec('doveadm', ['auth', 'test', '-x', `service=${service}`, ALICE.address, password]);
    const [smtpOk, imapOnSubmission, smtpOnImap, imapOk] = await Promise.all([
      test('submission', pw.aliceSmtp!),
      test('submission', pw.aliceImap!),
      test('imap', pw.aliceSmtp!),
      test('imap', pw.aliceImap!),
    ]);
    assert.equal(smtpOk.code, 0, smtpOk.stdout + smtpOk.stderr);
    assert.match(smtpOk.stdout, /auth succeeded/);
    assert.notEqual(imapOnSubmission.code, 0, 'an IMAP-only app password is refused on submission');
    assert.notEqual(smtpOnImap.code, 0, 'and an SMTP-only one on IMAP');
    assert.equal(imapOk.code, 0, 'doveadm auth test -x service=imap, as the doc says');
  });

  it("a password without TLS is refused: Debian's disable_plaintext_auth stays on", async () => {
    const results = await login([
      {
        label: 'IMAP 143 without STARTTLS',
        proto: 'imap',
        tls: 'none',
        user: ALICE.address,
        password: pw.aliceBoth!,
        expect: false,
      },
      {
        label: 'POP3 110 without STLS',
        proto: 'pop3',
        tls: 'none',
        user: ALICE.address,
        password: pw.aliceBoth!,
        expect: false,
      },
    ]);
    assert.match(results[0]!.detail, /LOGINDISABLED|PRIVACYREQUIRED|Plaintext authentication disallowed/i);
    assert.match(results[1]!.detail, /plaintext|TLS/i);
  });
});
