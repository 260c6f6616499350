/**
 * Where an app password may be used from (issue #20), end to end with real servers and clients.
 * The real server process (and, on PostgreSQL, a second one on the same store) asked by a private
 * Dovecot (the Lua passdb -> /auth/mail), Postfix (Dovecot SASL), nginx's mail proxy
 * (/auth/nginx-mail) and nginx's forward auth (/auth/basic), all from test/support/mail-servers.ts,
 * and by OpenLDAP's ldapwhoami on Sesame's own LDAP interface. Every client connects from
 * 127.0.0.1, so the locations either hold 127.0.0.0/8 or do not:
 *
 *   - IMAP through nginx and through Dovecot (curl): allowed with no rule; after the rule "IMAP
 *     only from Office" (192.0.2.0/24) refused, the sign-in log saying location_not_allowed, POP3
 *     (no rule) still allowed; the admin adds 127.0.0.0/8 to Office through the running server's
 *     JSON API and the very next login works, nothing restarted (no Dovecot auth cache: the shipped
 *     auth_cache_ttl = 0).
 *   - An app password pinned to 10.0.4.17 is refused from 127.0.0.1 on SMTP submission (swaks via
 *     Postfix, curl via nginx), on IMAP, on LDAP and on forward auth, while an unpinned one works
 *     on each; only the unpinned one's messages reach the sink.
 *   - LDAP: a bind with an LDAP app password is refused (49) under the rule "LDAP never", and binds
 *     again once the rule goes.
 *   - Forward auth through nginx: allowed while the HTTP rule's location holds loopback, 401 once
 *     it names only another place.
 *   - Two server processes on one PostgreSQL store (the full tier): a rule changed through one's
 *     JSON API is applied by the other within the bound another instance has on PostgreSQL
 *     (test/support/propagation.ts), both ways, after each had compiled the rules and kept the
 *     answer in memory before the change. On SQLite (the fast tier) that case is skipped; test/http/
 *     location-rules.test.ts covers two contexts on each store.
 *
 * Needs root and the Debian packages scripts/test.sh installs (the mail servers', curl, swaks,
 * ldap-utils, oathtool).
 */
import { seenWithin } from '../support/propagation.js';
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
import { adminApiToken } from '../support/admin-mfa.js';
import { makeCertificates, run, type Run } from '../support/ldap-clients.js';
import { MailServers } from '../support/mail-servers.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { freePorts, runSesameCli, serverEnv, startServer, type StartedServer } from '../support/processes.js';
import { startSmtp } from '../support/sinks.js';
import { storeOr } from '../support/stores.js';

const STORE = storeOr('postgres');
const ORG = 'contoso.test';
const ADA = { address: 'ada@contoso.test', password: 'violet-harbour-lantern-42', name: 'Ada Admin' };
const ANN = { address: 'ann@contoso.test', password: 'harbour-violet-lantern-42', name: 'Ann Enforced' };
const ANN_DN = 'uid=ann,ou=people,dc=contoso,dc=test';
const RCPT = 'bob@example.org';
const PINNED_AT = '10.0.4.17';

describe(`location rules with real mail servers, forward auth and LDAP, on ${STORE}`, { timeout: 180_000 }, () => {
  let dir = '';
  let db: TestDatabase | undefined;
  let mail: MailServers | undefined;
  let sink: Awaited<ReturnType<typeof startSmtp>> | undefined;
  let server: StartedServer | undefined;
  /** A second instance on the same PostgreSQL store (none on SQLite). */
  let second: StartedServer | undefined;
  let ctx: AppContext | undefined;
  let ann: User | undefined;
  let ldapPort = 0;
  let ca = '';
  let token = '';
  /** Named locations by name. */
  const loc: Record<string, string> = {};
  /** App passwords as shown to the user, without the spaces. */
  const pw = { phone: '', scanner: '', book: '' };
  let scannerId = '';

  before(async () => {
    for (const tool of ['/usr/bin/curl', '/usr/bin/swaks', '/usr/bin/ldapwhoami', '/usr/bin/oathtool'])
      if (!fs.existsSync(tool)) throw new Error(`${tool} not found (scripts/test.sh installs it)`);
    mail = await MailServers.create();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-locations-e2e-'));
    const { ca: caFile, cert, key } = await makeCertificates(dir);
    ca = caFile;
    if (STORE === 'postgres') db = await createTestDatabase();
    const [port, port2, ldap] = await freePorts(3);
    ldapPort = ldap!;
    const dataDir = path.join(dir, 'data');
    fs.mkdirSync(dataDir);
    const env = serverEnv(dataDir, port!, {
      DATABASE_URL: db?.url ?? '',
      SESAME_LDAP_PORT: String(ldapPort),
      SESAME_LDAP_TLS_CERT_FILE: cert,
      SESAME_LDAP_TLS_KEY_FILE: key,
      // Refusals on purpose, all from 127.0.0.1 (a location refusal locks nothing, but a slip must not either).
      SESAME_ACCOUNT_FAILURE_LIMIT: '100',
      SESAME_IP_FAILURE_LIMIT: '10000',
      ...mail.backendEnv(),
    });
    const cli = (args: string[], stdin?: string) => runSesameCli(env, args, stdin, { stdoutOnly: true });
    const lastLine = (out: string) => out.trim().split('\n').pop()!.trim();
    await cli(['org', 'add', ORG, '--name', 'Contoso']);
    await cli(['user', 'add', ADA.address, '--name', ADA.name, '--admin', '--password-stdin'], `${ADA.password}\n`);
    await cli(['user', 'add', ANN.address, '--name', ANN.name, '--password-stdin'], `${ANN.password}\n`);
    await cli(['user', 'mfa', ANN.address, 'enforced']);
    const dovecotKey = lastLine(await cli(['integration', 'add', 'dovecot']));
    const nginxKey = lastLine(await cli(['integration', 'add', 'nginx-mail']));

    // The test's own context on the same store: app passwords and locations, as the pages would make them.
    ctx = await createContext(loadConfig(env));
    ann = (await ctx.accounts.findUserByAddressOrNull(ANN.address))!;
    assert.ok(ann);
    await ctx.mfaAdmin.setPolicy(OPERATOR, ann.orgId, { appPasswords: { protocols: [...PROTOCOLS] } });
    const { session } = await ctx.sessions.start(
      ann.id,
      ['pwd', 'otp'],
      { ip: '127.0.0.1', userAgent: 'locations e2e' },
      Date.now(),
    );
    const meta = { ip: '127.0.0.1', locale: 'en' as const };
    const bare = (p: string) => p.replaceAll(' ', '');
    pw.phone = bare((await ctx.appPasswords.create(ann, session, 'Phone', meta)).password);
    pw.book = bare((await ctx.appPasswords.create(ann, session, 'Address book', meta, ['ldap'])).password);
    const scanner = await ctx.appPasswords.create(ann, session, 'Scanner', meta, [...PROTOCOLS], {
      network: PINNED_AT,
    });
    pw.scanner = bare(scanner.password);
    scannerId = scanner.appPassword.id;
    for (const [name, networks] of [
      ['Office', ['192.0.2.0/24']],
      ['Elsewhere', ['198.51.100.0/24']],
    ] as const)
      loc[name] = (
        await ctx.locations.create(OPERATOR, ann.orgId, { name, networks: [...networks], countries: [] })
      ).id;

    const env2 = { ...env, PORT: String(port2), SESAME_PUBLIC_URL: `http://127.0.0.1:${port2}`, SESAME_LDAP_PORT: '0' };
    [server, second] = await Promise.all([
      startServer({ env, pollMs: 50 }),
      STORE === 'postgres' ? startServer({ env: env2, pollMs: 50 }) : undefined,
    ]);
    sink = await startSmtp();
    await mail.start({
      sesameUrl: server.base,
      integrationKey: dovecotKey,
      nginxIntegrationKey: nginxKey,
      relayPort: sink.port,
    });
    token = await adminApiToken(server.base, ADA);
  });

  after(async () => {
    try {
      await mail?.stop();
    } finally {
      await sink?.stop();
      await ctx?.close();
      await Promise.all([server?.stop(), second?.stop()]);
      await db?.drop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  const P = () => mail!.ports;
  const context = () => `\n${mail?.logs(2_000) ?? ''}\n--- sesame\n${server?.output().slice(-2_000) ?? ''}`;

  // Not LDAPNOINIT: it would drop the LDAPTLS_* variables too.
  const tool = (file: string, args: string[], stdin = '') =>
    run(file, args, { LDAPTLS_CACERT: ca, LDAPTLS_REQCERT: 'demand' }, stdin);

  /** curl over STARTTLS against the test's CA: IMAP lists mailboxes, SMTP sends one message. 0 = logged in. */
  function curl(url: string, password: string): Promise<Run> {
    const args = [
      '-sS',
      '--max-time',
      '15',
      '--ssl-reqd',
      '--cacert',
      mail!.caFile,
      '--user',
      `${ANN.address}:${password}`,
    ];
    if (!url.startsWith('smtp')) return tool('/usr/bin/curl', [...args, url]);
    args.push('--mail-from', ANN.address, '--mail-rcpt', RCPT, '--upload-file', '-');
    return tool(
      '/usr/bin/curl',
      [...args, url],
      `From: ${ANN.address}\r\nTo: ${RCPT}\r\nSubject: ${url}\r\n\r\nHi.\r\n`,
    );
  }
  const nginxImap = (password: string) => curl(`imap://127.0.0.1:${P().nginxImap}/`, password);
  const dovecotImap = (password: string) => curl(`imap://127.0.0.1:${P().imap}/`, password);
  const dovecotPop3 = (password: string) => curl(`pop3://127.0.0.1:${P().pop3}/`, password);
  const nginxSmtp = (password: string) => curl(`smtp://127.0.0.1:${P().nginxSubmission}/client.test`, password);
  /** swaks on Postfix's submission port (SMTP AUTH through Dovecot SASL -> /auth/mail, service smtp). */
  const postfixSmtp = (password: string) =>
    tool('/usr/bin/swaks', [
      ...['--server', `127.0.0.1:${P().postfixSubmission}`, '--tls', '--tls-verify', '--tls-ca-path', mail!.caFile],
      ...['--auth', 'PLAIN', '--auth-user', ANN.address, '--auth-password', password],
      ...[
        '--from',
        ANN.address,
        '--to',
        RCPT,
        '--header',
        'Subject: swaks via Postfix',
        '--timeout',
        '15',
        '--hide-all',
      ],
    ]);
  const ldapwhoami = (password: string) =>
    tool('/usr/bin/ldapwhoami', ['-x', '-H', `ldap://127.0.0.1:${ldapPort}`, '-ZZ', '-D', ANN_DN, '-w', password]);
  /** Forward auth through nginx (auth_request -> /auth/basic?protocol=http); the status the client sees. */
  const forwardAuth = async (password: string, base = `http://127.0.0.1:${P().nginxForwardAuth}`) =>
    (
      await fetch(`${base}/calendar/`, {
        headers: { authorization: `Basic ${Buffer.from(`${ANN.address}:${password}`).toString('base64')}` },
      })
    ).status;
  /** /auth/basic of a server directly (it believes the peer, 127.0.0.1). */
  const basicAt = async (s: StartedServer, password: string) =>
    (
      await fetch(`${s.base}/auth/basic?protocol=http`, {
        headers: { authorization: `Basic ${Buffer.from(`${ANN.address}:${password}`).toString('base64')}` },
      })
    ).status;

  const ok = (r: Run, what: string) =>
    assert.equal(r.code, 0, `${what}: expected a login, got exit ${r.code} ${r.stderr.trim()}${context()}`);
  const refused = (r: Run, what: string) =>
    assert.notEqual(r.code, 0, `${what}: expected a refusal, but it logged in${context()}`);

  /** Replaces the organization's rules through the running server's JSON API (as an admin would). */
  async function setRules(
    rules: { protocol: string; mode: string; locations?: string[] }[],
    through: StartedServer = server!,
  ): Promise<void> {
    const r = await fetch(`${through.base}/api/v1/location-rules`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ rules }),
    });
    assert.equal(r.status, 200, `PUT /api/v1/location-rules: ${await r.text()}`);
  }

  /**
   * The sign-in log rows since `since` for `protocol`, newest first, once they stand for `n` attempts
   * (the log is written in batches, and identical failures share a row: `attempts`).
   */
  async function rows(protocol: string, since: number, n: number) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const got = (
        await ctx!.store.db
          .selectFrom('sign_in_events')
          .select(['outcome', 'reason', 'protocol', 'ip', 'app_password_id', 'attempts'])
          .where('protocol', '=', protocol)
          .where('at', '>=', since)
          .orderBy('at', 'desc')
          .execute()
      ).map((r) => ({ ...r, attempts: Number(r.attempts) }));
      if (got.reduce((a, r) => a + r.attempts, 0) >= n || Date.now() > deadline) return got;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  /** How many attempts of these rows were refused by location (of one app password, if given). */
  const byLocation = (rs: Awaited<ReturnType<typeof rows>>, appPasswordId?: string) =>
    rs
      .filter((r) => r.outcome === 'failure' && r.reason === 'location_not_allowed' && r.ip === '127.0.0.1')
      .filter((r) => appPasswordId === undefined || r.app_password_id === appPasswordId)
      .reduce((a, r) => a + r.attempts, 0);
  /** The newest rows of a protocol, for assertion messages. */
  const recent = async (protocol: string) => `\nlog: ${JSON.stringify(await rows(protocol, Date.now() - 60_000, 0))}`;

  it('IMAP through nginx and Dovecot: allowed with no rule; refused by "only from Office" (location_not_allowed); the next login works once the admin adds loopback to Office', async () => {
    ok(await nginxImap(pw.phone), 'IMAP through nginx, no rule');
    ok(await dovecotImap(pw.phone), 'IMAP through Dovecot, no rule');

    await setRules([{ protocol: 'imap', mode: 'locations', locations: [loc.Office!] }]);
    const since = Date.now();
    refused(await nginxImap(pw.phone), 'IMAP through nginx, only from Office');
    refused(await dovecotImap(pw.phone), 'IMAP through Dovecot, only from Office');
    ok(await dovecotPop3(pw.phone), 'POP3 has no rule: still allowed');
    const log = await rows('imap', since, 2);
    assert.equal(byLocation(log), 2, `both IMAP attempts refused by location: ${JSON.stringify(log)}`);

    // The admin widens Office through the running server's API; nothing is restarted.
    const pid = server!.child.pid;
    const put = await fetch(`${server!.base}/api/v1/locations/${loc.Office}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Office', networks: ['192.0.2.0/24', '127.0.0.0/8'] }),
    });
    assert.equal(put.status, 200, await put.text());
    ok(await nginxImap(pw.phone), 'IMAP through nginx, Office now holds loopback');
    ok(await dovecotImap(pw.phone), 'IMAP through Dovecot, Office now holds loopback');
    assert.equal(server!.child.pid, pid);
    assert.equal(server!.child.exitCode, null, 'the same server process answered');
  });

  it('an app password pinned to 10.0.4.17 is refused from 127.0.0.1 on SMTP submission (Postfix, nginx), IMAP, LDAP and forward auth; the unpinned one works', async () => {
    const sent = sink!.received.length;
    const since = Date.now();
    refused(await postfixSmtp(pw.scanner), 'pinned: swaks via Postfix');
    refused(await nginxSmtp(pw.scanner), 'pinned: curl smtp via nginx');
    refused(await nginxImap(pw.scanner), 'pinned: IMAP through nginx');
    assert.equal((await ldapwhoami(pw.scanner)).code, 49, 'pinned: LDAP bind, invalidCredentials');
    assert.equal(await forwardAuth(pw.scanner), 401, 'pinned: forward auth');
    ok(await postfixSmtp(pw.phone), 'unpinned: swaks via Postfix');
    ok(await nginxSmtp(pw.phone), 'unpinned: curl smtp via nginx');
    assert.equal(await forwardAuth(pw.phone), 200, 'unpinned: forward auth');

    const smtp = await rows('smtp', since, 4);
    assert.equal(byLocation(smtp, scannerId), 2, `both SMTP attempts of the pinned password: ${JSON.stringify(smtp)}`);
    assert.equal(byLocation(smtp), 2, `and nothing else refused by location: ${JSON.stringify(smtp)}`);
    for (const protocol of ['imap', 'ldap', 'http']) {
      const log = await rows(protocol, since, 1);
      assert.equal(byLocation(log, scannerId), 1, `${protocol}: ${JSON.stringify(log)}`);
    }
    // Only the unpinned password's two messages reached the sink.
    const deadline = Date.now() + 10_000;
    while (sink!.received.length < sent + 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(sink!.received.length, sent + 2, `messages that reached the sink${context()}`);
  });

  it('LDAP: an LDAP app password is refused under "LDAP never" and binds again once the rule goes', async () => {
    const imapRule = { protocol: 'imap', mode: 'locations', locations: [loc.Office!] };
    const who = await ldapwhoami(pw.book);
    ok(who, 'LDAP bind, no LDAP rule');
    assert.match(who.stdout, new RegExp(`dn:${ANN_DN}`));
    await setRules([imapRule, { protocol: 'ldap', mode: 'never' }]);
    const since = Date.now();
    const no = await ldapwhoami(pw.book);
    assert.equal(no.code, 49, `invalidCredentials under "LDAP never": ${no.stderr}`);
    const log = await rows('ldap', since, 1);
    assert.equal(byLocation(log), 1, JSON.stringify(log));
    await setRules([imapRule]);
    ok(await ldapwhoami(pw.book), 'LDAP bind once the rule is gone');
  });

  it('forward auth through nginx: allowed while the HTTP rule names a location holding loopback, 401 once it names another place', async () => {
    const imapRule = { protocol: 'imap', mode: 'locations', locations: [loc.Office!] };
    await setRules([imapRule, { protocol: 'http', mode: 'locations', locations: [loc.Office!] }]);
    assert.equal(await forwardAuth(pw.phone), 200, `Office holds loopback${await recent('http')}`);
    await setRules([imapRule, { protocol: 'http', mode: 'locations', locations: [loc.Elsewhere!] }]);
    const since = Date.now();
    assert.equal(await forwardAuth(pw.phone), 401, 'only from Elsewhere');
    const log = await rows('http', since, 1);
    assert.equal(byLocation(log), 1, JSON.stringify(log));
    await setRules([imapRule]);
    assert.equal(await forwardAuth(pw.phone), 200, 'no HTTP rule');
  });

  it('two server processes on one PostgreSQL store: a rule changed through one is applied by the other within the bound', {
    skip: STORE === 'postgres' ? false : 'needs PostgreSQL (the full tier): one SQLite store is one instance',
  }, async () => {
    const [a, b] = [server!, second!];
    // Both have compiled the current rules (no HTTP rule) before the change.
    assert.deepEqual([await basicAt(a, pw.phone), await basicAt(b, pw.phone)], [200, 200], await recent('http'));
    // Another instance may answer from memory until the change's notification reaches it: within
    // the documented bound (docs/performance.md, "Answers kept in memory"); the one that wrote, at once.
    await setRules([{ protocol: 'http', mode: 'never' }], a);
    await seenWithin(
      'postgres',
      'B applies the rule changed through A',
      () => basicAt(b, pw.phone),
      (s) => s === 401,
    );
    assert.equal(await forwardAuth(pw.phone), 401, 'and so does A, behind nginx');
    await setRules([], b);
    assert.equal(await basicAt(b, pw.phone), 200, 'B, which wrote, at once');
    await seenWithin(
      'postgres',
      'A applies the rule removed through B',
      () => basicAt(a, pw.phone),
      (s) => s === 200,
    );
  });
});
