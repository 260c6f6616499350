/**
 * IMAP LOGIN through real Dovecot (issue #21, item 3): how long a mail app waits for LOGIN when
 * Dovecot asks Sesame (the Lua passdb `sesame integration config dovecot` writes), next to the same
 * Dovecot checking a local passwd-file, auth cache off on both, in one run.
 *
 * Targets, each a private Dovecot 2.3 on free 127.0.0.1 ports, started by test/support/mail-servers.ts
 * (the harness of the e2e tests: the shipped files rendered by the dovecot target's own code, no
 * Postfix, no nginx), all beside one Sesame (`node dist/src/main.js`, SQLite in a temporary folder):
 *   lua        the shipped passdb as rendered (driver = lua, blocking=yes, sesame-auth.lua, which for
 *              Sesame's http:// URL speaks HTTP/1.1 itself over a kept connection, with lua-socket),
 *              cache off;
 *   passwd     the same Dovecot with `driver = passwd-file` over a file holding the same users and
 *              the same app passwords as {SSHA256} (one salted SHA-256: a fast scheme, as Sesame's
 *              keyed hash is), cache off;
 *   variants   (BENCH_VARIANTS, default all of them) the shipped config with one thing changed, to
 *              find where the extra time goes:
 *                lua-dovecot-http     the script's other way, Dovecot's Lua HTTP client (what it
 *                                     uses for https:// or without lua-socket; shipped until 8 Dec 2026);
 *                lua-dovecot-http-keepalive  that client with max_idle_time_msecs;
 *                lua-nonblocking      blocking=no: the script runs in the auth process, no auth-worker;
 *                lua-dovecot-http-nonblocking  both of the above;
 *                lua-nohttp(-nonblocking)   the shipped passdb block, a script without HTTP;
 *                lua-timed, lua-dovecot-http-timed  lua and lua-dovecot-http logging the time of each
 *                                     check's exchange with Sesame as the auth-worker saw it;
 *                lua-stub-timed       lua-timed asking a stub here that answers at once (no Sesame);
 *                oauth2               the other shipped passdb that asks Sesame (introspection).
 * What is measured, the same on every target: a new TCP connection, Dovecot's greeting, then
 * `LOGIN user password` until its tagged answer (the user-felt "connecting..."), then LOGOUT (not
 * timed). Plain text on loopback: Dovecot deems a loopback connection secured, so no TLS on either
 * side (the handshake would be the same cost on both and only add noise).
 *   serial    one login at a time;
 *   parallel  PARALLEL (8) clients, each starting its next login when its last one ended.
 * Rounds rotate (each round starts with the next target), so the load others put on the shared
 * machine falls on all targets alike; the figures pooled over the rounds give median and p99 per
 * target and mode, and each target's ratio to `passwd`. Sesame's /auth/mail is also timed alone
 * from here (the request the script sends), over a new connection each time and over one kept
 * connection, one at a time, in the same rounds.
 *
 * Checked before measuring: a wrong password is refused (NO) by every target, and after the run
 * Sesame's sign-in log must hold a success for every login of the Lua targets.
 *
 * Run: `npm run bench:dovecot`, or `npx tsc -p . && node dist/bench/dovecot-login.js`. Needs root
 * and Debian's dovecot-core, dovecot-imapd, dovecot-auth-lua (scripts/test.sh installs them).
 * Knobs: BENCH_LOGINS (per target and mode, over all rounds; default 600), BENCH_ROUNDS (default 6),
 * BENCH_PARALLEL (default 8), BENCH_WARMUP (logins per target before measuring, default 20),
 * BENCH_VARIANTS (comma-separated, of the variant names above; `none` for just lua and passwd),
 * BENCH_JSON=1 (one JSON object on the last line, read by test/bench/dovecot-login-bench.test.ts).
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { round } from './wrk.js';
import { createContext } from '../src/app/context.js';
import { loadConfig } from '../src/config/config.js';
import { OPERATOR } from '../src/domain/accounts/actor.js';
import { MailServers } from '../test/support/mail-servers.js';
import { freePort, serverEnv, startServer, type StartedServer } from '../test/support/processes.js';

const DOMAIN = 'bench.test';
const USERS = 8;

function wholeNumber(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min)
    throw new Error(`${name}=${JSON.stringify(raw)} must be a whole number of at least ${min}`);
  return Number(raw);
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
}

interface Account {
  address: string;
  password: string;
}

// ---------------------------------------------------------------------------------------------
// The Dovecot configurations compared

interface Variant {
  passdb?: (block: string) => string;
  lua?: (script: string) => string;
  extra?: string;
}

/** Dovecot's HTTP client (the script's https:// way) keeps its connection idle for a minute between checks. */
const keepalive = (script: string) => {
  const out = script.replace('max_attempts = 1,', 'max_attempts = 1,\n    max_idle_time_msecs = 60000,');
  if (out === script) throw new Error('sesame-auth.lua no longer creates its client with max_attempts = 1');
  return out;
};
const nonblocking = (block: string) => {
  const out = block.replace('blocking=yes', 'blocking=no');
  if (out === block) throw new Error('99-sesame.conf no longer sets blocking=yes');
  return out;
};

/**
 * Not a candidate either: the shipped passdb block and worker setup, but a script that checks the
 * password against a table in itself instead of asking Sesame, so that the Lua passdb's own cost
 * (auth-worker hop, Lua call) is told apart from the HTTP exchange's.
 */
function noHttp(accounts: Account[]): (script: string) => string {
  const table = accounts.map((a) => `  [${JSON.stringify(a.address)}] = ${JSON.stringify(a.password)},`).join('\n');
  return () => `-- bench diagnostic: no HTTP
local PASSWORDS = {
${table}
}
function script_init()
  return 0
end
function script_deinit()
end
function auth_password_verify(req, password)
  if PASSWORDS[req.user] == password then
    return dovecot.auth.PASSDB_RESULT_OK, {}
  end
  return dovecot.auth.PASSDB_RESULT_PASSWORD_MISMATCH, ""
end
function auth_passdb_lookup(req)
  return dovecot.auth.PASSDB_RESULT_SCHEME_NOT_AVAILABLE, "no lookups"
end
`;
}

/**
 * The script as shipped before it spoke HTTP itself: every check through Dovecot's Lua HTTP client
 * (`dovecot.http`, Expect: 100-continue, a blocking submit() per request), as it still does for an
 * https:// URL or without lua-socket.
 */
const dovecotHttp = (script: string) => {
  const out = script.replace('target = parse_http_url(SESAME_URL)', 'target = nil');
  if (out === script) throw new Error('sesame-auth.lua no longer chooses its way with parse_http_url(SESAME_URL)');
  return out;
};

/**
 * Diagnostic: the script also logs how long each check's exchange with Sesame took as the
 * auth-worker saw it (from building the request to having the status), in microseconds, read back
 * from Dovecot's log after the run. Apart from the IMAP process's own costs, this is the part of a
 * LOGIN the passdb adds.
 */
const timed = (script: string) => {
  const out = script
    .replace(
      'function auth_password_verify(req, password)\n',
      'function auth_password_verify(req, password)\n  local bench_clock = require("socket").gettime\n  local bench_t0 = bench_clock()\n',
    )
    .replace(
      '  if status == 200 then\n',
      '  dovecot.i_info(string.format("bench-exchange-us %d", math.floor((bench_clock() - bench_t0) * 1e6)))\n  if status == 200 then\n',
    );
  if (!out.includes('bench_t0 = ') || !out.includes('bench-exchange-us'))
    throw new Error('sesame-auth.lua: auth_password_verify no longer has the shape the timed variant edits');
  return out;
};

const VARIANTS: Record<string, Variant> = {
  'lua-timed': { lua: timed },
  'lua-dovecot-http-timed': { lua: (s) => timed(dovecotHttp(s)) },
  'lua-dovecot-http': { lua: dovecotHttp },
  'lua-dovecot-http-keepalive': { lua: (s) => keepalive(dovecotHttp(s)) },
  'lua-nonblocking': { passdb: nonblocking },
  'lua-dovecot-http-nonblocking': { passdb: nonblocking, lua: dovecotHttp },
  // Not a candidate: the shipped config with Dovecot's auth and HTTP client debug log (timings of
  // each request), printed at the end with BENCH_DEBUG_LOG=1. Run it alone: the logging costs time.
  'lua-debug': { extra: 'auth_debug = yes\nlog_debug = category=http-client\n' },
  // Filled in main() with the accounts.
  'lua-nohttp': {},
  // Not a candidate: the shipped script (timed) asking a stub in this process that answers at once
  // (a map lookup), without Sesame's work (key, verifier, log): the HTTP exchange's own cost.
  // Filled in main().
  'lua-stub-timed': {},
  'lua-nohttp-nonblocking': { passdb: nonblocking },
  // The other shipped passdb that asks Sesame: Dovecot's oauth2 (RFC 7662 introspection, C HTTP
  // client, asynchronous in the auth process), the harness's second Dovecot (cache off: no
  // auth_cache_size). Its port is the harness's imapOauth2.
  oauth2: {},
};

/** A passwd-file line: the app password as {SSHA256} (SHA-256 of password + 8-byte salt, then the salt). */
function ssha256(password: string): string {
  const salt = crypto.randomBytes(8);
  const digest = crypto.createHash('sha256').update(password).update(salt).digest();
  return `{SSHA256}${Buffer.concat([digest, salt]).toString('base64')}`;
}

// ---------------------------------------------------------------------------------------------
// The IMAP client: a raw exchange over TCP, read line by line

/** Connects, reads the greeting, sends LOGIN; resolves with the tagged answer and the ms it took, then logs out. */
function imapLogin(port: number, a: Account): Promise<{ ok: boolean; line: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    let buf = '';
    let stage: 'greeting' | 'login' | 'logout' = 'greeting';
    let answer: { ok: boolean; line: string; ms: number } | undefined;
    const timer = setTimeout(() => socket.destroy(new Error(`no answer in 30 s (${stage}): ${buf}`)), 30_000);
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n');
        if (end < 0) return;
        const line = buf.slice(0, end);
        buf = buf.slice(end + 2);
        if (stage === 'greeting') {
          if (!line.startsWith('* OK')) return socket.destroy(new Error(`greeting: ${line}`));
          stage = 'login';
          socket.write(`a1 LOGIN "${a.address}" "${a.password}"\r\n`);
        } else if (stage === 'login' && line.startsWith('a1 ')) {
          answer = { ok: line.startsWith('a1 OK'), line, ms: performance.now() - t0 };
          stage = 'logout';
          socket.end('a2 LOGOUT\r\n');
        }
      }
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      if (answer) resolve(answer);
      else reject(e);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (answer) resolve(answer);
      else reject(new Error(`the connection closed before LOGIN was answered (${stage}): ${buf}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// /auth/mail alone: the request the Lua script sends

/**
 * The request, head and body. `expect`: as Dovecot 2.3's HTTP client sends a Lua script's payload
 * (`Expect: 100-continue`, the body only after the server's `100 Continue`: its debug log says
 * "Got expected 100-continue response" for every check).
 */
function authMailRequest(
  port: number,
  key: string,
  a: Account,
  o: { close?: boolean; expect?: boolean },
): { head: Buffer; body: Buffer } {
  const body = JSON.stringify({ user: a.address, password: a.password, service: 'imap', remoteIp: '127.0.0.1' });
  return {
    head: Buffer.from(
      `POST /auth/mail HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: dovecot-sesame-auth\r\n` +
        `Content-Type: application/json\r\nAuthorization: Bearer ${key}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `${o.close ? 'Connection: close\r\n' : ''}${o.expect ? 'Expect: 100-continue\r\n' : ''}\r\n`,
    ),
    body: Buffer.from(body),
  };
}

/** One HTTP connection that sends requests one after the other; status of each answer. */
function httpConn(port: number) {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  let buf: Buffer = Buffer.alloc(0);
  let waiting: { resolve(status: number): void; reject(e: Error): void } | undefined;
  const fail = (e: Error) => {
    waiting?.reject(e);
    waiting = undefined;
  };
  socket.on('data', (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = buf.subarray(0, end).toString('latin1');
    const total = end + 4 + Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (buf.length < total) return;
    buf = buf.subarray(total);
    const w = waiting;
    waiting = undefined;
    w?.resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0));
  });
  socket.on('error', fail);
  socket.on('close', () => fail(new Error('the server closed the HTTP connection')));
  return {
    send: (req: Buffer) =>
      new Promise<number>((resolve, reject) => {
        waiting = { resolve, reject };
        socket.write(req);
      }),
    close: () => socket.destroy(),
  };
}

// ---------------------------------------------------------------------------------------------
// Load

interface Row {
  target: string;
  mode: 'serial' | 'parallel';
  logins: number;
  failures: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  loginsPerSecond: number;
  /** Highest 1-minute load average any of its rounds started at. */
  load1: number;
  firstFailure?: string;
}

interface Samples {
  latencies: number[];
  failures: number;
  elapsedMs: number;
  load1: number;
  firstFailure?: string;
}

async function batch(
  port: number,
  accounts: Account[],
  count: number,
  parallel: number,
  into: Samples,
  offset: number,
): Promise<void> {
  into.load1 = Math.max(into.load1, os.loadavg()[0] ?? 0);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const i = next++;
        try {
          const r = await imapLogin(port, accounts[(offset + i) % accounts.length]!);
          if (r.ok) into.latencies.push(r.ms);
          else {
            into.failures++;
            into.firstFailure ??= r.line;
          }
        } catch (e) {
          into.failures++;
          into.firstFailure ??= e instanceof Error ? e.message : String(e);
        }
      }
    }),
  );
  into.elapsedMs += performance.now() - t0;
}

function row(target: string, mode: Row['mode'], s: Samples): Row {
  const sorted = [...s.latencies].sort((a, b) => a - b);
  return {
    target,
    mode,
    logins: sorted.length,
    failures: s.failures,
    p50Ms: round(quantile(sorted, 0.5), 2),
    p99Ms: round(quantile(sorted, 0.99), 2),
    maxMs: round(sorted[sorted.length - 1] ?? 0, 2),
    loginsPerSecond: round((sorted.length * 1000) / Math.max(1, s.elapsedMs), 1),
    load1: round(s.load1, 2),
    ...(s.firstFailure ? { firstFailure: s.firstFailure } : {}),
  };
}

/**
 * The far-end ports of every TCP socket to or from Sesame's port, in any state (TIME_WAIT included,
 * which lasts a minute): the new ones after a batch are the connections it opened to Sesame.
 */
function sesameSockets(port: number): Set<string> {
  const out = execFileSync('ss', ['-tanH', `( dport = :${port} or sport = :${port} )`]).toString();
  const ends = new Set<string>();
  for (const line of out.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5) continue;
    for (const addr of [cols[3]!, cols[4]!]) if (!addr.endsWith(`:${port}`)) ends.add(addr);
  }
  return ends;
}

const empty = (): Samples => ({ latencies: [], failures: 0, elapsedMs: 0, load1: 0 });

// ---------------------------------------------------------------------------------------------

async function setUp(env: NodeJS.ProcessEnv): Promise<{ key: string; accounts: Account[] }> {
  const ctx = await createContext(loadConfig({ ...env, LOG_LEVEL: 'silent' }));
  try {
    await ctx.accounts.addOrganization(OPERATOR, DOMAIN, 'Bench');
    const accounts = await Promise.all(
      Array.from({ length: USERS }, async (_, i) => {
        const created = await ctx.accounts.addUser(OPERATOR, { address: `imap${i}@${DOMAIN}` });
        const user = await ctx.mfaAdmin.setUserState(OPERATOR, created.address, 'enforced');
        const { session } = await ctx.sessions.start(
          user.id,
          ['pwd', 'otp'],
          { ip: '127.0.0.1', userAgent: 'bench setup' },
          Date.now(),
        );
        const { password } = await ctx.appPasswords.create(user, session, 'Bench IMAP', {
          ip: '127.0.0.1',
          locale: 'en',
        });
        return { address: user.address, password };
      }),
    );
    const { key } = await ctx.integrations.add('dovecot');
    return { key, accounts };
  } finally {
    await ctx.close();
  }
}

async function signInLog(env: NodeJS.ProcessEnv): Promise<{ protocol: string; outcome: string; n: number }[]> {
  const ctx = await createContext(loadConfig({ ...env, LOG_LEVEL: 'silent' }), { migrate: false });
  try {
    const rows = await ctx.store.db
      .selectFrom('sign_in_events')
      .select(['protocol', 'outcome', sql<number>`count(*)`.as('n')])
      .groupBy(['protocol', 'outcome'])
      .orderBy('protocol')
      .orderBy('outcome')
      .execute();
    return rows.map((r) => ({ protocol: r.protocol, outcome: r.outcome, n: Number(r.n) }));
  } finally {
    await ctx.close();
  }
}

async function main(): Promise<number> {
  const logins = wholeNumber('BENCH_LOGINS', 600, 1);
  const rounds = wholeNumber('BENCH_ROUNDS', 6, 1);
  const parallel = wholeNumber('BENCH_PARALLEL', 8, 1);
  const warmup = wholeNumber('BENCH_WARMUP', 20, 0);
  const json = process.env.BENCH_JSON === '1';
  const variantNames = (
    process.env.BENCH_VARIANTS ??
    Object.keys(VARIANTS)
      .filter((v) => v !== 'lua-debug')
      .join(',')
  )
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s && s !== 'none');
  for (const v of variantNames) if (!VARIANTS[v]) throw new Error(`BENCH_VARIANTS: no variant ${v}`);
  const perRound = Math.max(1, Math.ceil(logins / rounds));
  const say = (s: string) => (json ? process.stderr : process.stdout).write(`${s}\n`);

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-bench-dovecot-'));
  const sesamePort = await freePort();
  const env = serverEnv(dataDir, sesamePort, {
    SESAME_MODE: 'development',
    SESAME_SMTP_URL: '',
    SESAME_DEV_OUTBOX: path.join(dataDir, 'outbox.jsonl'),
    SESAME_ACCOUNT_FAILURE_LIMIT: '100',
    SESAME_IP_FAILURE_LIMIT: '100000',
    SESAME_IP_PASSWORD_CHECKS_PER_MINUTE: '1000000',
  });
  let sesame: StartedServer | undefined;
  let stub: http.Server | undefined;
  const dovecots: MailServers[] = [];
  const result: Record<string, unknown> = { ok: false };
  try {
    const { key, accounts } = await setUp(env);
    sesame = await startServer({ env });
    const sesameUrl = sesame.base;
    VARIANTS['lua-nohttp']!.lua = noHttp(accounts);
    // Compares the password with the accounts' (so that a wrong one is refused here too), nothing else.
    const known = new Map(accounts.map((a) => [a.address, a.password]));
    stub = http.createServer((req, res) => {
      let raw = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => {
        raw += c;
      });
      req.on('end', () => {
        const b = JSON.parse(raw) as { user?: string; password?: string };
        const ok = b.user !== undefined && known.get(b.user) === b.password;
        const json = ok ? '{"result":"ok"}' : '{"result":"no"}';
        res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json', 'content-length': json.length });
        res.end(json);
      });
    });
    stub.keepAliveTimeout = 600_000;
    await new Promise<void>((resolve) => stub!.listen(0, '127.0.0.1', resolve));
    const stubUrl = `http://127.0.0.1:${(stub.address() as { port: number }).port}`;
    VARIANTS['lua-stub-timed']!.lua = (script: string) => {
      const out = timed(script).replace(`local SESAME_URL = "${sesameUrl}"`, `local SESAME_URL = "${stubUrl}"`);
      if (!out.includes(stubUrl)) throw new Error('sesame-auth.lua no longer sets local SESAME_URL');
      return out;
    };
    VARIANTS['lua-nohttp-nonblocking']!.lua = noHttp(accounts);

    const passwdFile = path.join(dataDir, 'users.passwd');
    const targets: { name: string; variant: Variant }[] = [
      { name: 'lua', variant: {} },
      {
        name: 'passwd',
        variant: { passdb: () => `passdb {\n  driver = passwd-file\n  args = ${passwdFile}\n}\n` },
      },
      ...variantNames.map((name) => ({ name, variant: VARIANTS[name]! })),
    ];
    fs.writeFileSync(passwdFile, accounts.map((a) => `${a.address}:${ssha256(a.password)}::::::\n`).join(''));
    fs.chmodSync(dataDir, 0o755);
    // Common to every target: 8 clients at once from one address must not hit the per-user limit.
    const common = `protocol imap {\n  mail_max_userip_connections = 1000\n}\n`;
    const started = await Promise.all(
      targets.map(async (t) => {
        const mail = await MailServers.create();
        dovecots.push(mail);
        await mail.start({
          sesameUrl,
          integrationKey: key,
          relayPort: 9, // no submission here
          postfix: false,
          nginx: false,
          variant: { ...t.variant, extra: `${common}${t.variant.extra ?? ''}` },
          oauth2: t.name === 'oauth2',
        });
        return { ...t, port: t.name === 'oauth2' ? mail.ports.imapOauth2 : mail.ports.imap, mail };
      }),
    );
    say(`Sesame ${sesameUrl}; Dovecot ${execFileSync('/usr/sbin/dovecot', ['--version']).toString().trim()}`);

    // A wrong password is refused by every target (its passdb really checks).
    const refused: Record<string, string> = {};
    for (const t of started) {
      const r = await imapLogin(t.port, { address: accounts[0]!.address, password: 'not-the-password-1' });
      refused[t.name] = r.ok ? 'OK' : r.line.split(' ')[1]!;
      const good = await imapLogin(t.port, accounts[0]!);
      if (!good.ok) throw new Error(`${t.name}: the right password was refused: ${good.line}\n${t.mail.logs()}`);
    }
    result.refused = refused;
    if (Object.values(refused).some((r) => r !== 'NO'))
      throw new Error(`a wrong password was not refused: ${JSON.stringify(refused)}`);

    for (const t of started) await batch(t.port, accounts, warmup, parallel, empty(), 0);

    const samples = new Map<string, Samples>();
    const get = (k: string) => samples.get(k) ?? samples.set(k, empty()).get(k)!;
    const direct = { fresh: empty(), kept: empty(), continued: empty() };
    /** TCP connections to Sesame opened per login, counted in the first serial round. */
    const connectionsPerLogin: Record<string, number> = {};
    for (let r = 0; r < rounds; r++) {
      const order = started.map((_, i) => started[(i + r) % started.length]!);
      for (const t of order) {
        const before = r === 0 ? sesameSockets(sesamePort) : undefined;
        const s = get(`${t.name} serial`);
        const n0 = s.latencies.length;
        await batch(t.port, accounts, perRound, 1, s, r * perRound);
        if (before) {
          const opened = [...sesameSockets(sesamePort)].filter((x) => !before.has(x)).length;
          connectionsPerLogin[t.name] = round(opened / Math.max(1, s.latencies.length - n0), 2);
        }
      }
      for (const t of order) await batch(t.port, accounts, perRound, parallel, get(`${t.name} parallel`), r * perRound);
      // /auth/mail alone, one at a time: a new connection each time (Connection: close), then one kept.
      direct.fresh.load1 =
        direct.kept.load1 =
        direct.continued.load1 =
          Math.max(direct.fresh.load1, os.loadavg()[0] ?? 0);
      const kept = httpConn(sesamePort);
      const continued = httpConn(sesamePort);
      for (let i = 0; i < perRound; i++) {
        const a = accounts[i % accounts.length]!;
        const s0 = performance.now();
        const fresh = httpConn(sesamePort);
        const req = authMailRequest(sesamePort, key, a, { close: true });
        const st = await fresh.send(Buffer.concat([req.head, req.body]));
        fresh.close();
        if (st === 200) direct.fresh.latencies.push(performance.now() - s0);
        else direct.fresh.failures++;
        const s1 = performance.now();
        const req2 = authMailRequest(sesamePort, key, a, {});
        const st2 = await kept.send(Buffer.concat([req2.head, req2.body]));
        if (st2 === 200) direct.kept.latencies.push(performance.now() - s1);
        else direct.kept.failures++;
        const s2 = performance.now();
        const req3 = authMailRequest(sesamePort, key, a, { expect: true });
        const st3 = (await continued.send(req3.head)) === 100 ? await continued.send(req3.body) : 0;
        if (st3 === 200) direct.continued.latencies.push(performance.now() - s2);
        else direct.continued.failures++;
      }
      kept.close();
      continued.close();
    }

    // The timed variants' own figure: each check's exchange with Sesame as the auth-worker saw it.
    const exchangeMs: Record<string, { n: number; p50Ms: number; p99Ms: number }> = {};
    for (const t of started) {
      const us = [...t.mail.log('dovecot.log').matchAll(/bench-exchange-us (\d+)/g)].map((m) => Number(m[1]) / 1000);
      if (!us.length) continue;
      us.sort((a, b) => a - b);
      exchangeMs[t.name] = { n: us.length, p50Ms: round(quantile(us, 0.5), 3), p99Ms: round(quantile(us, 0.99), 3) };
    }
    const rows: Row[] = [];
    for (const mode of ['serial', 'parallel'] as const)
      for (const t of started) rows.push(row(t.name, mode, get(`${t.name} ${mode}`)));
    const authMail = [
      row('auth-mail new connection', 'serial', direct.fresh),
      row('auth-mail kept connection', 'serial', direct.kept),
      row('auth-mail kept, 100-continue', 'serial', direct.continued),
    ];
    const ratios: Record<string, number> = {};
    for (const r of rows) {
      const base = rows.find((x) => x.target === 'passwd' && x.mode === r.mode)!;
      if (r.target === 'passwd') continue;
      ratios[`${r.target} ${r.mode} p50`] = round(r.p50Ms / base.p50Ms, 3);
      ratios[`${r.target} ${r.mode} p99`] = round(r.p99Ms / base.p99Ms, 3);
    }
    // The log rows are written in batches: read them once the server has stopped.
    await sesame.stop();
    sesame = undefined;
    const log = await signInLog(env);
    // Every login of a target that asks Sesame is one success in its log (warm-up and checks aside).
    const luaLogins = rows
      .filter(
        (r) =>
          r.target !== 'passwd' && r.target !== 'oauth2' && !r.target.includes('nohttp') && !r.target.includes('stub'),
      )
      .reduce((n, r) => n + r.logins, 0);
    const imapOk = log.find((l) => l.protocol === 'imap' && l.outcome === 'success')?.n ?? 0;
    Object.assign(result, {
      command: 'npm run bench:dovecot',
      logins,
      rounds,
      parallel,
      passwdScheme: 'SSHA256',
      rows,
      authMail,
      connectionsPerLogin,
      exchangeMs,
      ratios,
      signInLog: log,
      luaLogins,
    });
    for (const r of [...rows, ...authMail])
      say(
        `${r.target.padEnd(28)} ${r.mode.padEnd(8)} n=${String(r.logins).padStart(5)}  p50 ${r.p50Ms.toFixed(2).padStart(7)} ms  p99 ${r.p99Ms.toFixed(2).padStart(7)} ms  max ${r.maxMs.toFixed(1).padStart(6)}  load ${r.load1}`,
      );
    for (const [k, v] of Object.entries(exchangeMs))
      say(`exchange with Sesame in the auth-worker  ${k.padEnd(24)} n=${v.n} p50 ${v.p50Ms} ms  p99 ${v.p99Ms} ms`);
    say(`TCP connections to Sesame per login (first serial round): ${JSON.stringify(connectionsPerLogin)}`);
    for (const [k, v] of Object.entries(ratios)) say(`ratio to passwd  ${k.padEnd(36)} ${v.toFixed(3)}`);
    if (imapOk < luaLogins)
      throw new Error(`Sesame logged ${imapOk} IMAP successes for ${luaLogins} Lua logins measured`);
    const failed = [...rows, ...authMail].find((r) => r.failures > 0);
    if (failed)
      throw new Error(`${failed.target} ${failed.mode}: ${failed.failures} failures (${failed.firstFailure})`);
    result.ok = true;
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
    say(`FAILED: ${result.error}`);
    if (dovecots[0]) say(dovecots.map((d) => d.log('dovecot.log').slice(-1500)).join('\n'));
  } finally {
    if (process.env.BENCH_DEBUG_LOG === '1')
      for (const d of dovecots) say(`--- ${d.dir}\n${d.log('dovecot.log').split('\n').slice(-80).join('\n')}`);
    await Promise.all(dovecots.map((d) => d.stop()));
    stub?.closeAllConnections();
    stub?.close();
    await sesame?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
  return result.ok ? 0 : 1;
}

process.exitCode = await main();
