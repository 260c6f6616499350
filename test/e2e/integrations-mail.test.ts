/**
 * The mail integrations as shipped, on stock Debian servers, set up exactly as docs/integrations.md
 * says: in a sandbox host (test/support/sandbox-host.ts: /etc, /var and /run are copy-on-write
 * overlays of this machine's stock Debian 12 files), the test starts Sesame, adds the organization
 * example.com, its users and their app passwords, puts a throwaway CA's certificate for
 * mail.example.com where the doc says, and runs the doc's `<!-- test: mail -->` steps as written:
 * Postfix's basic setup, the vmail account, `sesame integration config dovecot` and `postfix` and the
 * commands after them. Nothing else is changed in the servers' configuration (TLS stays required for
 * plain-text passwords, as Debian ships Dovecot). Then clients from Debian's packages, on another
 * network address (192.0.2.100, a network namespace of their own, as another machine would be),
 * each checking the certificate against the test's CA:
 *
 *   - directly: Python's imaplib (143 STARTTLS, 993), poplib (995), smtplib (587 STARTTLS), curl
 *     (imaps, pop3s), swaks (587 STARTTLS with AUTH), fetchmail (--check), mbsync (a sync into a
 *     local Maildir), getmail6 (IMAPS into a Maildir) and s-nail (sends over 587). Mail submitted
 *     to Postfix with AUTH is delivered through LMTP into the Maildir
 *     under /var/vmail and read back over IMAP and POP3. Refused: a login without TLS
 *     ([PRIVACYREQUIRED]), a wrong password, an app password not allowed for IMAP (it sends mail).
 *   - then the doc's `<!-- test: mail-nginx -->` steps (nginx's mail proxy takes the ports, Dovecot's
 *     own client listeners close): IMAP (STARTTLS, 993), POP3 (995) and submission (587 STARTTLS, 465)
 *     through nginx, mail delivered and read back; refused: a login before STARTTLS, a wrong
 *     password; and a plain-text login straight to Dovecot's listener for nginx, from anything but
 *     nginx's address, is still refused.
 *   - Sesame's sign-in log has each login with its protocol and the client's real address (192.0.2.100).
 *
 * Needs root, util-linux (unshare, nsenter), iproute2, and the Debian packages scripts/test.sh installs.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createContext, type AppContext } from '../../src/app/context.js';
import { loadConfig } from '../../src/config/config.js';
import { PROTOCOLS } from '../../src/domain/app-passwords/model.js';
import { ROOT, requireBuild } from '../support/processes.js';
import { docSteps, SandboxHost, type ShResult } from '../support/sandbox-host.js';

const DOC = path.join(ROOT, 'docs/integrations.md');
const PY = path.join(ROOT, 'test/support/mail-clients-tls.py');
const CA = '/etc/ssl/sesame-test-ca.pem';
const HOSTNAME = 'mail.example.com';
const SERVER_IP = '192.0.2.1';
const CLIENT_IP = '192.0.2.100';
const ALICE = { address: 'alice@example.com', password: 'harbour-violet-lantern-42' };
const BOB = { address: 'bob@example.com', password: 'meadow-copper-quiet-77' };

interface PyCase {
  proto: 'imap' | 'pop3' | 'smtp';
  port: number;
  tls: 'none' | 'starttls' | 'implicit';
  user: string;
  password: string;
  send?: { from: string; to: string; subject: string };
  find?: string;
}

describe('mail on stock Debian servers, set up by the steps of docs/integrations.md', { timeout: 180_000 }, () => {
  let host: SandboxHost | undefined;
  let ctx: AppContext | undefined;
  let dataDir = '';
  let logFile = '';
  let sesameEnv: Record<string, string> = {};
  /** App passwords: Alice's for everything, Alice's printer (SMTP only), Bob's phone. */
  const pw = { alice: '', printer: '', bob: '' };
  const timings: Record<string, number> = {};

  const context = async () => {
    if (!host) return '';
    const r = await host.sh(
      'tail -n 40 /var/log/mail.log /var/log/dovecot.log /var/log/nginx/error.log 2>/dev/null; doveadm log errors 2>/dev/null | tail -n 20 || true',
    );
    return `\n${r.stdout}\n--- sesame\n${fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-3000) : ''}`;
  };

  /** Runs a shell script inside the sandbox, as a client on CLIENT_IP when `client` (its own network namespace). */
  async function sh(script: string, env: Record<string, string> = {}, input?: string): Promise<ShResult> {
    return host!.sh(script, { env: { HOME: '/run/clients', ...env }, cwd: ROOT, input, timeoutMs: 60_000 });
  }
  const client = (cmd: string) => `ip netns exec client ${cmd}`;

  async function py(cases: PyCase[]): Promise<{ ok: boolean; detail: string }[]> {
    const full = cases.map((c) => ({ host: HOSTNAME, cafile: CA, ...c }));
    const r = await sh(client(`python3 ${PY}`), {}, JSON.stringify(full));
    assert.equal(r.code, 0, `the Python clients failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as { ok: boolean; detail: string }[];
  }

  async function expectPy(cases: PyCase[], expected: boolean[], what: string) {
    const got = await py(cases);
    for (const [i, c] of cases.entries())
      assert.equal(
        got[i]!.ok,
        expected[i],
        `${what}: ${c.proto} ${c.tls} :${c.port} ${c.user}: ${got[i]!.detail}${await context()}`,
      );
    return got;
  }

  /** Runs the doc's steps `name` in order (those from `from` on, before `to`), as root, with Sesame's environment. */
  async function runDocSteps(name: string, extraEnv: Record<string, string> = {}, from = 0, to = Infinity) {
    const steps = docSteps(fs.readFileSync(DOC, 'utf8'), name);
    assert.ok(steps.length > 0, `docs/integrations.md has no <!-- test: ${name} --> steps`);
    for (const step of steps.slice(from, to)) {
      const t = Date.now();
      const r = await host!.sh(step, {
        env: { ...sesameEnv, HOME: '/root', npm_config_update_notifier: 'false', ...extraEnv },
        cwd: ROOT,
        timeoutMs: 90_000,
      });
      assert.equal(
        r.code,
        0,
        `doc step failed:\n${step}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}${await context()}`,
      );
      timings[`${name}: ${step.split('\n')[0]!.slice(0, 40)}`] = Date.now() - t;
    }
  }

  /** The files delivered into a user's Maildir (new/ and cur/). */
  const delivered = async (user: string) => {
    const r = await sh(
      `cat /var/vmail/example.com/${user}/Maildir/new/* /var/vmail/example.com/${user}/Maildir/cur/* 2>/dev/null || true`,
    );
    return r.stdout;
  };

  async function waitDelivered(user: string, subject: string) {
    for (const until = Date.now() + 15_000; Date.now() < until; ) {
      if ((await delivered(user)).includes(`Subject: ${subject}`)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`"${subject}" was not delivered to ${user}'s Maildir${await context()}`);
  }

  /** The sign-in log's rows of a user: "outcome/protocol/ip". */
  const signIns = async (address: string) => {
    const rows = await ctx!.store.db
      .selectFrom('sign_in_events')
      .select(['outcome', 'protocol', 'ip', 'attempts'])
      .where('address_typed', '=', address)
      .execute();
    const out: Record<string, number> = {};
    for (const r of rows)
      out[`${r.outcome}/${r.protocol}/${r.ip}`] = (out[`${r.outcome}/${r.protocol}/${r.ip}`] ?? 0) + Number(r.attempts);
    return out;
  };

  before(async () => {
    const t0 = Date.now();
    requireBuild();
    host = await SandboxHost.create();
    // The network: the mail host at 192.0.2.1 and a client machine at 192.0.2.100 (a network
    // namespace of its own, joined by a veth pair), and "DNS" for mail.example.com.
    const net = await sh(`
      mkdir -p /run/clients /run/admin
      ip netns add client
      ip link add mail0 type veth peer name eth0 netns client
      ip addr add ${SERVER_IP}/24 dev mail0
      ip link set mail0 up
      ip -n client addr add ${CLIENT_IP}/24 dev eth0
      ip -n client link set eth0 up
      ip -n client link set lo up
      echo '${SERVER_IP} ${HOSTNAME}' >> /etc/hosts
    `);
    assert.equal(net.code, 0, `network: ${net.stderr}`);
    // The admin's certificate, from a throwaway CA, where the doc says; the CA for the clients.
    const tls = await sh(`
      d=$(mktemp -d)
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj '/CN=Sesame test CA' \\
        -keyout "$d/ca.key" -out ${CA} 2>/dev/null
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=${HOSTNAME}' \\
        -keyout "$d/key.pem" -out "$d/req.pem" 2>/dev/null
      printf 'subjectAltName=DNS:${HOSTNAME}\\n' > "$d/ext"
      openssl x509 -req -in "$d/req.pem" -CA ${CA} -CAkey "$d/ca.key" -CAcreateserial -days 2 -extfile "$d/ext" -out "$d/cert.pem" 2>/dev/null
      live=/etc/letsencrypt/live/${HOSTNAME}
      mkdir -p $live
      cat "$d/cert.pem" ${CA} > $live/fullchain.pem
      install -m 0600 "$d/key.pem" $live/privkey.pem
      rm -rf "$d"
    `);
    assert.equal(tls.code, 0, `certificate: ${tls.stderr}`);
    timings.sandboxMs = Date.now() - t0;

    // Sesame, inside, as the doc assumes: 127.0.0.1:8080, with the nginx backends in its environment.
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-mail-stock-'));
    logFile = path.join(dataDir, 'sesame.log');
    sesameEnv = {
      SESAME_DATA_DIR: dataDir,
      DATABASE_URL: '',
      HOST: '127.0.0.1',
      PORT: '8080',
      SESAME_PUBLIC_URL: 'http://127.0.0.1:8080',
      SESAME_MODE: 'development',
      SESAME_SMTP_URL: '',
      SESAME_SMS_WEBHOOK_URL: '',
      SESAME_DEV_OUTBOX: path.join(dataDir, 'outbox.jsonl'),
      LOG_LEVEL: 'warn',
      SESAME_MAIL_BACKEND_IMAP: '127.0.0.1:10143',
      SESAME_MAIL_BACKEND_POP3: '127.0.0.1:10110',
      SESAME_MAIL_BACKEND_SMTP: '127.0.0.1:10025',
    };
    // The doc's first two steps (Postfix's basic setup, the vmail account) need no Sesame: they run
    // while Sesame is set up; the rest after them, in order.
    const firstSteps = runDocSteps('mail', {}, 0, 2);
    firstSteps.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
    const cli = async (args: string, input?: string) => {
      const r = await host!.sh(`node bin/sesame.js ${args}`, { env: sesameEnv, cwd: ROOT, input });
      assert.equal(r.code, 0, `sesame ${args}: ${r.stdout}${r.stderr}`);
    };
    await cli('org add example.com --name Example');
    // Independent steps side by side (every CLI call is a Node start).
    await Promise.all(
      [ALICE, BOB].map(async (u) => {
        await cli(`user add ${u.address} --password-stdin`, `${u.password}\n`);
        await cli(`user mfa ${u.address} enforced`);
      }),
    );
    host.spawn('node', ['dist/src/main.js'], { env: sesameEnv, cwd: ROOT, logFile });

    // App passwords through the project's own code, on the same store, as the users' pages make them.
    ctx = await createContext(loadConfig({ ...process.env, ...sesameEnv }));
    const make = async (address: string, name: string) => {
      const u = await ctx!.accounts.findUserByAddressOrNull(address);
      assert.ok(u);
      const { session } = await ctx!.sessions.start(
        u.id,
        ['pwd', 'otp'],
        { ip: '127.0.0.1', userAgent: 'test' },
        Date.now(),
      );
      return {
        u,
        session,
        password: (await ctx!.appPasswords.create(u, session, name, { ip: '127.0.0.1', locale: 'en' })).password,
      };
    };
    const a = await make(ALICE.address, 'Laptop');
    pw.alice = a.password;
    pw.bob = (await make(BOB.address, 'Phone')).password;
    await ctx.mfaAdmin.setPolicy({ kind: 'operator' }, a.u.orgId, { appPasswords: { protocols: ['smtp'] } });
    pw.printer = (await ctx.appPasswords.create(a.u, a.session, 'Printer', { ip: '127.0.0.1', locale: 'en' })).password;
    await ctx.mfaAdmin.setPolicy({ kind: 'operator' }, a.u.orgId, {
      appPasswords: { protocols: [...PROTOCOLS] },
    });
    await host.waitForPort(8080, 60_000, 'Sesame');
    timings.sesameMs = Date.now() - t0;

    await firstSteps;
    await runDocSteps('mail', { APP_PASSWORD: pw.alice }, 2);
    timings.docStepsMs = Date.now() - t0;
  });

  after(async () => {
    try {
      await ctx?.close();
    } finally {
      await host?.stop();
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
      if (process.env.SESAME_TEST_TIMINGS) console.log('integrations-mail timings (ms):', JSON.stringify(timings));
    }
  });

  it("the doc's checks hold: doveadm auth test succeeds with an app password and fails with a wrong one; doveadm user finds the vmail home", async () => {
    const bad = await sh('doveadm auth test -x service=imap alice@example.com wrong-password', {});
    assert.notEqual(bad.code, 0, 'a wrong password must fail doveadm auth test');
    assert.match(bad.stdout + bad.stderr, /auth failed/);
    const user = await sh('doveadm user bob@example.com');
    assert.equal(user.code, 0, user.stderr);
    assert.match(user.stdout, /uid\s+5000/);
    assert.match(user.stdout, /home\s+\/var\/vmail\/example\.com\/bob/);
    // A passdb lookup (no password) never succeeds: Sesame hands out no password.
    const lookup = await sh('doveadm auth lookup alice@example.com');
    assert.doesNotMatch(lookup.stdout, /passdb: alice@example.com\s*$/m, lookup.stdout);
    assert.doesNotMatch(lookup.stdout, /nopassword/);
  });

  it('directly: mail submitted to Postfix (587, STARTTLS, AUTH) is delivered through LMTP and read back over IMAP and POP3 by Python, curl, swaks, fetchmail and mbsync; plain text and wrong passwords are refused', async () => {
    const t0 = Date.now();
    // swaks submits with AUTH after STARTTLS, checking the certificate against the CA.
    const swaks = await sh(
      client(
        `swaks --server ${HOSTNAME}:587 --tls --tls-verify --tls-ca-path ${CA} --auth PLAIN --auth-user "$U" --auth-password "$P" --from "$U" --to bob@example.com --header 'Subject: from swaks direct' --body 'hello from swaks'`,
      ),
      { U: ALICE.address, P: pw.alice },
    );
    assert.equal(swaks.code, 0, `swaks: ${swaks.stdout}${swaks.stderr}${await context()}`);
    // smtplib (587 STARTTLS) with the printer's SMTP-only app password.
    await expectPy(
      [
        {
          proto: 'smtp',
          port: 587,
          tls: 'starttls',
          user: ALICE.address,
          password: pw.printer,
          send: { from: ALICE.address, to: BOB.address, subject: 'from smtplib direct' },
        },
      ],
      [true],
      'smtplib direct',
    );
    await waitDelivered('bob', 'from swaks direct');
    await waitDelivered('bob', 'from smtplib direct');

    const got = await expectPy(
      [
        { proto: 'imap', port: 143, tls: 'starttls', user: BOB.address, password: pw.bob, find: 'from swaks direct' },
        { proto: 'imap', port: 993, tls: 'implicit', user: BOB.address, password: pw.bob, find: 'from smtplib direct' },
        { proto: 'pop3', port: 995, tls: 'implicit', user: BOB.address, password: pw.bob },
        // Refused: no TLS (Dovecot's stock disable_plaintext_auth), a wrong password, an app
        // password not allowed for IMAP, the main password of a user whose MFA is enforced.
        { proto: 'imap', port: 143, tls: 'none', user: BOB.address, password: pw.bob },
        { proto: 'imap', port: 993, tls: 'implicit', user: BOB.address, password: 'not the password' },
        { proto: 'imap', port: 993, tls: 'implicit', user: ALICE.address, password: pw.printer },
        { proto: 'imap', port: 993, tls: 'implicit', user: ALICE.address, password: ALICE.password },
      ],
      [true, true, true, false, false, false, false],
      'Python direct',
    );
    assert.match(got[3]!.detail, /PRIVACYREQUIRED|LOGINDISABLED|disallowed/i, `no TLS: ${got[3]!.detail}`);
    assert.match(got[2]!.detail, /^[1-9]\d* messages/, `POP3 sees the delivered messages: ${got[2]!.detail}`);

    // curl: IMAPS fetches the first message, POP3S lists.
    const curl = await sh(
      `${client(`curl -sS --cacert ${CA} --user "$U:$P" 'imaps://${HOSTNAME}/INBOX;UID=1'`)}
       echo ---
       ${client(`curl -sS --cacert ${CA} --user "$U:$P" 'pop3s://${HOSTNAME}/'`)}`,
      { U: BOB.address, P: pw.bob },
    );
    assert.equal(curl.code, 0, `curl: ${curl.stderr}`);
    assert.match(curl.stdout, /Subject: from swaks direct[\s\S]*---\n1 \d+/);

    // fetchmail (--check: counts the messages over IMAPS) and mbsync (syncs INBOX into a local Maildir).
    const fetch = await sh(
      `umask 077
       printf 'poll ${HOSTNAME} proto IMAP port 993 user "%s" password "%s" ssl sslcertck sslcertfile ${CA}\\n' "$U" "$P" > /run/clients/fetchmailrc
       ${client('fetchmail -f /run/clients/fetchmailrc --check')} || test $? = 1
       mkdir -p /run/clients/mbsync
       printf '%s\\n' 'IMAPAccount bob' 'Host ${HOSTNAME}' 'Port 993' "User $U" "Pass \\"$P\\"" 'SSLType IMAPS' 'CertificateFile ${CA}' '' \\
         'IMAPStore bob-remote' 'Account bob' '' 'MaildirStore bob-local' 'Path /run/clients/mbsync/' 'Inbox /run/clients/mbsync/INBOX' '' \\
         'Channel bob' 'Far :bob-remote:' 'Near :bob-local:' 'Patterns INBOX' 'Create Near' 'SyncState *' > /run/clients/mbsyncrc
       ${client('mbsync -q -c /run/clients/mbsyncrc bob')}
       grep -l 'Subject: from swaks direct' /run/clients/mbsync/INBOX/new/* /run/clients/mbsync/INBOX/cur/* | wc -l`,
      { U: BOB.address, P: pw.bob },
    );
    assert.equal(fetch.code, 0, `fetchmail/mbsync: ${fetch.stdout}${fetch.stderr}${await context()}`);
    assert.match(fetch.stdout, /[1-9]\d* messages? (\(\d+ seen\) )?for bob@example\.com at mail\.example\.com/);
    assert.match(fetch.stdout.trim(), /\n1$/, `mbsync synced the message: ${fetch.stdout}`);

    // getmail6 (IMAPS into a local Maildir, the CA checked) and s-nail (submission 587, STARTTLS
    // with the CA checked, AUTH PLAIN with Alice's app password; the message then lands in Bob's mailbox).
    const user = (a: string) => encodeURIComponent(a);
    const more = await sh(
      `umask 077
       mkdir -p /run/clients/getmail/cur /run/clients/getmail/new /run/clients/getmail/tmp /run/clients/getmail-state
       printf '%s\n' '[retriever]' 'type = SimpleIMAPSSLRetriever' 'server = ${HOSTNAME}' 'port = 993' "username = $U" "password = $P" \
         'ca_certs = ${CA}' 'mailboxes = ("INBOX",)' '' '[destination]' 'type = Maildir' 'path = /run/clients/getmail/' '' \
         '[options]' 'read_all = true' 'delete = false' 'verbose = 0' > /run/clients/getmail-state/getmailrc
       chown -R nobody /run/clients/getmail /run/clients/getmail-state  # getmail never delivers as root
       ${client('runuser -u nobody -- getmail --getmaildir /run/clients/getmail-state --rcfile getmailrc')}
       grep -l 'Subject: from swaks direct' /run/clients/getmail/new/* | wc -l
       printf 'hello from s-nail\n' | ${client(`s-nail -:/ -S v15-compat -S sendwait -S "mta=smtp://${user(ALICE.address)}:$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$AP")@${HOSTNAME}:587" -S smtp-use-starttls -S smtp-auth=plain -S tls-ca-file=${CA} -r ${ALICE.address} -s 'from s-nail' ${BOB.address}`)}`,
      { U: BOB.address, P: pw.bob, AP: pw.alice },
    );
    assert.equal(more.code, 0, `getmail6/s-nail: ${more.stdout}${more.stderr}${await context()}`);
    assert.match(more.stdout.trim(), /^1$/m, `getmail6 fetched the message: ${more.stdout}`);
    await waitDelivered('bob', 'from s-nail');

    // Sesame's sign-in log: the protocols, and the client's own address.
    const bob = await signIns(BOB.address);
    assert.ok(bob[`success/imap/${CLIENT_IP}`]! >= 2, JSON.stringify(bob));
    assert.ok(bob[`success/pop3/${CLIENT_IP}`]! >= 1, JSON.stringify(bob));
    assert.ok(bob[`failure/imap/${CLIENT_IP}`]! >= 1, JSON.stringify(bob));
    const alice = await signIns(ALICE.address);
    assert.ok(alice[`success/smtp/${CLIENT_IP}`]! >= 2, JSON.stringify(alice));
    timings.directMs = Date.now() - t0;
  });

  it("through nginx (the doc's nginx steps): IMAP, POP3 and submission with STARTTLS and implicit TLS; no login before STARTTLS; Dovecot still wants TLS from anyone but nginx", async () => {
    const t0 = Date.now();
    await runDocSteps('mail-nginx');
    const before = await signIns(BOB.address);
    const got = await expectPy(
      [
        {
          proto: 'smtp',
          port: 587,
          tls: 'starttls',
          user: ALICE.address,
          password: pw.alice,
          send: { from: ALICE.address, to: BOB.address, subject: 'through nginx 587' },
        },
        {
          proto: 'smtp',
          port: 465,
          tls: 'implicit',
          user: ALICE.address,
          password: pw.printer,
          send: { from: ALICE.address, to: BOB.address, subject: 'through nginx 465' },
        },
      ],
      [true, true],
      'smtplib through nginx',
    );
    assert.ok(got);
    await waitDelivered('bob', 'through nginx 587');
    await waitDelivered('bob', 'through nginx 465');
    const read = await expectPy(
      [
        { proto: 'imap', port: 143, tls: 'starttls', user: BOB.address, password: pw.bob, find: 'through nginx 587' },
        { proto: 'imap', port: 993, tls: 'implicit', user: BOB.address, password: pw.bob, find: 'through nginx 465' },
        { proto: 'pop3', port: 995, tls: 'implicit', user: BOB.address, password: pw.bob },
        // nginx: no login before STARTTLS; a wrong password.
        { proto: 'imap', port: 143, tls: 'none', user: BOB.address, password: pw.bob },
        { proto: 'imap', port: 993, tls: 'implicit', user: BOB.address, password: 'not the password' },
      ],
      [true, true, true, false, false],
      'Python through nginx',
    );
    assert.match(read[0]!.detail, /through nginx 587/);
    const swaks = await sh(
      client(
        `swaks --server ${HOSTNAME}:587 --tls --tls-verify --tls-ca-path ${CA} --auth PLAIN --auth-user "$U" --auth-password "$P" --from "$U" --to bob@example.com --header 'Subject: from swaks through nginx' --body 'hello'`,
      ),
      { U: ALICE.address, P: pw.alice },
    );
    assert.equal(swaks.code, 0, `swaks through nginx: ${swaks.stdout}${swaks.stderr}${await context()}`);
    await waitDelivered('bob', 'from swaks through nginx');
    const curl = await sh(
      client(
        `curl -sS --cacert ${CA} --user "$U:$P" 'imaps://${HOSTNAME}/INBOX' -X 'SEARCH SUBJECT "swaks through nginx"'`,
      ),
      {
        U: BOB.address,
        P: pw.bob,
      },
    );
    assert.equal(curl.code, 0, `curl through nginx: ${curl.stderr}`);
    assert.match(curl.stdout, /\* SEARCH \d+/);

    // Dovecot's listener for nginx, reached directly from anything but nginx's address: a client
    // on this host speaking the PROXY protocol as if it came to another address gets no plain-text
    // login ([PRIVACYREQUIRED]); and nothing answers on Dovecot's own ports any more but nginx.
    const direct = await sh(
      `exec 3<>/dev/tcp/127.0.0.1/10143
       printf 'PROXY TCP4 ${CLIENT_IP} 127.0.0.1 40000 143\\r\\n' >&3
       read -r -t 5 greeting <&3
       printf 'a LOGIN "%s" "%s"\\r\\n' "$U" "$P" >&3
       while read -r -t 5 line <&3; do echo "$line"; case "$line" in "a "*) break ;; esac; done`,
      { U: BOB.address, P: pw.bob },
    );
    assert.match(
      direct.stdout,
      /^a NO \[PRIVACYREQUIRED\]/m,
      `plain text straight to Dovecot: ${direct.stdout}${direct.stderr}`,
    );

    // Sesame's sign-in log: the logins through nginx carry the client's real address (nginx's
    // Client-IP for its own question, the PROXY header for Dovecot's).
    const now = await signIns(BOB.address);
    const more = (k: string) => (now[k] ?? 0) - (before[k] ?? 0);
    assert.ok(more(`success/imap/${CLIENT_IP}`) >= 2, JSON.stringify({ before, now }));
    assert.ok(more(`success/pop3/${CLIENT_IP}`) >= 1, JSON.stringify({ before, now }));
    assert.equal(
      Object.keys(now).filter((k) => k.startsWith('success/') && !k.endsWith(`/${CLIENT_IP}`)).length,
      0,
      JSON.stringify(now),
    );
    timings.nginxMs = Date.now() - t0;
  });
});
