/**
 * Legacy-auth benchmark: how fast do the endpoints mail servers and proxies ask answer, next to a
 * route that does nothing?
 *
 * What it measures, in one run, with wrk (Debian package `wrk`; CONNECTIONS connections, THREADS
 * threads, `--latency`, a fixed duration per phase) against the real server started as a child
 * process (`node dist/src/main.js`, HOST=127.0.0.1, a free PORT, LOG_LEVEL=warn, a temporary
 * SESAME_DATA_DIR), once per store (SQLite in that folder; PostgreSQL in a fresh database of the
 * cluster given by BENCH_PG_URL or SESAME_TEST_PG_URL, dropped afterwards):
 *   (a) baseline  GET /healthz: a plain Fastify route answering 200 (no hooks: the browser plugins
 *                 are scoped to pages and the API), no store;
 *   (b) mail      POST /auth/mail (Dovecot's Lua passdb): JSON body, `Authorization: Bearer
 *                 <integration key>`, a valid app password, round-robin over USERS users with one
 *                 app password each (so no single account row is the only hot one);
 *   (c) basic     GET /auth/basic (HTTP forward auth): `Authorization: Basic`, the same users;
 *   (d) mail while signing in (SQLite only): (b) again while this process POSTs
 *                 /api/v1/sessions with a real user's main password at BENCH_SIGNIN_RATE per second
 *                 (open loop, default 20/s), so Argon2 hashes run beside the app-password checks.
 *   (e) location rules on vs off (issue #20): GET /auth/basic in rotating rounds (off, on, off, on,
 *                 ... BENCH_LOCATION_ROUNDS of each) in the same server run, for the same users of
 *                 a second organization: "off", with its rules removed and its users' pins
 *                 removed (as an organization that never wrote a rule); "on", with them written
 *                 back before the round. "On": LOCATIONS named locations (networks, every
 *                 fifth also countries, so the country table is loaded), an `http` and an `imap`
 *                 rule "only from named locations" listing all of them (127.0.0.0/8, where wrk
 *                 connects from, is the last), and every app password pinned to ten of them (the
 *                 loopback one among them). Before the rounds, sanity requests show the rules really
 *                 hold: from 127.0.0.1 allowed, IMAP from MAIL_CLIENT_IP refused, an app password
 *                 pinned to 10.0.4.17 refused (each refusal is `location_not_allowed` in the log).
 *                 Also timed in this process: one decision (pin and rule) on the compiled rules.
 *                 Reported: the median req/s, p99 and server CPU per request of each side and
 *                 on/off of each (req/s ratio target >= 0.90, "nothing measurable" within this
 *                 machine's noise), per store.
 * For each: requests/s, its ratio to the baseline of the same server run, latency p50 and p99
 * (wrk's latency distribution), and the server's CPU time (all its threads, /proc/<pid>/stat) per
 * request answered: the figure a busy neighbour on the machine moves least. Targets (from the issue): ratio >= 0.40 on SQLite and >= 0.20 on
 * PostgreSQL, p99 < 15 ms for (b) and (c); p99 < 25 ms for (d). Each is marked PASS or FAIL; the
 * bench exits 0 whatever the verdicts (it reports), and non-zero only when the measurement itself
 * is invalid: any answer that is not 2xx (wrk's "Non-2xx or 3xx responses", which counts status
 * >= 400; these endpoints never answer 3xx), any socket error, a sign-in not answered 201, or a
 * server that does not start.
 *
 * Setup (not measured) uses the project's own code on the data folder before the server starts:
 * createContext on the same folder / database URL, an organization, USERS users with MFA
 * `enforced` and one app password each (created under a fresh-MFA session, as the pages do; each
 * creation's email notice goes to the development outbox in the data folder), WEB_USERS users with
 * a main password and MFA off for (d), and one integration; then the context is closed. The
 * server runs with the account/IP failure limits at their maximum, so a slip cannot lock the
 * bench out (no request here fails anyway). Each measured phase is preceded by a short warm-up of
 * the same endpoint (JIT, connections), not reported; a single request is checked first (status
 * and body), so a misconfigured bench stops with the server's answer instead of a table of 401s.
 *
 * How wrk is driven: every phase runs a Lua script (written into the data folder: it holds the
 * app passwords and the integration key, and goes with the folder) that holds each connection's
 * first request for HOLD_S (see wrkScript: libuv accepts one connection per turn of a loaded
 * event loop, which would otherwise be measured as ~1 s latencies); req/s counts from the end of
 * the hold. wrk is closed-loop (each connection sends its next request when the previous is
 * answered) and corrects its percentiles for coordinated omission, so its latencies are those of
 * a saturated server: by Little's law the mean latency is CONNECTIONS / req/s, and p99 < 15 ms
 * with 64 connections needs more than ~4,300 req/s.
 *
 * The machine is shared: wrk, the server, PostgreSQL and this process compete for the same cores
 * (two on a small VM), and numbers move +-30 % between runs (more when other work runs: each
 * phase records the 1-minute load average it started at). Read the ratios, not the absolute req/s.
 *
 * Run: `npm run bench:legacy`, or `npx tsc -p . && node dist/bench/legacy-auth.js`.
 * Knobs:
 *   BENCH_SECONDS        seconds per measured phase (default 8);
 *   BENCH_WARMUP_SECONDS seconds of warm-up before each (default max(1, BENCH_SECONDS / 4); 0: none);
 *   BENCH_STORES         comma-separated, of sqlite and postgres (default both);
 *   BENCH_PG_URL         PostgreSQL cluster to create the bench database in (else SESAME_TEST_PG_URL);
 *   BENCH_USERS          users with an app password (default 50);
 *   BENCH_SIGNIN_RATE    browser sign-ins per second in phase (d) (default 20; 0 skips the phase);
 *   BENCH_LOCATION_ROUNDS rounds of each side in phase (e), ABBA order (default 4; 0 skips the phase);
 *   BENCH_VERIFY_BLOCKS  phase (e)'s in-process A/B of the whole verification: blocks of 4,000 per side (default 8; 0: none);
 *   BENCH_KEEP_DIR       any value but 0: keep the data folders (and PostgreSQL databases); their
 *                        paths are in the output either way;
 *   BENCH_CPU_PROF       a folder: the server runs with `--cpu-prof --cpu-prof-dir=<folder>` (one
 *                        .cpuprofile per server run, written when it exits);
 *   BENCH_JSON=1         prints the results as one JSON object on the last line
 *                        (test/bench/legacy-auth-bench.test.ts reads it).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDatabase } from './pg.js';
import {
  cpuSeconds,
  median,
  signInLog,
  signInLoop,
  startServer,
  storeEnv,
  wholeNumber,
  WEB_PASSWORD,
  type LogCount,
  type Server,
  type SignInLoopResult,
  type StoreKind,
  benchAppPassword,
} from './server.js';
import {
  CONNECTIONS,
  failures,
  HOLD_S,
  request,
  round,
  runWrk,
  THREADS,
  wrkScript,
  wrkVersion,
  type Reply,
  type WrkReport,
} from './wrk.js';
import { createContext } from '../src/app/context.js';
import { loadConfig } from '../src/config/config.js';
import { OPERATOR } from '../src/domain/accounts/actor.js';
import type { AppPasswordPin } from '../src/domain/app-passwords/model.js';
import type { PinInput } from '../src/domain/app-passwords/service.js';
import { type CompiledLocationRules, compileRules } from '../src/domain/locations/rules.js';

const WEB_USERS = 10;
const DOMAIN = 'bench.test';
/** The client IP Dovecot reports in /auth/mail (TEST-NET-2). */
const MAIL_CLIENT_IP = '198.51.100.7';

const TARGETS = {
  ratio: { sqlite: 0.4, postgres: 0.2 } as Record<StoreKind, number>,
  p99Ms: 15,
  p99UnderSignInsMs: 25,
  /** Phase (e): /auth/basic req/s with location rules and pins over without (medians of the rounds). */
  locationRulesRatio: 0.9,
};

/** Phase (e): the organization with location rules, its named locations, and where a pin elsewhere points. */
const RULES_DOMAIN = 'rules.bench.test';
const LOCATIONS = 50;
const PINNED_ELSEWHERE = '10.0.4.17';

// ---------------------------------------------------------------------------------------------
// wrk: its script and its report

// ---------------------------------------------------------------------------------------------
// Stores, setup, the server

interface Credentials {
  integrationKey: string;
  mail: { address: string; appPassword: string }[];
  web: string[];
  /** Phase (e): users of the organization with rules, their app passwords pinned; one pinned elsewhere. */
  ruled: { address: string; appPassword: string }[];
  pinnedElsewhere?: { address: string; appPassword: string };
  /** Phase (e): what one decision costs in this process (the compiled rules and pin, no server). */
  decision?: DecisionCost;
}

/**
 * The location decision alone, timed in a loop on the rules phase (e) compiles (the same compiled
 * object the gate keeps: a range table of the 50 locations' networks and the country table), for
 * the pin and the `http` rule together, from loopback (in the last location) and from an address
 * the country table places (193.0.6.139, NL: one of the locations' countries).
 */
interface DecisionCost {
  iterations: number;
  /** µs per decision (pin and rule) for each address. */
  usPerDecision: Record<string, number>;
  /** The decisions, to show the loop really decided: allowed or refused. */
  allowed: Record<string, boolean>;
}

function timeDecisions(rules: CompiledLocationRules, pin: AppPasswordPin): DecisionCost {
  const iterations = 200_000;
  const usPerDecision: Record<string, number> = {};
  const allowed: Record<string, boolean> = {};
  for (const ip of ['127.0.0.1', '193.0.6.139']) {
    const decide = () => rules.pinAllows(pin, ip) && rules.allows('http', ip);
    for (let i = 0; i < 20_000; i++) decide(); // JIT
    let yes = 0;
    const t0 = performance.now();
    for (let i = 0; i < iterations; i++) if (decide()) yes++;
    usPerDecision[ip] = round(((performance.now() - t0) * 1000) / iterations, 3);
    allowed[ip] = yes === iterations;
  }
  return { iterations, usPerDecision, allowed };
}

/** Users, app passwords and the integration key, made with the project's own services before the server starts. */
async function setUp(
  env: Record<string, string>,
  users: number,
  webUsers: number,
  withRules: boolean,
): Promise<Credentials> {
  const ctx = await createContext(loadConfig({ ...env, LOG_LEVEL: 'silent' }));
  try {
    await ctx.accounts.addOrganization(OPERATOR, DOMAIN, 'Bench');
    const mailUser = async (address: string, pin?: PinInput) => {
      // No main password: an enforced user's mail client uses only its app password, and
      // hashing one per user would only slow the setup down.
      const created = await ctx.accounts.addUser(OPERATOR, { address });
      const user = await ctx.mfaAdmin.setUserState(OPERATOR, created.address, 'enforced');
      return benchAppPassword(ctx, user, undefined, pin);
    };
    const mail = await Promise.all(Array.from({ length: users }, (_, i) => mailUser(`mail${i}@${DOMAIN}`)));
    let ruled: Credentials['ruled'] = [];
    let pinnedElsewhere: Credentials['pinnedElsewhere'];
    let decision: DecisionCost | undefined;
    if (withRules) {
      const org = await ctx.accounts.addOrganization(OPERATOR, RULES_DOMAIN, 'Bench with rules');
      // Networks of branch offices (10.i.0.0/16), every fifth location also a few countries (the
      // country table is then loaded and consulted), loopback last: where wrk connects from.
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
        (await ctx.locations.create(OPERATOR, org.id, { name: 'Loopback', networks: ['127.0.0.0/8'], countries: [] }))
          .id,
      );
      await ctx.locations.setRules(OPERATOR, org.id, [
        { protocol: 'http', mode: 'locations', locationIds: ids },
        { protocol: 'imap', mode: 'locations', locationIds: ids },
      ]);
      const pin = { locationIds: ids.slice(-10) };
      const table = await ctx.geoip.table();
      decision = timeDecisions(
        compileRules(await ctx.locations.rules(OPERATOR, org.id), await ctx.locations.list(OPERATOR, org.id), (ip) =>
          table.country(ip),
        ),
        { locationIds: [...pin.locationIds], network: null },
      );
      ruled = await Promise.all(Array.from({ length: users }, (_, i) => mailUser(`ruled${i}@${RULES_DOMAIN}`, pin)));
      pinnedElsewhere = await mailUser(`elsewhere@${RULES_DOMAIN}`, { network: PINNED_ELSEWHERE });
    }
    // MFA stays off (the organization's default), so a right password is a whole sign-in: 201.
    const web = await Promise.all(
      Array.from(
        { length: webUsers },
        async (_, i) =>
          (await ctx.accounts.addUser(OPERATOR, { address: `web${i}@${DOMAIN}`, password: WEB_PASSWORD })).address,
      ),
    );
    const { key } = await ctx.integrations.add('bench');
    return {
      integrationKey: key,
      mail,
      web,
      ruled,
      ...(pinnedElsewhere ? { pinnedElsewhere } : {}),
      ...(decision ? { decision } : {}),
    };
  } finally {
    await ctx.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Phases

interface Target {
  what: string;
  value: number;
  limit: string;
  pass: boolean;
}

interface PhaseResult extends WrkReport {
  store: StoreKind;
  phase: string;
  endpoint: string;
  ratio: number;
  targets: Target[];
  /** The machine's 1-minute load average when the phase started (others' work skews the numbers). */
  load1: number;
  /** The server's CPU time (all threads) per request wrk counted, in µs; absent without /proc. */
  cpuUsPerRequest?: number;
  signIns?: SignInLoopResult;
}

interface Endpoint {
  phase: string;
  endpoint: string;
  path: string;
  script: string;
  /** One request made by hand before wrk, to see the endpoint really says yes. */
  probe: () => Promise<Reply>;
  expect: (r: Reply) => boolean;
}

// ---------------------------------------------------------------------------------------------
// Output

function table(rows: PhaseResult[]): string {
  const head = ['store', 'endpoint', 'req/s', 'ratio', 'p50 ms', 'p99 ms', 'cpu µs/req', 'verdicts'];
  const body = rows.map((r) => [
    r.store,
    r.endpoint,
    r.rps.toFixed(1),
    r.phase === 'baseline' ? '1' : r.ratio.toFixed(3),
    r.latency.p50Ms.toFixed(2),
    r.latency.p99Ms.toFixed(2),
    r.cpuUsPerRequest === undefined ? '-' : r.cpuUsPerRequest.toFixed(1),
    r.targets.map((t) => `${t.what} ${t.limit} ${t.pass ? 'PASS' : 'FAIL'}`).join(', '),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < 2 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------

interface StoreRun {
  store: StoreKind;
  dataDir: string;
  database?: string;
  kept: boolean;
  setupMs: number;
  phases: PhaseResult[];
  signInLog: LogCount[];
  locationRules?: LocationRulesResult;
}

/** One side of phase (e): medians over its rounds. */
interface Side {
  rps: number;
  p99Ms: number;
  cpuUsPerRequest?: number;
}

/** Phase (e), summed up: medians over the rounds of each side. */
interface LocationRulesResult {
  rounds: number;
  /** Which side goes first in each round. */
  order: string;
  perRound: { off: Omit<Side, 'p99Ms'>; on: Omit<Side, 'p99Ms'> }[];
  /** The whole verification in the bench's process (no HTTP), ABBA blocks: CPU µs per verification and the paired difference. */
  inProcess?: {
    blocks: number;
    offUsPerVerification: number;
    onUsPerVerification: number;
    difference?: PairedInterval;
  };
  /** CPU per request, on less off, paired by round: mean and 95 % interval (µs, and as a share of off). */
  cpuDifference?: PairedInterval;
  /** (max - min) / median of one side's rounds: the spread a difference must beat to be measurable. */
  noise: { offRps?: number; onRps?: number; offCpu?: number; onCpu?: number };
  locations: number;
  /** What the sanity requests were answered (status, and for /auth/mail its result). */
  sanity: { what: string; expected: string; got: string }[];
  off: Side;
  on: Side;
  /** on.rps / off.rps. */
  ratio: number;
  /** on.p99Ms / off.p99Ms. */
  p99Ratio: number;
  /** on.cpuUsPerRequest / off.cpuUsPerRequest (absent without /proc). */
  cpuRatio?: number;
  decision?: DecisionCost;
  targets: Target[];
}

interface PairedInterval {
  meanUs: number;
  lowUs: number;
  highUs: number;
  /** The same as shares of the "off" side's median (0.01 = 1 %). */
  mean: number;
  low: number;
  high: number;
  /** Whether the interval holds 0: the difference is not measurable at this run's resolution. */
  measurable: boolean;
}

/** Student's t at 97.5 % for 1..10 degrees of freedom (beyond: 2.2). */
const T975 = [12.71, 4.3, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23];

const pairedOrNothing = (diffs: number[], base: number) => {
  const difference = pairedInterval(diffs, base);
  return difference ? { difference } : {};
};

/** Mean and 95 % interval of paired differences (at least two pairs). */
function pairedInterval(diffs: number[], base: number | undefined): PairedInterval | undefined {
  const n = diffs.length;
  if (n < 2 || !base) return undefined;
  const mean = diffs.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(diffs.reduce((a, d) => a + (d - mean) ** 2, 0) / (n - 1));
  const half = (T975[n - 2] ?? 2.2) * (sd / Math.sqrt(n));
  const [lowUs, highUs] = [mean - half, mean + half];
  return {
    meanUs: round(mean, 1),
    lowUs: round(lowUs, 1),
    highUs: round(highUs, 1),
    mean: round(mean / base, 4),
    low: round(lowUs / base, 4),
    high: round(highUs / base, 4),
    measurable: lowUs > 0 || highUs < 0,
  };
}

async function main(): Promise<number> {
  const seconds = wholeNumber('BENCH_SECONDS', 8, 1);
  const warmup = wholeNumber('BENCH_WARMUP_SECONDS', Math.max(1, Math.round(seconds / 4)), 0);
  const users = wholeNumber('BENCH_USERS', 50, 1);
  const signInRate = wholeNumber('BENCH_SIGNIN_RATE', 20, 0);
  const locationRounds = wholeNumber('BENCH_LOCATION_ROUNDS', 4, 0);
  const verifyBlocks = wholeNumber('BENCH_VERIFY_BLOCKS', 8, 0);
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
  if (stores.includes('postgres') && !pgAdmin) {
    throw new Error(
      'PostgreSQL needs a cluster: set BENCH_PG_URL or SESAME_TEST_PG_URL (postgres://user@host:port/db), or BENCH_STORES=sqlite',
    );
  }
  if (cpuProf) fs.mkdirSync(cpuProf, { recursive: true });
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const wrk = await wrkVersion();
  const note = (m: string) => console.error(`bench: ${m}`);
  if (!json) {
    console.log(`Sesame legacy-auth bench: Node ${process.version}, ${cores} cores, ${wrk || 'wrk'}`);
    console.log(
      `wrk -t${THREADS} -c${CONNECTIONS} ${seconds} s per phase (warm-up ${warmup} s), ${users} users with one app password each; stores: ${stores.join(', ')}`,
    );
    console.log('');
  }

  const runs: StoreRun[] = [];
  let failure: string | undefined;
  for (const store of stores as StoreKind[]) {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `sesame-bench-legacy-${store}-`));
    let db: Awaited<ReturnType<typeof createDatabase>> | undefined;
    let server: Server | undefined;
    const run: StoreRun = { store, dataDir, kept: keep, setupMs: 0, phases: [], signInLog: [] };
    runs.push(run);
    try {
      if (store === 'postgres') {
        db = await createDatabase(pgAdmin);
        run.database = db.name;
      }
      const env = storeEnv(dataDir, db?.url ?? '');
      const withSignIns = store === 'sqlite' && signInRate > 0;
      const t0 = performance.now();
      const creds = await setUp(env, users, withSignIns ? WEB_USERS : 0, locationRounds > 0);
      run.setupMs = Math.round(performance.now() - t0);
      note(
        `${store}: ${users} users with app passwords set up in ${run.setupMs} ms; data folder ${dataDir}${db ? `, database ${db.name}` : ''}`,
      );

      server = await startServer(env, cpuProf);
      const base = `http://127.0.0.1:${server.port}`;
      const agent = new http.Agent({ keepAlive: true });
      const bearer = `Bearer ${creds.integrationKey}`;
      const mailBody = (u: { address: string; appPassword: string }) =>
        JSON.stringify({ user: u.address, password: u.appPassword, service: 'imap', remoteIp: MAIL_CLIENT_IP });
      const basicAuth = (u: { address: string; appPassword: string }) =>
        `Basic ${Buffer.from(`${u.address}:${u.appPassword}`).toString('base64')}`;
      const write = (name: string, text: string) => {
        const f = path.join(dataDir, name);
        fs.writeFileSync(f, text, { mode: 0o600 });
        return f;
      };
      const first = creds.mail[0]!;
      const port = server.port;
      const mail: Endpoint = {
        phase: 'mail',
        endpoint: 'POST /auth/mail',
        path: '/auth/mail',
        script: write(
          'wrk-auth-mail.lua',
          wrkScript(
            'POST',
            '/auth/mail',
            creds.mail.map((u) => ({
              headers: { 'Content-Type': 'application/json', Authorization: bearer },
              body: mailBody(u),
            })),
          ),
        ),
        probe: () =>
          request(
            agent,
            port,
            'POST',
            '/auth/mail',
            { 'content-type': 'application/json', authorization: bearer },
            mailBody(first),
          ),
        expect: (r) => r.status === 200 && (JSON.parse(r.body) as { result?: string }).result === 'ok',
      };
      const endpoints: Endpoint[] = [
        {
          phase: 'baseline',
          endpoint: 'GET /healthz',
          path: '/healthz',
          script: write('wrk-healthz.lua', wrkScript('GET', '/healthz', [{ headers: {} }])),
          probe: () => request(agent, port, 'GET', '/healthz'),
          expect: (r) => r.status === 200,
        },
        mail,
        {
          phase: 'basic',
          endpoint: 'GET /auth/basic',
          path: '/auth/basic',
          script: write(
            'wrk-auth-basic.lua',
            wrkScript(
              'GET',
              '/auth/basic',
              creds.mail.map((u) => ({ headers: { Authorization: basicAuth(u) } })),
            ),
          ),
          probe: () => request(agent, port, 'GET', '/auth/basic', { authorization: basicAuth(first) }),
          expect: (r) => r.status === 200,
        },
      ];

      let baselineRps = 0;
      const measure = async (
        e: Endpoint,
        phase: string,
        label: string,
        during?: () => { stop(): Promise<SignInLoopResult> },
      ) => {
        const probe = await e.probe();
        if (!e.expect(probe))
          throw new Error(
            `${store} ${label}: the probe request was answered HTTP ${probe.status} ${probe.body.slice(0, 300)}`,
          );
        if (warmup > 0 && !during) {
          const w = await runWrk(base + e.path, warmup, e.script);
          const bad = failures(w);
          if (bad) throw new Error(`${store} ${label} (warm-up): ${bad}`);
        }
        note(`${store}: ${label}, ${seconds} s`);
        const load1 = round(os.loadavg()[0] ?? 0, 2);
        // The sign-ins start with wrk's first requests, after its hold.
        const loop = during ? sleep(HOLD_S * 1000).then(during) : undefined;
        let r: WrkReport;
        let signIns: SignInLoopResult | undefined;
        const cpu0 = cpuSeconds(server!.child.pid);
        let cpu1: number | undefined;
        try {
          r = await runWrk(base + e.path, seconds, e.script);
          cpu1 = cpuSeconds(server!.child.pid);
        } finally {
          signIns = await (await loop)?.stop();
        }
        const cpuUsPerRequest =
          cpu0 !== undefined && cpu1 !== undefined && r.requests > 0
            ? round(((cpu1 - cpu0) * 1e6) / r.requests, 1)
            : undefined;
        const ratio = phase === 'baseline' ? 1 : baselineRps > 0 ? round(r.rps / baselineRps, 4) : 0;
        if (phase === 'baseline') baselineRps = r.rps;
        const targets: Target[] = [];
        if (phase === 'mail' || phase === 'basic') {
          targets.push({
            what: 'ratio',
            value: ratio,
            limit: `>= ${TARGETS.ratio[store].toFixed(2)}`,
            pass: ratio >= TARGETS.ratio[store],
          });
          targets.push({
            what: 'p99',
            value: r.latency.p99Ms,
            limit: `< ${TARGETS.p99Ms} ms`,
            pass: r.latency.p99Ms < TARGETS.p99Ms,
          });
        } else if (phase === 'mail+signins') {
          targets.push({
            what: 'p99',
            value: r.latency.p99Ms,
            limit: `< ${TARGETS.p99UnderSignInsMs} ms`,
            pass: r.latency.p99Ms < TARGETS.p99UnderSignInsMs,
          });
        }
        const result: PhaseResult = {
          store,
          phase,
          endpoint: label,
          ...r,
          ratio,
          targets,
          load1,
          ...(cpuUsPerRequest === undefined ? {} : { cpuUsPerRequest }),
          ...(signIns ? { signIns } : {}),
        };
        run.phases.push(result);
        const bad = failures(r);
        if (bad) throw new Error(`${store} ${label}: ${bad}`);
        if (signIns && (signIns.failed > 0 || signIns.created === 0)) {
          throw new Error(
            `${store} ${label}: ${signIns.failed} of ${signIns.sent} browser sign-in(s) not answered 201; first: ${signIns.firstFailure ?? 'none answered'}`,
          );
        }
        return result;
      };

      for (const e of endpoints) await measure(e, e.phase, e.endpoint);
      if (withSignIns) {
        const r = await request(
          agent,
          port,
          'POST',
          '/api/v1/sessions',
          { 'content-type': 'application/json' },
          JSON.stringify({ email: creds.web[0], password: WEB_PASSWORD }),
        );
        if (r.status !== 201)
          throw new Error(`${store}: a browser sign-in was answered HTTP ${r.status} ${r.body.slice(0, 300)}`);
        await measure(mail, 'mail+signins', `POST /auth/mail + ${signInRate} sign-ins/s`, () =>
          signInLoop(port, creds.web, signInRate),
        );
      }
      if (locationRounds > 0) run.locationRules = await locationPhase();
      agent.destroy();

      /**
       * Phase (e): /auth/basic for the second organization's users with its location rules and
       * their pins on, and with both removed, in rotating rounds of the same server run.
       */
      async function locationPhase(): Promise<LocationRulesResult> {
        const sanity: LocationRulesResult['sanity'] = [];
        const check = async (what: string, expected: string, r: Promise<Reply>, got: (r: Reply) => string) => {
          const answer = got(await r);
          sanity.push({ what, expected, got: answer });
          if (answer !== expected)
            throw new Error(`${store} location rules: ${what}: expected ${expected}, got ${answer}`);
        };
        const ruled = creds.ruled[0]!;
        const elsewhere = creds.pinnedElsewhere!;
        const mailResult = (r: Reply) => {
          try {
            return `${r.status} ${(JSON.parse(r.body) as { result?: string }).result ?? '?'}`;
          } catch {
            return `${r.status} ${r.body.slice(0, 100)}`;
          }
        };
        const asMail = (u: { address: string; appPassword: string }, ip: string) =>
          request(
            agent,
            port,
            'POST',
            '/auth/mail',
            { 'content-type': 'application/json', authorization: bearer },
            JSON.stringify({ user: u.address, password: u.appPassword, service: 'imap', remoteIp: ip }),
          );
        const status = (r: Reply) => String(r.status);
        await check(
          'GET /auth/basic from 127.0.0.1, rules and pin allow',
          '200',
          request(agent, port, 'GET', '/auth/basic', { authorization: basicAuth(ruled) }),
          status,
        );
        await check(
          'POST /auth/mail IMAP from 127.0.0.1, rules and pin allow',
          '200 ok',
          asMail(ruled, '127.0.0.1'),
          mailResult,
        );
        const refusedMail = await asMail(ruled, MAIL_CLIENT_IP);
        await check(
          `POST /auth/mail IMAP from ${MAIL_CLIENT_IP}, in no location`,
          'refused',
          Promise.resolve(refusedMail),
          (r) => (mailResult(r) === '200 ok' ? 'allowed' : 'refused'),
        );
        await check(
          `GET /auth/basic from 127.0.0.1, app password pinned to ${PINNED_ELSEWHERE}`,
          '401',
          request(agent, port, 'GET', '/auth/basic', { authorization: basicAuth(elsewhere) }),
          status,
        );
        const basicOf = (name: string, who: { address: string; appPassword: string }[]): Endpoint => ({
          phase: name,
          endpoint: `GET /auth/basic, rules ${name === 'rules-on' ? 'on' : 'off'}`,
          path: '/auth/basic',
          script: write(
            `wrk-auth-basic-${name}.lua`,
            wrkScript(
              'GET',
              '/auth/basic',
              who.map((u) => ({ headers: { Authorization: basicAuth(u) } })),
            ),
          ),
          probe: () => request(agent, port, 'GET', '/auth/basic', { authorization: basicAuth(who[0]!) }),
          expect: (r) => r.status === 200,
        });
        // The same users on both sides: between rounds the organization's rules and its users' pins
        // are written (on) or removed (off) through a context on the same store, as an admin would,
        // and the server applies each change at its next attempt (the warm-up absorbs the compile).
        // Two organizations with different users would compare their rows' warmth as well.
        const off = basicOf('rules-off', creds.ruled);
        const on = basicOf('rules-on', creds.ruled);
        const admin = await createContext(loadConfig({ ...env, LOG_LEVEL: 'silent' }));
        const offRuns: PhaseResult[] = [];
        const onRuns: PhaseResult[] = [];
        let inProcess: LocationRulesResult['inProcess'];
        try {
          const org = await admin.accounts.organizationByDomain(RULES_DOMAIN);
          const rules = await admin.locations.rules(OPERATOR, org.id);
          const pinned = await Promise.all(
            creds.ruled.map(async (u) => {
              const { appPasswords } = await admin.appPasswords.listFor(OPERATOR, u.address);
              return { address: u.address, id: appPasswords[0]!.id, pin: appPasswords[0]!.pin };
            }),
          );
          const switchTo = async (state: 'on' | 'off') => {
            await admin.locations.setRules(OPERATOR, org.id, state === 'on' ? rules : []);
            for (const p of pinned)
              await admin.appPasswords.setPinFor(OPERATOR, p.address, p.id, state === 'on' ? p.pin : null);
            await admin.flush();
          };
          // ABBA: off then on in odd rounds, on then off in even ones. Each phase adds to the log
          // table, and a side always measured second would carry the drift that growth brings (it
          // did: "on" after "off" every round read as a few per cent more CPU).
          for (let i = 1; i <= locationRounds; i++) {
            for (const state of i % 2 === 1 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
              const e = state === 'on' ? on : off;
              await switchTo(state);
              (state === 'on' ? onRuns : offRuns).push(await measure(e, e.phase, `${e.endpoint} (round ${i})`));
            }
          }
          // The same question without HTTP, finer: the whole verification (read, rules, pin, log
          // queued and written) in this process, in blocks, ABBA, with the server idle.
          if (verifyBlocks > 0) {
            const timeBlock = async () => {
              const n = 4_000;
              const attempt = (i: number) => {
                const u = creds.ruled[i % creds.ruled.length]!;
                return admin.legacy.verify({
                  user: u.address,
                  password: u.appPassword,
                  protocol: 'http',
                  ip: '127.0.0.1',
                });
              };
              for (let i = 0; i < 500; i++) await attempt(i);
              await admin.flush();
              const c0 = process.cpuUsage();
              for (let i = 0; i < n; i++) {
                const r = await attempt(i);
                if (r.outcome !== 'ok') throw new Error(`in-process verification: ${r.reason}`);
              }
              await admin.flush();
              const c = process.cpuUsage(c0);
              return (c.user + c.system) / n;
            };
            const offUs: number[] = [];
            const onUs: number[] = [];
            for (let i = 1; i <= verifyBlocks; i++)
              for (const state of i % 2 === 1 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
                await switchTo(state);
                (state === 'on' ? onUs : offUs).push(await timeBlock());
              }
            const offMedian = median(offUs);
            inProcess = {
              blocks: verifyBlocks,
              offUsPerVerification: round(offMedian, 2),
              onUsPerVerification: round(median(onUs), 2),
              ...pairedOrNothing(
                onUs.map((x, i) => x - offUs[i]!),
                offMedian,
              ),
            };
            console.error(`bench: ${store}: in-process verification A/B, ${verifyBlocks} blocks of each side done`);
          }
        } finally {
          await admin.close();
        }
        const side = (rs: PhaseResult[]): Side => {
          const cpu = rs.flatMap((r) => (r.cpuUsPerRequest === undefined ? [] : [r.cpuUsPerRequest]));
          return {
            rps: round(median(rs.map((r) => r.rps)), 1),
            p99Ms: round(median(rs.map((r) => r.latency.p99Ms)), 2),
            ...(cpu.length === rs.length ? { cpuUsPerRequest: round(median(cpu), 1) } : {}),
          };
        };
        const offSide = side(offRuns);
        const onSide = side(onRuns);
        // What "measurable" means here: how far apart the rounds of one side land among themselves.
        const spread = (rs: PhaseResult[], pick: (r: PhaseResult) => number | undefined) => {
          const xs = rs.flatMap((r) => {
            const x = pick(r);
            return x === undefined ? [] : [x];
          });
          return xs.length >= 2 ? round((Math.max(...xs) - Math.min(...xs)) / median(xs), 3) : undefined;
        };
        const noise = {
          offRps: spread(offRuns, (r) => r.rps),
          onRps: spread(onRuns, (r) => r.rps),
          offCpu: spread(offRuns, (r) => r.cpuUsPerRequest),
          onCpu: spread(onRuns, (r) => r.cpuUsPerRequest),
        };
        // The paired difference of CPU per request (each round's "on" less its "off", measured next
        // to each other): its mean and 95 % interval. "Nothing measurable" = the interval holds 0.
        const diffs = offRuns.flatMap((o, i) => {
          const a = onRuns[i]?.cpuUsPerRequest;
          return a === undefined || o.cpuUsPerRequest === undefined ? [] : [a - o.cpuUsPerRequest];
        });
        const cpuDifference = pairedInterval(diffs, offSide.cpuUsPerRequest);
        const perRound = offRuns.map((o, i) => ({
          off: { rps: o.rps, cpuUsPerRequest: o.cpuUsPerRequest },
          on: { rps: onRuns[i]!.rps, cpuUsPerRequest: onRuns[i]!.cpuUsPerRequest },
        }));
        const ratio = offSide.rps > 0 ? round(onSide.rps / offSide.rps, 3) : 0;
        const p99Ratio = offSide.p99Ms > 0 ? round(onSide.p99Ms / offSide.p99Ms, 3) : 0;
        const cpuRatio =
          onSide.cpuUsPerRequest !== undefined && offSide.cpuUsPerRequest
            ? round(onSide.cpuUsPerRequest / offSide.cpuUsPerRequest, 3)
            : undefined;
        return {
          rounds: locationRounds,
          order: 'ABBA (off, on; on, off; ...)',
          perRound,
          noise,
          ...(cpuDifference ? { cpuDifference } : {}),
          ...(inProcess ? { inProcess } : {}),
          locations: LOCATIONS,
          sanity,
          off: offSide,
          on: onSide,
          ratio,
          p99Ratio,
          ...(cpuRatio === undefined ? {} : { cpuRatio }),
          ...(creds.decision ? { decision: creds.decision } : {}),
          targets: [
            {
              what: 'rules on/off',
              value: ratio,
              limit: `>= ${TARGETS.locationRulesRatio.toFixed(2)}`,
              pass: ratio >= TARGETS.locationRulesRatio,
            },
            {
              what: 'p99 rules on',
              value: onSide.p99Ms,
              limit: `< ${TARGETS.p99Ms} ms`,
              pass: onSide.p99Ms < TARGETS.p99Ms,
            },
          ],
        };
      }
    } catch (e) {
      failure = e instanceof Error ? e.message : String(e);
      if (server) failure += `\nlast server output:\n${server.output() || '(none)'}`;
    } finally {
      await server?.stop();
      if (!failure || run.phases.length > 0) {
        try {
          run.signInLog = await signInLog(storeEnv(dataDir, db?.url ?? ''));
        } catch (e) {
          note(`${store}: could not read the sign-in log: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      if (!keep) {
        await db?.drop().catch((e: unknown) => note(`could not drop ${db?.name}: ${String(e)}`));
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    }
    if (failure) break;
  }

  const rows = runs.flatMap((r) => r.phases);
  const verdicts = [
    ...rows.flatMap((r) => r.targets.map((t) => ({ store: r.store, endpoint: r.endpoint, ...t }))),
    ...runs.flatMap((r) =>
      (r.locationRules?.targets ?? []).map((t) => ({
        store: r.store,
        endpoint: 'GET /auth/basic, rules on/off',
        ...t,
      })),
    ),
  ];
  if (!json || failure) {
    console.log(table(rows));
    console.log('');
  }
  if (!json) {
    for (const r of rows) {
      if (r.signIns) {
        const s = r.signIns;
        console.log(
          `${r.store} ${r.endpoint}: ${s.created} browser sign-ins answered 201 (${s.achievedPerSecond}/s of ${s.ratePerSecond}/s asked), ` +
            `their latency p50 ${s.latencyP50Ms} ms, p99 ${s.latencyP99Ms} ms, max ${s.latencyMaxMs} ms`,
        );
      }
    }
    for (const r of runs) {
      const l = r.locationRules;
      if (!l) continue;
      console.log(
        `${r.store} location rules (${l.locations} locations, ${l.rounds} rounds of each, medians): ` +
          `off ${l.off.rps} req/s p99 ${l.off.p99Ms} ms ${l.off.cpuUsPerRequest ?? '-'} µs CPU/req; ` +
          `on ${l.on.rps} req/s p99 ${l.on.p99Ms} ms ${l.on.cpuUsPerRequest ?? '-'} µs CPU/req; ` +
          `on/off ${l.ratio} (req/s), ${l.p99Ratio} (p99), ${l.cpuRatio ?? '-'} (CPU per request); ` +
          l.targets.map((t) => `${t.what} ${t.limit} ${t.pass ? 'PASS' : 'FAIL'}`).join(', '),
      );
      if (l.decision)
        console.log(
          `${r.store} one location decision (pin and rule, compiled once, ${l.decision.iterations} in a loop): ` +
            Object.entries(l.decision.usPerDecision)
              .map(([ip, us]) => `${us} µs from ${ip} (${l.decision!.allowed[ip] ? 'allowed' : 'refused'})`)
              .join(', '),
        );
      console.log(
        `${r.store} location rules per round (${l.order}): ` +
          l.perRound
            .map(
              (p, i) =>
                `${i + 1}: off ${p.off.rps}/s ${p.off.cpuUsPerRequest ?? '-'} µs, on ${p.on.rps}/s ${p.on.cpuUsPerRequest ?? '-'} µs`,
            )
            .join('; ') +
          `; spread among one side's rounds (max-min)/median: req/s off ${l.noise.offRps ?? '-'} on ${l.noise.onRps ?? '-'}, CPU off ${l.noise.offCpu ?? '-'} on ${l.noise.onCpu ?? '-'}`,
      );
      const v = l.inProcess;
      if (v)
        console.log(
          `${r.store} location rules, the whole verification in-process (no HTTP, ${v.blocks} ABBA blocks of 4,000 each side): ` +
            `off ${v.offUsPerVerification} µs, on ${v.onUsPerVerification} µs CPU per verification` +
            (v.difference
              ? `; on less off ${v.difference.meanUs >= 0 ? '+' : ''}${v.difference.meanUs} µs (95 % interval ${v.difference.lowUs} .. ${v.difference.highUs} µs, ${(v.difference.low * 100).toFixed(1)} .. ${(v.difference.high * 100).toFixed(1)} %): ${v.difference.measurable ? 'MEASURABLE' : 'not measurable (the interval holds 0)'}`
              : ''),
        );
      const d = l.cpuDifference;
      if (d)
        console.log(
          `${r.store} location rules, CPU per request on less off, paired by round: ${d.meanUs >= 0 ? '+' : ''}${d.meanUs} µs ` +
            `(95 % interval ${d.lowUs} .. ${d.highUs} µs, ${(d.low * 100).toFixed(1)} .. ${(d.high * 100).toFixed(1)} % of off): ` +
            (d.measurable ? 'MEASURABLE' : 'not measurable (the interval holds 0)'),
        );
      console.log(`${r.store} location rules sanity: ${l.sanity.map((c) => `${c.what}: ${c.got}`).join('; ')}`);
    }
    console.log(
      `targets: ${verdicts.filter((v) => v.pass).length} of ${verdicts.length} PASS (ratio = req/s / baseline req/s of the same server run)`,
    );
    console.log(
      `machine load average (1 min) at each phase's start: ${rows.map((r) => r.load1).join(', ')} (${cores} cores)`,
    );
    for (const r of runs)
      console.log(
        `${r.store}: data folder ${r.dataDir}${r.database ? `, database ${r.database}` : ''}${r.kept ? ' (kept)' : ' (removed)'}`,
      );
  }
  if (failure) console.error(`bench: FAILED: ${failure}`);
  if (json) {
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
        users,
        signInRate,
        locationRounds,
        targets: TARGETS,
        runs,
        verdicts,
        allPass: verdicts.every((v) => v.pass),
      }),
    );
  }
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
