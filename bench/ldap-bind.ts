/**
 * LDAP bind benchmark (issue #19, item 5): how many simple binds per second Sesame's LDAP interface
 * answers, and at what p99, next to `/auth/basic` (the same app password over HTTP) and next to
 * OpenLDAP's slapd (Debian's package) binding an entry whose userPassword is {SSHA}, all in one run.
 *
 * Targets, all on 127.0.0.1, each measured from outside its process by this one:
 *   (a) sesame-ldap  the real server (`node dist/src/main.js`) with SESAME_LDAPS_PORT, a throwaway
 *                    CA and certificate (openssl); a user with MFA enforced binds with an app
 *                    password allowed for `ldap` (the organization's policy lists every protocol);
 *   (b) auth-basic   GET /auth/basic of the same server, `Authorization: Basic` with that same app
 *                    password (protocol `http`), plain HTTP/1.1 keep-alive on loopback;
 *   (c) slapd        a throwaway `slapd -h ldaps://127.0.0.1:<port>/ -f <slapd.conf>` (mdb, the
 *                    same certificate), one inetOrgPerson with userPassword {SSHA} from slappasswd.
 *
 * Why LDAPS and not StartTLS: both end in the same TLS session; LDAPS needs no extended operation
 * before the first bind, and every connection here is opened once and then reused (bind after bind
 * on it, as an address book or a proxy's pool does), so the table measures binds, not handshakes.
 * One handshake + bind per connection is measured separately (the "newconn" rows).
 *
 * One client for all three: the same Node process, the same connection count, the same scheduler,
 * so the client's own cost is the same in every row (wrk on /auth/basic, the legacy bench's client,
 * is one more row as a cross-check, not in the ratios). The LDAP messages are encoded with
 * the project's BER code (src/adapters/ldap/ber.ts) and read with its framing (elementLength).
 *   closed loop  CONNECTIONS connections, each sending its next bind when the previous is answered:
 *                throughput at saturation (binds/s) and the saturated latency;
 *   open loop    binds started at a fixed RATE per second whatever the answers (queued for the next
 *                free connection when all are busy, latency counted from the queueing, so a
 *                stall is not hidden: no coordinated omission): p50 and p99 at a load every target
 *                can carry;
 *   new conn     a few connections in closed loop, each iteration a TLS handshake, one bind, close.
 * Every answer must be success (LDAP 0, HTTP 200); any other makes the run invalid (exit 1). Before
 * measuring, a wrong password must be refused by each target (LDAP 49, HTTP 401), so the binds are
 * known to be checked; after the run, Sesame's sign-in log is read back (a success per answer).
 *
 * The machine is shared (two cores): this client, Sesame and slapd compete for them, and slapd is
 * multi-threaded while Sesame and this client have one event loop each, so slapd's number is partly
 * the client's ceiling. Read the ratios of one run; each row records the highest load average its
 * rounds started at, and this process's CPU (near 100 %, the client is the limit).
 *
 * Run: `npm run bench:ldap`, or `npx tsc -p . && node dist/bench/ldap-bind.js`. Needs openssl and
 * slapd + ldap-utils (slappasswd, slapadd), as root (scripts/test.sh installs them).
 * Knobs: BENCH_SECONDS (per target, mode and round, default 4), BENCH_ROUNDS (default 3: the targets
 * take turns, so the machine's other load falls on all of them), BENCH_WARMUP_SECONDS (default 1),
 * BENCH_CONNECTIONS (default 32), BENCH_RATE (open-loop binds/s, default 500), BENCH_NEWCONN_CONNECTIONS (default 4;
 * 0 skips), BENCH_WRK=0 (no wrk row), BENCH_CPU_PROF=<folder> (Sesame runs with --cpu-prof there),
 * BENCH_JSON=1 (one JSON object on the last line, read by test/bench/ldap-bind-bench.test.ts).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { freePort, request, round, runWrk, failures as wrkFailures, wrkScript, wrkVersion } from './wrk.js';
import { constructed, elementLength, integer, octets, TAG, BerReader } from '../src/adapters/ldap/ber.js';
import { OP } from '../src/adapters/ldap/protocol.js';
import { createContext } from '../src/app/context.js';
import { loadConfig } from '../src/config/config.js';
import { OPERATOR } from '../src/domain/accounts/actor.js';
import { PROTOCOLS } from '../src/domain/app-passwords/model.js';

const MAIN_JS = fileURLToPath(new URL('../src/main.js', import.meta.url));
const DOMAIN = 'bench.test';
const USER = `ann@${DOMAIN}`;
const DN = 'uid=ann,ou=people,dc=bench,dc=test';
const SLAPD_PASSWORD = 'granite-willow-beacon-31';

function wholeNumber(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min)
    throw new Error(`${name}=${JSON.stringify(raw)} must be a whole number of at least ${min}`);
  return Number(raw);
}

/** A positive number of seconds (fractions allowed: the smoke test runs half-second phases). */
function secondsOf(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+(\.\d+)?$/.test(raw) || Number(raw) <= 0)
    throw new Error(`${name}=${JSON.stringify(raw)} must be a positive number of seconds`);
  return Number(raw);
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
}

function run(file: string, args: string[], stdin?: string, withStderr = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: 30_000 }, (err, stdout, stderr) =>
      err
        ? reject(new Error(`${file} ${args.join(' ')}: ${err.message}\n${stderr}`))
        : resolve(withStderr ? stdout + stderr : stdout),
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

// ---------------------------------------------------------------------------------------------
// Clients: one connection that does one operation at a time

/** One request/answer on a connection: true when the answer was success. */
interface Conn {
  op(): Promise<boolean>;
  close(): void;
}

function bindRequest(id: number, dn: string, password: string): Buffer {
  return constructed(
    TAG.SEQUENCE,
    integer(id),
    constructed(OP.bindRequest, integer(3), octets(dn), octets(password, 0x80)),
  );
}

/** The resultCode of a BindResponse message. */
function bindResult(msg: Buffer): number {
  const m = new BerReader(msg).sequence(TAG.SEQUENCE, 'LDAPMessage');
  m.integer('messageID');
  const r = m.sequence(OP.bindResponse, 'BindResponse');
  return r.integer('resultCode', TAG.ENUMERATED);
}

interface LdapTarget {
  port: number;
  ca: Buffer;
  dn: string;
  password: string;
}

/** A TLS connection (LDAPS) that sends simple binds one after the other and reads their results. */
async function ldapConn(t: LdapTarget, password = t.password): Promise<Conn & { bindCode(): Promise<number> }> {
  const socket = tls.connect({ host: '127.0.0.1', port: t.port, ca: t.ca });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  let buf: Buffer = Buffer.alloc(0);
  let waiting: { resolve(code: number): void; reject(e: Error): void } | undefined;
  let failed: Error | undefined;
  const fail = (e: Error) => {
    failed ??= e;
    waiting?.reject(e);
    waiting = undefined;
  };
  socket.on('data', (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      const n = elementLength(buf, 1 << 20);
      if (n === undefined) return;
      const msg = buf.subarray(0, n);
      buf = buf.subarray(n);
      const w = waiting;
      waiting = undefined;
      try {
        w?.resolve(bindResult(msg));
      } catch (e) {
        w?.reject(e as Error);
      }
    }
  });
  socket.on('error', fail);
  socket.on('close', () => fail(new Error('the server closed the LDAP connection')));
  let id = 0;
  const bindCode = () =>
    new Promise<number>((resolve, reject) => {
      if (failed) return reject(failed);
      waiting = { resolve, reject };
      id = id >= 0x7fffffff ? 1 : id + 1;
      socket.write(bindRequest(id, t.dn, password));
    });
  return {
    bindCode,
    op: async () => (await bindCode()) === 0,
    close: () => socket.destroy(),
  };
}

/**
 * One keep-alive HTTP/1.1 connection asking GET /auth/basic, written and read by hand: Node's http
 * client costs several times what the LDAP client above does per request, and on two shared cores
 * that cost would be charged to the server measured. Answers must carry Content-Length (Fastify's do).
 */
async function basicConn(port: number, authorization: string): Promise<Conn & { status(): Promise<number> }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const req = Buffer.from(
    `GET /auth/basic HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: ${authorization}\r\n\r\n`,
  );
  let buf: Buffer = Buffer.alloc(0);
  let waiting: { resolve(status: number): void; reject(e: Error): void } | undefined;
  let failed: Error | undefined;
  const fail = (e: Error) => {
    failed ??= e;
    waiting?.reject(e);
    waiting = undefined;
  };
  socket.on('data', (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (!length) return fail(new Error(`an answer without Content-Length: ${head.slice(0, 200)}`));
      const total = end + 4 + Number(length[1]);
      if (buf.length < total) return;
      buf = buf.subarray(total);
      const w = waiting;
      waiting = undefined;
      w?.resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0));
    }
  });
  socket.on('error', fail);
  socket.on('close', () => fail(new Error('the server closed the HTTP connection')));
  const status = () =>
    new Promise<number>((resolve, reject) => {
      if (failed) return reject(failed);
      waiting = { resolve, reject };
      socket.write(req);
    });
  return { status, op: async () => (await status()) === 200, close: () => socket.destroy() };
}

// ---------------------------------------------------------------------------------------------
// Load

interface PhaseResult {
  target: string;
  mode: 'closed' | 'open' | 'newconn' | 'wrk';
  connections: number;
  /** Open loop: the rate asked. */
  rate?: number;
  ops: number;
  failures: number;
  seconds: number;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  load1: number;
  /** This process's CPU time over the phase, in % of one core: near 100, the client is the ceiling. */
  clientCpuPct: number;
  firstFailure?: string;
}

/** One measurement of one target in one mode, raw, so that the rounds can be pooled. */
interface Sample {
  target: string;
  mode: PhaseResult['mode'];
  connections: number;
  rate?: number;
  latencies: number[];
  failures: number;
  elapsedMs: number;
  load1: number;
  cpuMicros: number;
  firstFailure?: string;
}

function sample(
  target: string,
  mode: PhaseResult['mode'],
  connections: number,
  latencies: number[],
  failures: number,
  elapsedMs: number,
  load1: number,
  firstFailure: string | undefined,
  cpu0: NodeJS.CpuUsage,
  rate?: number,
): Sample {
  const cpu = process.cpuUsage(cpu0);
  return {
    target,
    mode,
    connections,
    ...(rate !== undefined ? { rate } : {}),
    latencies,
    failures,
    elapsedMs,
    load1,
    cpuMicros: cpu.user + cpu.system,
    ...(firstFailure ? { firstFailure } : {}),
  };
}

/** The rounds of one target and mode pooled: every answer over the whole time measured. */
function summarize(samples: Sample[]): PhaseResult {
  const first = samples[0]!;
  const latencies = samples.flatMap((x) => x.latencies).sort((a, b) => a - b);
  const elapsedMs = samples.reduce((n, x) => n + x.elapsedMs, 0);
  const cpu = samples.reduce((n, x) => n + x.cpuMicros, 0);
  const firstFailure = samples.find((x) => x.firstFailure)?.firstFailure;
  return {
    target: first.target,
    mode: first.mode,
    connections: first.connections,
    ...(first.rate !== undefined ? { rate: first.rate } : {}),
    ops: latencies.length,
    failures: samples.reduce((n, x) => n + x.failures, 0),
    seconds: round(elapsedMs / 1000, 2),
    opsPerSecond: round((latencies.length * 1000) / elapsedMs, 1),
    p50Ms: round(quantile(latencies, 0.5), 3),
    p99Ms: round(quantile(latencies, 0.99), 3),
    maxMs: round(latencies[latencies.length - 1] ?? 0, 3),
    load1: round(Math.max(...samples.map((x) => x.load1)), 2),
    clientCpuPct: Math.round(cpu / 10 / elapsedMs),
    ...(firstFailure ? { firstFailure } : {}),
  };
}

/** Each connection issues its next operation when the previous is answered, for `seconds`. */
async function closedLoop(target: string, conns: Conn[], seconds: number): Promise<Sample> {
  const load1 = os.loadavg()[0] ?? 0;
  const cpu0 = process.cpuUsage();
  const latencies: number[] = [];
  let failures = 0;
  let firstFailure: string | undefined;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    conns.map(async (c) => {
      while (performance.now() < end) {
        const s = performance.now();
        try {
          if (await c.op()) latencies.push(performance.now() - s);
          else {
            failures++;
            firstFailure ??= 'refused';
          }
        } catch (e) {
          failures++;
          firstFailure ??= e instanceof Error ? e.message : String(e);
          return;
        }
      }
    }),
  );
  return sample(target, 'closed', conns.length, latencies, failures, performance.now() - t0, load1, firstFailure, cpu0);
}

/**
 * Operations started at a fixed rate, each on the next free connection (queued when none is): the
 * latency runs from the queueing, so a server that falls behind shows it in p99.
 */
async function openLoop(target: string, conns: Conn[], rate: number, seconds: number): Promise<Sample> {
  const load1 = os.loadavg()[0] ?? 0;
  const cpu0 = process.cpuUsage();
  const latencies: number[] = [];
  let failures = 0;
  let firstFailure: string | undefined;
  const idle = conns.slice();
  const queue: number[] = [];
  const pending = new Set<Promise<void>>();
  const dispatch = () => {
    while (idle.length > 0 && queue.length > 0) {
      const c = idle.pop()!;
      const due = queue.shift()!;
      const p = c
        .op()
        .then(
          (ok) => {
            if (ok) latencies.push(performance.now() - due);
            else {
              failures++;
              firstFailure ??= 'refused';
            }
            idle.push(c);
          },
          (e: unknown) => {
            failures++;
            firstFailure ??= e instanceof Error ? e.message : String(e);
          },
        )
        .finally(() => {
          pending.delete(p);
          dispatch();
        });
      pending.add(p);
    }
  };
  const t0 = performance.now();
  const total = Math.round(rate * seconds);
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    // Never early: a timer rounds its delay down to whole ms, and a bind sent before its time
    // would be timed from a start it did not wait for. Timed from the moment it is queued, not from
    // `due`: the timer's own lateness (up to a ms) is this client's, and would blur every target's
    // p50 alike; a bind waiting for a free connection is still timed from its queueing.
    for (let wait = due - performance.now(); wait > 0; wait = due - performance.now()) await sleep(Math.ceil(wait));
    queue.push(performance.now());
    dispatch();
  }
  while (pending.size > 0 || (queue.length > 0 && idle.length > 0)) await Promise.race(pending);
  failures += queue.length;
  return sample(
    target,
    'open',
    conns.length,
    latencies,
    failures,
    performance.now() - t0,
    load1,
    firstFailure,
    cpu0,
    rate,
  );
}

/** Each worker: TLS handshake, one bind, close; again. */
async function newConnLoop(target: string, t: LdapTarget, workers: number, seconds: number): Promise<Sample> {
  const load1 = os.loadavg()[0] ?? 0;
  const cpu0 = process.cpuUsage();
  const latencies: number[] = [];
  let failures = 0;
  let firstFailure: string | undefined;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        try {
          const c = await ldapConn(t);
          const ok = await c.op();
          c.close();
          if (ok) latencies.push(performance.now() - s);
          else failures++;
        } catch (e) {
          failures++;
          firstFailure ??= e instanceof Error ? e.message : String(e);
          return;
        }
      }
    }),
  );
  return sample(target, 'newconn', workers, latencies, failures, performance.now() - t0, load1, firstFailure, cpu0);
}

// ---------------------------------------------------------------------------------------------
// Setup: certificate, Sesame, slapd

async function makeCertificate(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const at = (f: string) => path.join(dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const [ca, caKey, key, csr, cert, ext] = ['ca.pem', 'ca.key', 'tls.key', 'tls.csr', 'tls.pem', 'tls.ext'].map(at) as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  await run('openssl', [
    'req',
    '-x509',
    ...ec,
    '-days',
    '2',
    '-subj',
    '/CN=Sesame bench CA',
    '-keyout',
    caKey,
    '-out',
    ca,
  ]);
  await run('openssl', ['req', ...ec, '-subj', '/CN=127.0.0.1', '-keyout', key, '-out', csr]);
  fs.writeFileSync(ext, 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca,
    '-CAkey',
    caKey,
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    ext,
    '-out',
    cert,
  ]);
  return { ca, cert, key };
}

interface Child {
  output(): string;
  stop(): Promise<void>;
}

function startChild(file: string, args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess } & Child {
  const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (c: Buffer) => {
    out = (out + c.toString('utf8')).slice(-8000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exit;
      clearTimeout(killer);
    },
  };
}

/** Waits until `ready` resolves true, or the child exits, or 30 s pass. */
async function waitFor(c: { child: ChildProcess } & Child, what: string, ready: () => Promise<boolean>) {
  const t0 = performance.now();
  for (;;) {
    if (c.child.exitCode !== null || c.child.signalCode !== null)
      throw new Error(`${what} exited before it was ready:\n${c.output()}`);
    if (performance.now() - t0 > 30_000) {
      await c.stop();
      throw new Error(`${what} was not ready within 30 s:\n${c.output()}`);
    }
    try {
      if (await ready()) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
}

async function startSesame(dir: string, tlsFiles: { cert: string; key: string }, ca: Buffer) {
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir);
  const env: Record<string, string> = {
    SESAME_DATA_DIR: dataDir,
    DATABASE_URL: '',
    SESAME_MODE: 'development',
    SESAME_LDAP_TLS_CERT_FILE: tlsFiles.cert,
    SESAME_LDAP_TLS_KEY_FILE: tlsFiles.key,
    // One client IP measures the server's capacity: the per-IP limits (tested elsewhere) are lifted.
    SESAME_LDAP_MAX_CONNECTIONS_PER_IP: '100000',
    SESAME_LDAP_MAX_CONNECTIONS: '100000',
    SESAME_ACCOUNT_FAILURE_LIMIT: '100',
    SESAME_IP_FAILURE_LIMIT: '100000',
    SESAME_IP_PASSWORD_CHECKS_PER_MINUTE: '1000000',
  };
  // Setup with the project's own services before the server starts (as bench/legacy-auth.ts).
  const ctx = await createContext(loadConfig({ ...env, LOG_LEVEL: 'silent' }));
  let password: string;
  try {
    const org = await ctx.accounts.addOrganization(OPERATOR, DOMAIN, 'Bench');
    // ldap is opt-in: the admin lists it (with http, for /auth/basic) in the organization's policy.
    await ctx.mfaAdmin.setPolicy(OPERATOR, org.id, { appPasswords: { protocols: [...PROTOCOLS] } });
    const created = await ctx.accounts.addUser(OPERATOR, { address: USER, name: 'Ann Bench' });
    const user = await ctx.mfaAdmin.setUserState(OPERATOR, created.address, 'enforced');
    const { session } = await ctx.sessions.start(
      user.id,
      ['pwd', 'otp'],
      { ip: '127.0.0.1', userAgent: 'bench setup' },
      Date.now(),
    );
    password = (await ctx.appPasswords.create(user, session, 'Bench LDAP', { ip: '127.0.0.1', locale: 'en' })).password;
  } finally {
    await ctx.close();
  }
  const [httpPort, ldapsPort] = [await freePort(), await freePort()];
  const childEnv: NodeJS.ProcessEnv = {};
  // The server's configuration is ours alone: nothing inherited from a SESAME_* environment.
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('SESAME_') && !['DATABASE_URL', 'HOST', 'PORT', 'LOG_LEVEL', 'NODE_TEST_CONTEXT'].includes(k))
      childEnv[k] = v;
  Object.assign(childEnv, env, {
    HOST: '127.0.0.1',
    PORT: String(httpPort),
    LOG_LEVEL: 'warn',
    SESAME_WORKERS: '1',
    SESAME_LDAPS_PORT: String(ldapsPort),
  });
  const prof = process.env.BENCH_CPU_PROF ? path.resolve(process.env.BENCH_CPU_PROF) : undefined;
  if (prof) fs.mkdirSync(prof, { recursive: true });
  const c = startChild(
    process.execPath,
    [...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []), MAIN_JS],
    childEnv,
  );
  const agent = new http.Agent({ keepAlive: false });
  await waitFor(c, 'the Sesame server', async () => (await request(agent, httpPort, 'GET', '/healthz')).status === 200);
  await waitFor(c, 'the Sesame LDAPS port', async () => {
    const conn = await ldapConn({ port: ldapsPort, ca, dn: DN, password });
    conn.close();
    return true;
  });
  agent.destroy();
  return { ...c, httpPort, ldapsPort, password, env };
}

async function startSlapd(dir: string, tlsFiles: { ca: string; cert: string; key: string }, ca: Buffer) {
  for (const f of ['/usr/sbin/slapd', '/usr/sbin/slapadd', '/usr/sbin/slappasswd'])
    if (!fs.existsSync(f)) throw new Error(`${f} not found: apt-get install slapd ldap-utils (scripts/test.sh does)`);
  const d = path.join(dir, 'slapd');
  const db = path.join(d, 'db');
  fs.mkdirSync(db, { recursive: true });
  const hash = (await run('/usr/sbin/slappasswd', ['-h', '{SSHA}', '-s', SLAPD_PASSWORD])).trim();
  if (!hash.startsWith('{SSHA}')) throw new Error(`slappasswd answered ${JSON.stringify(hash)}`);
  const conf = path.join(d, 'slapd.conf');
  fs.writeFileSync(
    conf,
    [
      'include /etc/ldap/schema/core.schema',
      'include /etc/ldap/schema/cosine.schema',
      'include /etc/ldap/schema/inetorgperson.schema',
      `pidfile ${path.join(d, 'slapd.pid')}`,
      `argsfile ${path.join(d, 'slapd.args')}`,
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      'loglevel 0',
      `TLSCACertificateFile ${tlsFiles.ca}`,
      `TLSCertificateFile ${tlsFiles.cert}`,
      `TLSCertificateKeyFile ${tlsFiles.key}`,
      'database mdb',
      'suffix "dc=bench,dc=test"',
      `directory ${db}`,
      'maxsize 104857600',
      '',
    ].join('\n'),
  );
  const ldif = path.join(d, 'seed.ldif');
  fs.writeFileSync(
    ldif,
    [
      'dn: dc=bench,dc=test\nobjectClass: dcObject\nobjectClass: organization\ndc: bench\no: Bench\n',
      'dn: ou=people,dc=bench,dc=test\nobjectClass: organizationalUnit\nou: people\n',
      `dn: ${DN}\nobjectClass: inetOrgPerson\nuid: ann\ncn: Ann Bench\nsn: Bench\nmail: ${USER}\nuserPassword: ${hash}\n`,
    ].join('\n'),
  );
  await run('/usr/sbin/slapadd', ['-f', conf, '-l', ldif]);
  const port = await freePort();
  // -d keeps slapd in the foreground, so it is our child and stops with us.
  const c = startChild('/usr/sbin/slapd', ['-d', '0', '-h', `ldaps://127.0.0.1:${port}/`, '-f', conf], process.env);
  await waitFor(c, 'slapd', async () => {
    const conn = await ldapConn({ port, ca, dn: DN, password: SLAPD_PASSWORD });
    conn.close();
    return true;
  });
  return { ...c, port };
}

/**
 * Sesame's sign-in log by protocol and outcome, read with the project's code after the server
 * stopped: every bind and /auth/basic answer counted above must be a logged success.
 */
async function readSignInLog(env: Record<string, string>) {
  const ctx = await createContext(loadConfig({ ...env, LOG_LEVEL: 'silent' }), { migrate: false });
  try {
    const rows = await ctx.store.db
      .selectFrom('sign_in_events')
      .select(['protocol', 'outcome', sql<number>`count(*)`.as('n')])
      .groupBy(['protocol', 'outcome'])
      .execute();
    return rows.map((r) => ({ protocol: r.protocol, outcome: r.outcome, n: Number(r.n) }));
  } finally {
    await ctx.close();
  }
}

// ---------------------------------------------------------------------------------------------

function table(rows: PhaseResult[]): string {
  const head = ['target', 'mode', 'conns', 'ops/s', 'p50 ms', 'p99 ms', 'max ms', 'ops', 'load1', 'client cpu'];
  const body = rows.map((r) => [
    r.target,
    r.mode === 'open' ? `open ${r.rate}/s` : r.mode,
    String(r.connections),
    r.opsPerSecond.toFixed(1),
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    r.maxMs.toFixed(2),
    String(r.ops),
    r.load1.toFixed(2),
    r.mode === 'wrk' ? '-' : `${r.clientCpuPct} %`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [head, ...body].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

async function main(): Promise<number> {
  const seconds = secondsOf('BENCH_SECONDS', 4);
  const warmup = process.env.BENCH_WARMUP_SECONDS === '0' ? 0 : secondsOf('BENCH_WARMUP_SECONDS', 1);
  const connections = wholeNumber('BENCH_CONNECTIONS', 32, 1);
  const rate = wholeNumber('BENCH_RATE', 500, 1);
  const newConnWorkers = wholeNumber('BENCH_NEWCONN_CONNECTIONS', 4, 0);
  const rounds = wholeNumber('BENCH_ROUNDS', 3, 1);
  const json = process.env.BENCH_JSON === '1';
  const useWrk = process.env.BENCH_WRK !== '0' && (await wrkVersion()) !== '';
  const note = (m: string) => console.error(`bench: ${m}`);
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-bench-ldap-'));
  const rows: PhaseResult[] = [];
  const refused: Record<string, number> = {};
  let failure: string | undefined;
  let sesame: Awaited<ReturnType<typeof startSesame>> | undefined;
  let slapd: Awaited<ReturnType<typeof startSlapd>> | undefined;
  let slapdVersion = '';
  let signInLog: { protocol: string; outcome: string; n: number }[] = [];
  try {
    const tlsFiles = await makeCertificate(dir);
    const ca = fs.readFileSync(tlsFiles.ca);
    sesame = await startSesame(dir, tlsFiles, ca);
    slapd = await startSlapd(dir, tlsFiles, ca);
    slapdVersion = (await run('/usr/sbin/slapd', ['-VV'], undefined, true).catch((e: Error) => e.message))
      .replace(/^@\(#\) \$OpenLDAP: /, '')
      .split('\n')[0]!
      .replace(/\s*\(.*$/, '');
    note(`Sesame on 127.0.0.1:${sesame.httpPort} (LDAPS ${sesame.ldapsPort}), slapd on ${slapd.port}; folder ${dir}`);
    const s = sesame;
    const targets: { name: string; ldap?: LdapTarget; open: () => Promise<Conn>; wrong: () => Promise<number> }[] = [
      {
        name: 'sesame-ldap',
        ldap: { port: s.ldapsPort, ca, dn: DN, password: s.password },
        open: () => ldapConn({ port: s.ldapsPort, ca, dn: DN, password: s.password }),
        wrong: async () => {
          const c = await ldapConn({ port: s.ldapsPort, ca, dn: DN, password: `${s.password}x` });
          try {
            return await c.bindCode();
          } finally {
            c.close();
          }
        },
      },
      {
        name: 'auth-basic',
        open: () => basicConn(s.httpPort, `Basic ${Buffer.from(`${USER}:${s.password}`).toString('base64')}`),
        wrong: async () => {
          const c = await basicConn(s.httpPort, `Basic ${Buffer.from(`${USER}:${s.password}x`).toString('base64')}`);
          try {
            return await c.status();
          } finally {
            c.close();
          }
        },
      },
      {
        name: 'slapd',
        ldap: { port: slapd.port, ca, dn: DN, password: SLAPD_PASSWORD },
        open: () => ldapConn({ port: slapd!.port, ca, dn: DN, password: SLAPD_PASSWORD }),
        wrong: async () => {
          const c = await ldapConn({ port: slapd!.port, ca, dn: DN, password: `${SLAPD_PASSWORD}x` });
          try {
            return await c.bindCode();
          } finally {
            c.close();
          }
        },
      },
    ];
    for (const t of targets) {
      refused[t.name] = await t.wrong();
      const expected = t.ldap ? 49 : 401;
      if (refused[t.name] !== expected)
        throw new Error(`${t.name}: a wrong password was answered ${refused[t.name]}, not ${expected}`);
    }
    // Every target's connections stay open for the whole run; the targets take turns, round after
    // round, in a rotating order, so a minute of someone else's load on this shared machine is
    // spread over all of them instead of landing on one target's phase.
    const pools = await Promise.all(
      targets.map(async (t) => Promise.all(Array.from({ length: connections }, () => t.open()))),
    );
    try {
      if (warmup > 0) for (const [i, t] of targets.entries()) await closedLoop(t.name, pools[i]!, warmup);
      const samples = new Map<string, Sample[]>();
      const add = (x: Sample) =>
        samples.set(`${x.target} ${x.mode}`, [...(samples.get(`${x.target} ${x.mode}`) ?? []), x]);
      for (let r = 0; r < rounds; r++) {
        const order = targets.map((_, i) => (i + r) % targets.length);
        note(`round ${r + 1} of ${rounds}: ${order.map((i) => targets[i]!.name).join(', ')}`);
        for (const i of order) add(await closedLoop(targets[i]!.name, pools[i]!, seconds));
        for (const i of order) add(await openLoop(targets[i]!.name, pools[i]!, rate, seconds));
        if (newConnWorkers > 0)
          for (const i of order) {
            const l = targets[i]!.ldap;
            if (l) add(await newConnLoop(targets[i]!.name, l, newConnWorkers, seconds));
          }
      }
      for (const t of targets)
        for (const mode of ['closed', 'open', 'newconn'] as const) {
          const x = samples.get(`${t.name} ${mode}`);
          if (x) rows.push(summarize(x));
        }
    } finally {
      for (const pool of pools) for (const c of pool) c.close();
    }
    if (useWrk) {
      // The legacy bench's client on /auth/basic, as a cross-check of this one (not in the ratios).
      const threads = connections >= 2 ? 2 : 1;
      const script = path.join(dir, 'wrk-auth-basic.lua');
      const auth = `Basic ${Buffer.from(`${USER}:${s.password}`).toString('base64')}`;
      fs.writeFileSync(
        script,
        wrkScript('GET', '/auth/basic', [{ headers: { Authorization: auth } }], Math.ceil(connections / threads)),
        { mode: 0o600 },
      );
      note(`auth-basic: wrk -t${threads} -c${connections}, ${seconds} s`);
      const load1 = round(os.loadavg()[0] ?? 0, 2);
      const w = await runWrk(`http://127.0.0.1:${s.httpPort}/auth/basic`, seconds, script, { connections, threads });
      const bad = wrkFailures(w);
      rows.splice(rows.map((r) => r.target).lastIndexOf('auth-basic') + 1, 0, {
        target: 'auth-basic',
        mode: 'wrk',
        connections,
        ops: w.requests,
        failures: bad ? Math.max(1, w.non2xx) : 0,
        seconds: w.durationS,
        opsPerSecond: w.rps,
        p50Ms: w.latency.p50Ms,
        p99Ms: w.latency.p99Ms,
        maxMs: w.latency.maxMs,
        load1,
        clientCpuPct: 0,
        ...(bad ? { firstFailure: bad } : {}),
      });
    }
    const bad = rows.find((r) => r.failures > 0 || r.ops === 0);
    if (bad)
      throw new Error(
        `${bad.target} ${bad.mode}: ${bad.failures} failures, ${bad.ops} answered; first: ${bad.firstFailure}`,
      );
  } catch (e) {
    failure = e instanceof Error ? e.message : String(e);
    if (sesame) failure += `\nSesame output:\n${sesame.output() || '(none)'}`;
    if (slapd) failure += `\nslapd output:\n${slapd.output() || '(none)'}`;
  } finally {
    await sesame?.stop();
    if (sesame && !failure) {
      try {
        signInLog = await readSignInLog(sesame.env);
      } catch (e) {
        note(`could not read the sign-in log: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    await slapd?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const get = (target: string, mode: PhaseResult['mode']) => rows.find((r) => r.target === target && r.mode === mode);
  const ratio = (a: number | undefined, b: number | undefined) => (a && b ? round(a / b, 3) : 0);
  const ratios = {
    closedLdapToBasic: ratio(get('sesame-ldap', 'closed')?.opsPerSecond, get('auth-basic', 'closed')?.opsPerSecond),
    closedLdapToSlapd: ratio(get('sesame-ldap', 'closed')?.opsPerSecond, get('slapd', 'closed')?.opsPerSecond),
    openP99LdapToBasic: ratio(get('sesame-ldap', 'open')?.p99Ms, get('auth-basic', 'open')?.p99Ms),
    openP99LdapToSlapd: ratio(get('sesame-ldap', 'open')?.p99Ms, get('slapd', 'open')?.p99Ms),
    newConnLdapToSlapd: ratio(get('sesame-ldap', 'newconn')?.opsPerSecond, get('slapd', 'newconn')?.opsPerSecond),
  };
  if (!json || failure) {
    console.log(`Sesame LDAP bind bench: Node ${process.version}, ${cores} cores, ${slapdVersion || 'slapd'}`);
    console.log(
      `LDAPS (binds on established TLS connections); ${connections} connections; ${rounds} rounds of ${seconds} s per target and mode, pooled`,
    );
    console.log('');
    console.log(table(rows));
    console.log('');
    console.log(`wrong password answered: ${JSON.stringify(refused)}`);
    console.log(
      `Sesame's sign-in log: ${signInLog.map((l) => `${l.protocol} ${l.outcome} ${l.n}`).join(', ') || '(not read)'}`,
    );
    console.log(
      `binds/s, closed loop: Sesame LDAP / auth basic ${ratios.closedLdapToBasic}, Sesame LDAP / slapd ${ratios.closedLdapToSlapd}`,
    );
    console.log(
      `p99 at ${rate}/s, open loop: Sesame LDAP / auth basic ${ratios.openP99LdapToBasic}, Sesame LDAP / slapd ${ratios.openP99LdapToSlapd}`,
    );
    if (newConnWorkers > 0)
      console.log(`handshake + bind per connection: Sesame LDAP / slapd ${ratios.newConnLdapToSlapd}`);
  }
  if (failure) console.error(`bench: FAILED: ${failure}`);
  if (json)
    console.log(
      JSON.stringify({
        ok: failure === undefined,
        ...(failure === undefined ? {} : { error: failure }),
        node: process.version,
        cores,
        slapd: slapdVersion,
        connections,
        rate,
        seconds,
        rounds,
        refused,
        signInLog,
        rows,
        ratios,
      }),
    );
  return failure === undefined ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error('bench: error:', e instanceof Error ? (e.stack ?? e.message) : e);
    process.exitCode = 1;
  },
);
