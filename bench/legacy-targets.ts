/**
 * The HTTP targets of issue #21 (item 3), measured against a bare Fastify route started by this
 * bench in the same run:
 *   - saturation: `GET /auth/basic` with every rule and the sign-in log on reaches >= 0.40 of the
 *     bare route's req/s on SQLite and >= 0.35 on PostgreSQL with one worker (SESAME_WORKERS=1);
 *     the figure with two workers is reported beside (no target);
 *   - fixed offered load (open loop): at 1,000 and 3,000 req/s, with 10 browser password sign-ins
 *     per second beside (Argon2 hashing on the machine), Sesame's p99 is within 2 ms of the bare
 *     route's p99 at the same load in the same run.
 * Item 4 of the issue: no target is met by weakening a rule, dropping log rows or measuring another
 * request than mail servers send. So /auth/basic here is the request a forward-auth proxy sends
 * (Authorization: Basic, a user's app password), for users of an organization with every rule on:
 *   - location rules for `http` and `imap` "only from named locations", LOCATIONS named locations
 *     (networks, every fifth also countries so the country table is consulted), the client's
 *     loopback in the last one;
 *   - every app password pinned to ten named locations (the loopback one among them);
 *   - the app-password policy narrowed: protocols imap, smtp, dav, http (no pop3, ldap, radius),
 *     a maximum lifetime (365 days) and revocation when unused (90 days), both computed at each
 *     attempt;
 *   - a group required for app passwords, every measured user in it;
 *   - MFA `enforced` for every user; the sign-in log on (the default: one row per answer, batched);
 *   - smart lockout on (its limits at their maximum so a slip cannot lock the bench out), and the
 *     answer cache at its default (on: issue #21 item 1, where memory still checks the rules, the
 *     pin and writes the log row at each attempt).
 * Before measuring, sanity requests show that the rules refuse: a wrong password, an app password
 * pinned elsewhere, a user outside the required group, an app password not for `http`, a disabled
 * user (all 401 on /auth/basic), and /auth/mail for IMAP from an address in no named location
 * (refused). Their log rows are read back after the run (`signInLog`).
 *
 * Processes: the bare server (bench/bare-server.ts, one process; and a second one of two
 * node:cluster processes, for the two-worker comparison), Sesame (`node dist/src/main.js`), wrk,
 * and the open-loop generator (bench/open-loop.ts) are each their own process; this one only
 * orchestrates and runs the sign-ins beside (10/s: negligible CPU here, Argon2 runs in Sesame).
 *
 * Phases, per store (SQLite in a temporary folder; PostgreSQL in a fresh database of the cluster
 * given by BENCH_PG_URL or SESAME_TEST_PG_URL, dropped afterwards):
 *   1. saturation, one worker: wrk (closed loop, -t2 -c64, first requests held as in
 *      bench/legacy-auth.ts) on /bare and on /auth/basic in rotating rounds, ABBA order
 *      (bare, sesame; sesame, bare; ...) so neither side is always measured second;
 *      ratio = median Sesame req/s / median bare req/s, and also the median of each round's ratio;
 *   2. open loop: for each rate, rounds of /bare and /auth/basic (ABBA), each with the sign-ins
 *      beside (to Sesame, in both cases, so Argon2 runs on the machine in both); p99 difference
 *      Sesame - bare of each round, and its median;
 *   3. saturation, two workers (Sesame restarted with SESAME_WORKERS=2): rounds of bare (one
 *      process), bare (two processes) and Sesame; Sesame's ratio to each is reported.
 * Each phase records the machine's 1-minute load average at its start and the server's CPU per
 * request (all its processes' threads, /proc).
 *
 * Run: `npm run bench:targets` (or `npx tsc -p . && node dist/bench/legacy-targets.js`). Knobs:
 *   BENCH_SECONDS         seconds per wrk phase (default 5); BENCH_WARMUP_SECONDS warm-up before
 *                         each server's first measured phase and each open-loop phase (default 2);
 *   BENCH_ROUNDS          rounds of each side of the saturation phases (default 4);
 *   BENCH_OPEN_SECONDS    seconds per open-loop phase (default 6); BENCH_OPEN_ROUNDS (default 3);
 *   BENCH_OPEN_RATES      comma-separated req/s (default 1000,3000);
 *   BENCH_OPEN_CONNECTIONS the generator's connections (default 8);
 *   BENCH_SIGNIN_RATE     browser sign-ins per second beside the open-loop phases (default 10);
 *   BENCH_WORKERS2        0 skips phase 3 (default 1);
 *   BENCH_STORES, BENCH_PG_URL, BENCH_USERS (default 50), BENCH_KEEP_DIR, BENCH_CPU_PROF (a folder:
 *                         Sesame runs with --cpu-prof there), BENCH_JSON=1: as bench/legacy-auth.ts.
 * Exit 0 whatever the verdicts; non-zero only when the measurement is invalid (a non-2xx answer,
 * a socket error, a sanity request answered otherwise than expected, a sign-in not answered 201).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { OpenLoopReport, OpenLoopSpec } from './open-loop.js';
import { createDatabase } from './pg.js';
import {
  median,
  type LogCount,
  type Server,
  type SignInLoopResult,
  type StoreKind,
  signInLog,
  signInLoop,
  startServer,
  storeEnv,
  WEB_PASSWORD,
  wholeNumber,
  benchAppPassword,
} from './server.js';
import {
  CONNECTIONS,
  failures,
  freePort,
  type Reply,
  request,
  round,
  runWrk,
  THREADS,
  type WrkReport,
  wrkScript,
  wrkVersion,
} from './wrk.js';
import { createContext } from '../src/app/context.js';
import { loadConfig } from '../src/config/config.js';
import { OPERATOR } from '../src/domain/accounts/actor.js';
import type { PinInput } from '../src/domain/app-passwords/service.js';

const DOMAIN = 'targets.bench.test';
const LOCATIONS = 50;
const PINNED_ELSEWHERE = '10.0.4.17';
/** A client IP in no named location (TEST-NET-2), for the /auth/mail sanity request. */
const OUTSIDE_IP = '198.51.100.7';
const WEB_USERS = 10;
const BARE_JS = fileURLToPath(new URL('./bare-server.js', import.meta.url));
const OPEN_LOOP_JS = fileURLToPath(new URL('./open-loop.js', import.meta.url));

const TARGETS = {
  ratio: { sqlite: 0.4, postgres: 0.35 } as Record<StoreKind, number>,
  p99DifferenceMs: 2,
};

interface Target {
  what: string;
  value: number;
  limit: string;
  pass: boolean;
}

interface User {
  address: string;
  appPassword: string;
}

interface Credentials {
  integrationKey: string;
  users: User[];
  web: string[];
  /** Each refused for one reason on /auth/basic. */
  refused: { why: string; reason: string; user: User }[];
}

/**
 * CPU seconds of a process and all its descendants (Sesame's workers, the bare server's), from
 * /proc: utime + stime of each, in ticks of 1/100 s. Undefined without /proc.
 */
function treeCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    let s = (Number(f[11]) + Number(f[12])) / 100;
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      let children = '';
      try {
        children = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
      } catch {
        // a thread that ended meanwhile
      }
      for (const c of children.trim().split(/\s+/).filter(Boolean)) s += treeCpuSeconds(Number(c)) ?? 0;
    }
    return s;
  } catch {
    return undefined;
  }
}

/** Every rule on, set up with the project's own services before the server starts. */
async function setUp(env: Record<string, string>, users: number): Promise<Credentials> {
  const ctx = await createContext(loadConfig({ ...env, LOG_LEVEL: 'silent' }));
  try {
    const org = await ctx.accounts.addOrganization(OPERATOR, DOMAIN, 'Bench targets');
    await ctx.mfaAdmin.setPolicy(OPERATOR, org.id, {
      appPasswords: { protocols: ['imap', 'smtp', 'dav', 'http'], maxLifetimeDays: 365, revokeUnusedDays: 90 },
    });
    const ids: string[] = [];
    const countries = ['NL', 'BE', 'DE', 'FR', 'GB', 'US', 'JP', 'BR'];
    for (let i = 0; i < LOCATIONS - 1; i++) {
      const l = await ctx.locations.create(OPERATOR, org.id, {
        name: `Branch ${i}`,
        networks: [`10.${i}.0.0/16`, `2001:db8:${i.toString(16)}::/48`],
        countries:
          i % 5 === 0 ? [countries[(i / 5) % countries.length]!, countries[(i / 5 + 3) % countries.length]!] : [],
      });
      ids.push(l.id);
    }
    ids.push(
      (await ctx.locations.create(OPERATOR, org.id, { name: 'Loopback', networks: ['127.0.0.0/8'], countries: [] })).id,
    );
    await ctx.locations.setRules(OPERATOR, org.id, [
      { protocol: 'http', mode: 'locations', locationIds: ids },
      { protocol: 'imap', mode: 'locations', locationIds: ids },
    ]);
    const group = await ctx.groups.create(OPERATOR, org.id, 'Mail users');
    await ctx.groups.setLimit(OPERATOR, org.id, 'app_passwords', group.id);
    const pin: PinInput = { locationIds: ids.slice(-10) };
    const mailUser = async (address: string, protocols?: string[], userPin: PinInput = pin): Promise<User> => {
      // No main password: an enforced user's mail client uses only its app password.
      const created = await ctx.accounts.addUser(OPERATOR, { address });
      const user = await ctx.mfaAdmin.setUserState(OPERATOR, created.address, 'enforced');
      await ctx.groups.addMember(OPERATOR, org.id, group.id, user.address);
      return benchAppPassword(ctx, user, protocols, userPin);
    };
    const measured: User[] = [];
    for (let i = 0; i < users; i++) measured.push(await mailUser(`mail${i}@${DOMAIN}`));
    const elsewhere = await mailUser(`elsewhere@${DOMAIN}`, undefined, { network: PINNED_ELSEWHERE });
    const outsider = await mailUser(`outsider@${DOMAIN}`);
    await ctx.groups.removeMember(OPERATOR, org.id, group.id, outsider.address);
    const imapOnly = await mailUser(`imaponly@${DOMAIN}`, ['imap']);
    const disabled = await mailUser(`disabled@${DOMAIN}`);
    await ctx.accounts.disableUser(OPERATOR, disabled.address);
    const web: string[] = [];
    for (let i = 0; i < WEB_USERS; i++)
      web.push(
        (await ctx.accounts.addUser(OPERATOR, { address: `web${i}@${DOMAIN}`, password: WEB_PASSWORD })).address,
      );
    const { key } = await ctx.integrations.add('bench');
    return {
      integrationKey: key,
      users: measured,
      web,
      refused: [
        {
          why: 'a password that is not the app password',
          reason: 'wrong',
          user: { ...measured[0]!, appPassword: 'x'.repeat(23) },
        },
        { why: `an app password pinned to ${PINNED_ELSEWHERE}`, reason: 'location_not_allowed', user: elsewhere },
        { why: 'a user outside the required group', reason: 'not_in_group', user: outsider },
        { why: 'an app password for IMAP only', reason: 'protocol_not_allowed', user: imapOnly },
        { why: 'a disabled user', reason: 'user_disabled', user: disabled },
      ],
    };
  } finally {
    await ctx.close();
  }
}

const basicAuth = (u: User) => `Basic ${Buffer.from(`${u.address}:${u.appPassword}`).toString('base64')}`;

/** The bare Fastify server (bench/bare-server.ts) as its own process, `processes` of them sharing the port. */
async function startBare(processes: number): Promise<{ port: number; child: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, [BARE_JS, String(port), String(processes)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr!.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the bare server did not start:\n${out}`)), 15_000);
    child.stdout!.on('data', (c: Buffer) => {
      if (c.toString('utf8').includes('listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the bare server exited (${code}):\n${out}`));
    });
  });
  return {
    port,
    child,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await exit;
    },
  };
}

/** Runs the open-loop generator as its own process; resolves with its report. */
function runOpenLoop(specFile: string, budgetS: number): Promise<OpenLoopReport> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [OPEN_LOOP_JS, specFile],
      { timeout: (budgetS + 30) * 1000, maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`open-loop generator failed: ${err.message}\n${stdout}${stderr}`));
          return;
        }
        try {
          resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as OpenLoopReport);
        } catch {
          reject(new Error(`open-loop generator printed no report:\n${stdout}${stderr}`));
        }
      },
    );
  });
}

interface WrkRound extends WrkReport {
  side: string;
  load1: number;
  cpuUsPerRequest?: number;
}

interface SaturationResult {
  workers: number;
  rounds: number;
  perRound: WrkRound[];
  /** Medians of each side's rounds. */
  sides: Record<string, { rps: number; p99Ms: number; cpuUsPerRequest?: number }>;
  /** Median Sesame req/s / median bare (one process) req/s. */
  ratio: number;
  /** The median of each round's Sesame / bare. */
  ratioOfRounds: number;
  /** With two workers: Sesame / the two-process bare server. */
  ratioToBare2?: number;
  targets: Target[];
}

interface OpenRound {
  side: 'bare' | 'sesame';
  load1: number;
  report: OpenLoopReport;
  signIns: SignInLoopResult;
  cpuUsPerRequest?: number;
}

interface OpenLoopResult {
  rate: number;
  rounds: OpenRound[];
  bare: { p50Ms: number; p99Ms: number; achievedRps: number };
  sesame: { p50Ms: number; p99Ms: number; achievedRps: number };
  /** Each round's Sesame p99 - bare p99 (paired in order). */
  p99Differences: number[];
  /** Their median. */
  p99DifferenceMs: number;
  targets: Target[];
}

interface StoreRun {
  store: StoreKind;
  dataDir: string;
  database?: string;
  kept: boolean;
  setupMs: number;
  sanity: { what: string; expected: string; got: string }[];
  saturation: SaturationResult[];
  openLoop: OpenLoopResult[];
  signInLog: LogCount[];
}

async function main(): Promise<number> {
  const seconds = wholeNumber('BENCH_SECONDS', 5, 1);
  const warmup = wholeNumber('BENCH_WARMUP_SECONDS', 2, 0);
  const rounds = wholeNumber('BENCH_ROUNDS', 4, 1);
  const openSeconds = wholeNumber('BENCH_OPEN_SECONDS', 6, 1);
  const openRounds = wholeNumber('BENCH_OPEN_ROUNDS', 3, 1);
  const openConnections = wholeNumber('BENCH_OPEN_CONNECTIONS', 8, 1);
  const signInRate = wholeNumber('BENCH_SIGNIN_RATE', 10, 0);
  const users = wholeNumber('BENCH_USERS', 50, 1);
  const workers2 = wholeNumber('BENCH_WORKERS2', 1, 0) > 0;
  const rates = (process.env.BENCH_OPEN_RATES || '1000,3000').split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_OPEN_RATES: ${JSON.stringify(s)} is not a rate`);
    return n;
  });
  const json = process.env.BENCH_JSON === '1';
  const keep = !!process.env.BENCH_KEEP_DIR && process.env.BENCH_KEEP_DIR !== '0';
  const cpuProf = process.env.BENCH_CPU_PROF ? path.resolve(process.env.BENCH_CPU_PROF) : undefined;
  const stores = (process.env.BENCH_STORES || 'sqlite,postgres')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of stores)
    if (s !== 'sqlite' && s !== 'postgres')
      throw new Error(`BENCH_STORES: unknown store ${JSON.stringify(s)} (sqlite, postgres)`);
  const pgAdmin = process.env.BENCH_PG_URL || process.env.SESAME_TEST_PG_URL || '';
  if (stores.includes('postgres') && !pgAdmin)
    throw new Error('PostgreSQL needs a cluster: set BENCH_PG_URL or SESAME_TEST_PG_URL, or BENCH_STORES=sqlite');
  if (cpuProf) fs.mkdirSync(cpuProf, { recursive: true });
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const wrk = await wrkVersion();
  const note = (m: string) => console.error(`bench: ${m}`);
  const load1 = () => round(os.loadavg()[0] ?? 0, 2);

  const runs: StoreRun[] = [];
  let failure: string | undefined;
  for (const store of stores as StoreKind[]) {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `sesame-bench-targets-${store}-`));
    let db: Awaited<ReturnType<typeof createDatabase>> | undefined;
    let server: Server | undefined;
    const bares: { stop(): Promise<void> }[] = [];
    const run: StoreRun = {
      store,
      dataDir,
      kept: keep,
      setupMs: 0,
      sanity: [],
      saturation: [],
      openLoop: [],
      signInLog: [],
    };
    runs.push(run);
    const env = () => storeEnv(dataDir, db?.url ?? '');
    try {
      if (store === 'postgres') {
        db = await createDatabase(pgAdmin);
        run.database = db.name;
      }
      const t0 = performance.now();
      const creds = await setUp(env(), users);
      run.setupMs = Math.round(performance.now() - t0);
      note(`${store}: set up in ${run.setupMs} ms; data folder ${dataDir}${db ? `, database ${db.name}` : ''}`);
      const write = (name: string, text: string) => {
        const f = path.join(dataDir, name);
        fs.writeFileSync(f, text, { mode: 0o600 });
        return f;
      };
      const bare1 = await startBare(1);
      bares.push(bare1);
      const bare2 = workers2 ? await startBare(2) : undefined;
      if (bare2) bares.push(bare2);
      server = await startServer(env(), cpuProf, 1);
      const agent = new http.Agent({ keepAlive: true });

      // Sanity: the bare route answers, a measured user is allowed, every refusal refuses.
      const check = async (what: string, expected: string, got: Promise<string>) => {
        const answer = await got;
        run.sanity.push({ what, expected, got: answer });
        if (answer !== expected) throw new Error(`${store} sanity: ${what}: expected ${expected}, got ${answer}`);
      };
      const status = (r: Promise<Reply>) => r.then((x) => String(x.status));
      const basic = (port: number, u: User) =>
        status(request(agent, port, 'GET', '/auth/basic', { authorization: basicAuth(u) }));
      const sanity = async (port: number, label: string) => {
        await check(`${label}GET /auth/basic, a measured user from 127.0.0.1`, '200', basic(port, creds.users[0]!));
        for (const r of creds.refused)
          await check(`${label}GET /auth/basic, ${r.why} (${r.reason})`, '401', basic(port, r.user));
      };
      await check('GET /bare', '200', status(request(agent, bare1.port, 'GET', '/bare')));
      if (bare2) await check('GET /bare (two processes)', '200', status(request(agent, bare2.port, 'GET', '/bare')));
      await sanity(server.port, '');
      await check(
        `POST /auth/mail, IMAP from ${OUTSIDE_IP} (in no named location; location_not_allowed)`,
        'refused',
        request(
          agent,
          server.port,
          'POST',
          '/auth/mail',
          { 'content-type': 'application/json', authorization: `Bearer ${creds.integrationKey}` },
          JSON.stringify({
            user: creds.users[1]!.address,
            password: creds.users[1]!.appPassword,
            service: 'imap',
            remoteIp: OUTSIDE_IP,
          }),
        ).then((r) => {
          const result = r.status === 200 ? (JSON.parse(r.body) as { result?: string }).result : undefined;
          return result === 'ok' ? 'allowed' : 'refused';
        }),
      );
      const signIn = await request(
        agent,
        server.port,
        'POST',
        '/api/v1/sessions',
        { 'content-type': 'application/json' },
        JSON.stringify({ email: creds.web[0], password: WEB_PASSWORD }),
      );
      await check(
        'POST /api/v1/sessions, a browser user with the right password',
        '201',
        Promise.resolve(String(signIn.status)),
      );

      const bareScript = write('wrk-bare.lua', wrkScript('GET', '/bare', [{ headers: {} }]));
      const basicScript = write(
        'wrk-auth-basic.lua',
        wrkScript(
          'GET',
          '/auth/basic',
          creds.users.map((u) => ({ headers: { Authorization: basicAuth(u) } })),
        ),
      );
      interface Side {
        name: string;
        url: string;
        script: string;
        pid: () => number | undefined;
      }
      const bareSide: Side = {
        name: 'bare',
        url: `http://127.0.0.1:${bare1.port}/bare`,
        script: bareScript,
        pid: () => bare1.child.pid,
      };
      const sesameSide = (): Side => ({
        name: 'sesame',
        url: `http://127.0.0.1:${server!.port}/auth/basic`,
        script: basicScript,
        pid: () => server!.child.pid,
      });
      const wrkRound = async (s: Side, label: string): Promise<WrkRound> => {
        const l = load1();
        note(`${store}: ${label}, ${seconds} s`);
        const c0 = treeCpuSeconds(s.pid());
        const r = await runWrk(s.url, seconds, s.script);
        const c1 = treeCpuSeconds(s.pid());
        const bad = failures(r);
        if (bad) throw new Error(`${store} ${label}: ${bad}`);
        return {
          side: s.name,
          ...r,
          load1: l,
          ...(c0 !== undefined && c1 !== undefined && r.requests > 0
            ? { cpuUsPerRequest: round(((c1 - c0) * 1e6) / r.requests, 1) }
            : {}),
        };
      };
      const saturation = async (workers: number, sides: Side[]): Promise<SaturationResult> => {
        if (warmup > 0)
          for (const s of sides) {
            const w = await runWrk(s.url, warmup, s.script);
            const bad = failures(w);
            if (bad) throw new Error(`${store} warm-up of ${s.name}: ${bad}`);
          }
        const perRound: WrkRound[] = [];
        for (let i = 1; i <= rounds; i++) {
          const order = i % 2 === 1 ? sides : [...sides].reverse();
          for (const s of order)
            perRound.push(await wrkRound(s, `saturation, ${workers} worker(s), ${s.name} (round ${i})`));
        }
        const sideNames = [...new Set(sides.map((s) => s.name))];
        const of = (name: string) => perRound.filter((r) => r.side === name);
        const sidesOut: SaturationResult['sides'] = {};
        for (const n of sideNames) {
          const rs = of(n);
          const cpu = rs.flatMap((r) => (r.cpuUsPerRequest === undefined ? [] : [r.cpuUsPerRequest]));
          sidesOut[n] = {
            rps: round(median(rs.map((r) => r.rps)), 1),
            p99Ms: round(median(rs.map((r) => r.latency.p99Ms)), 2),
            ...(cpu.length === rs.length ? { cpuUsPerRequest: round(median(cpu), 1) } : {}),
          };
        }
        const bareRps = sidesOut.bare!.rps;
        const sesameRps = sidesOut.sesame!.rps;
        const ratio = bareRps > 0 ? round(sesameRps / bareRps, 3) : 0;
        const bares = of('bare');
        const ratioOfRounds = round(median(of('sesame').map((r, i) => r.rps / (bares[i]?.rps || Number.NaN))), 3);
        const b2 = sidesOut['bare-2'];
        const targets: Target[] =
          workers === 1
            ? [
                {
                  what: 'ratio to bare, one worker',
                  value: ratio,
                  limit: `>= ${TARGETS.ratio[store].toFixed(2)}`,
                  pass: ratio >= TARGETS.ratio[store],
                },
              ]
            : [];
        return {
          workers,
          rounds,
          perRound,
          sides: sidesOut,
          ratio,
          ratioOfRounds,
          ...(b2 && b2.rps > 0 ? { ratioToBare2: round(sesameRps / b2.rps, 3) } : {}),
          targets,
        };
      };

      // 1. Saturation, one worker.
      run.saturation.push(await saturation(1, [bareSide, sesameSide()]));

      // 2. Open loop at fixed rates, sign-ins beside.
      const openSpec = (port: number, rate: number, reqs: string[]) =>
        write(
          `open-loop-${port}-${rate}.json`,
          JSON.stringify({
            port,
            rate,
            seconds: openSeconds,
            warmupSeconds: warmup,
            connections: openConnections,
            requests: reqs,
          } satisfies OpenLoopSpec),
        );
      const bareReqs = [`GET /bare HTTP/1.1\r\nHost: 127.0.0.1:${bare1.port}\r\nConnection: keep-alive\r\n\r\n`];
      const sesameReqs = creds.users.map(
        (u) =>
          `GET /auth/basic HTTP/1.1\r\nHost: 127.0.0.1:${server!.port}\r\nAuthorization: ${basicAuth(u)}\r\nConnection: keep-alive\r\n\r\n`,
      );
      for (const rate of rates) {
        const specs = { bare: openSpec(bare1.port, rate, bareReqs), sesame: openSpec(server.port, rate, sesameReqs) };
        const roundsOut: OpenRound[] = [];
        for (let i = 1; i <= openRounds; i++) {
          const order: ('bare' | 'sesame')[] = i % 2 === 1 ? ['bare', 'sesame'] : ['sesame', 'bare'];
          for (const side of order) {
            note(`${store}: open loop ${rate} req/s, ${side} (round ${i}), ${warmup} + ${openSeconds} s`);
            const l = load1();
            const pid = side === 'bare' ? bare1.child.pid : server.child.pid;
            // The sign-ins run for the whole phase, warm-up included (they go to Sesame either way).
            const loop = signInRate > 0 ? signInLoop(server.port, creds.web, signInRate) : undefined;
            const c0 = treeCpuSeconds(pid);
            let report: OpenLoopReport;
            let signIns: SignInLoopResult | undefined;
            try {
              report = await runOpenLoop(specs[side], openSeconds + warmup);
            } finally {
              signIns = await loop?.stop();
            }
            const c1 = treeCpuSeconds(pid);
            const label = `${store} open loop ${rate} req/s ${side} (round ${i})`;
            if (report.errors > 0 || report.non2xx > 0 || report.answered === 0)
              throw new Error(
                `${label}: ${report.non2xx} non-2xx, ${report.errors} error(s), ${report.answered} answered; first: ${report.firstProblem ?? '-'}`,
              );
            if (signIns && (signIns.failed > 0 || signIns.created === 0))
              throw new Error(
                `${label}: ${signIns.failed} of ${signIns.sent} sign-in(s) not answered 201; first: ${signIns.firstFailure ?? 'none answered'}`,
              );
            roundsOut.push({
              side,
              load1: l,
              report,
              signIns: signIns ?? {
                ratePerSecond: 0,
                sent: 0,
                created: 0,
                failed: 0,
                achievedPerSecond: 0,
                latencyP50Ms: 0,
                latencyP99Ms: 0,
                latencyMaxMs: 0,
              },
              // CPU over warm-up and measured window together, per request of both.
              ...(c0 !== undefined && c1 !== undefined
                ? {
                    cpuUsPerRequest: round(((c1 - c0) * 1e6) / (rate * (openSeconds + warmup)), 1),
                  }
                : {}),
            });
          }
        }
        const bareRounds = roundsOut.filter((r) => r.side === 'bare');
        const sesameRounds = roundsOut.filter((r) => r.side === 'sesame');
        const sum = (rs: OpenRound[]) => ({
          p50Ms: round(median(rs.map((r) => r.report.latency.p50Ms)), 3),
          p99Ms: round(median(rs.map((r) => r.report.latency.p99Ms)), 3),
          achievedRps: round(median(rs.map((r) => r.report.achievedRps)), 1),
        });
        const p99Differences = sesameRounds.map((s, i) =>
          round(s.report.latency.p99Ms - (bareRounds[i]?.report.latency.p99Ms ?? Number.NaN), 3),
        );
        const p99DifferenceMs = round(median(p99Differences), 3);
        run.openLoop.push({
          rate,
          rounds: roundsOut,
          bare: sum(bareRounds),
          sesame: sum(sesameRounds),
          p99Differences,
          p99DifferenceMs,
          targets: [
            {
              what: `p99 Sesame - bare at ${rate} req/s`,
              value: p99DifferenceMs,
              limit: `<= ${TARGETS.p99DifferenceMs} ms`,
              pass: p99DifferenceMs <= TARGETS.p99DifferenceMs,
            },
          ],
        });
      }

      // 3. Saturation, two workers (reported, no target).
      if (workers2 && bare2) {
        await server.stop();
        server = await startServer(env(), cpuProf, 2);
        await sanity(server.port, 'two workers: ');
        run.saturation.push(
          await saturation(2, [
            bareSide,
            {
              name: 'bare-2',
              url: `http://127.0.0.1:${bare2.port}/bare`,
              script: bareScript,
              pid: () => bare2.child.pid,
            },
            sesameSide(),
          ]),
        );
      }
      agent.destroy();
    } catch (e) {
      failure = e instanceof Error ? e.message : String(e);
      if (server) failure += `\nlast server output:\n${server.output() || '(none)'}`;
    } finally {
      await server?.stop();
      for (const b of bares) await b.stop();
      try {
        run.signInLog = await signInLog(env());
      } catch (e) {
        note(`${store}: could not read the sign-in log: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (!keep) {
        await db?.drop().catch((e: unknown) => note(`could not drop ${db?.name}: ${String(e)}`));
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    }
    if (failure) break;
  }

  const verdicts = runs.flatMap((r) => [
    ...r.saturation.flatMap((s) => s.targets.map((t) => ({ store: r.store, ...t }))),
    ...r.openLoop.flatMap((o) => o.targets.map((t) => ({ store: r.store, ...t }))),
  ]);
  if (!json) {
    console.log(`Sesame HTTP targets bench (issue #21 item 3): Node ${process.version}, ${cores} cores, ${wrk}`);
    console.log(
      `wrk -t${THREADS} -c${CONNECTIONS}, ${seconds} s x ${rounds} rounds per side; open loop ${openConnections} connections, ${openSeconds} s x ${openRounds} rounds, ${signInRate} sign-ins/s beside; warm-up ${warmup} s`,
    );
    for (const r of runs) {
      console.log('');
      for (const s of r.saturation) {
        console.log(
          `${r.store} saturation, Sesame ${s.workers} worker(s), bare 1 process${s.sides['bare-2'] ? ' (and 2)' : ''}: ` +
            Object.entries(s.sides)
              .map(([n, v]) => `${n} ${v.rps} req/s p99 ${v.p99Ms} ms ${v.cpuUsPerRequest ?? '-'} µs CPU/req`)
              .join('; ') +
            `; ratio ${s.ratio} (median of rounds ${s.ratioOfRounds})${s.ratioToBare2 === undefined ? '' : `, to the 2-process bare ${s.ratioToBare2}`}` +
            s.targets.map((t) => `; ${t.what} ${t.limit} ${t.pass ? 'PASS' : 'FAIL'}`).join(''),
        );
        console.log(`  rounds: ${s.perRound.map((p) => `${p.side} ${p.rps}/s (load ${p.load1})`).join(', ')}`);
      }
      for (const o of r.openLoop) {
        console.log(
          `${r.store} open loop ${o.rate} req/s: bare p50 ${o.bare.p50Ms} p99 ${o.bare.p99Ms} ms (${o.bare.achievedRps}/s); ` +
            `Sesame p50 ${o.sesame.p50Ms} p99 ${o.sesame.p99Ms} ms (${o.sesame.achievedRps}/s); p99 difference per round ${o.p99Differences.join(', ')} ms, median ${o.p99DifferenceMs} ms` +
            o.targets.map((t) => `; ${t.limit} ${t.pass ? 'PASS' : 'FAIL'}`).join(''),
        );
        console.log(
          `  rounds: ${o.rounds
            .map(
              (x) =>
                `${x.side} ${x.report.achievedRps}/s${x.report.unanswered ? ` (${x.report.unanswered} unanswered)` : ''} p99 ${x.report.latency.p99Ms} max ${x.report.latency.maxMs} ms, lag p99 ${x.report.sendLagP99Ms} ms, wait p99 ${x.report.queueWaitP99Ms} ms, sign-ins p99 ${x.signIns.latencyP99Ms} ms (load ${x.load1})`,
            )
            .join('; ')}`,
        );
      }
      console.log(`${r.store} sanity: ${r.sanity.map((c) => `${c.what}: ${c.got}`).join('; ')}`);
      console.log(
        `${r.store} sign-in log: ${r.signInLog.map((l) => `${l.protocol}/${l.outcome}/${l.reason} ${l.n}`).join(', ')}`,
      );
      console.log(
        `${r.store}: data folder ${r.dataDir}${r.database ? `, database ${r.database}` : ''}${r.kept ? ' (kept)' : ' (removed)'}`,
      );
    }
    console.log(`targets: ${verdicts.filter((v) => v.pass).length} of ${verdicts.length} PASS`);
  }
  if (failure) console.error(`bench: FAILED: ${failure}`);
  if (json)
    console.log(
      JSON.stringify({
        ok: failure === undefined,
        ...(failure === undefined ? {} : { error: failure }),
        node: process.version,
        cores,
        wrk,
        connections: CONNECTIONS,
        threads: THREADS,
        seconds,
        warmupSeconds: warmup,
        rounds,
        openSeconds,
        openRounds,
        openConnections,
        rates,
        signInRate,
        users,
        targets: TARGETS,
        runs,
        verdicts,
        allPass: verdicts.every((v) => v.pass),
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
