/**
 * Mixed load on PostgreSQL, with one and with two Sesame instances (issue #6 item 7): browser
 * sign-ins, MFA challenges and legacy checks at the same time, each reported as throughput and
 * latency (p50/p99), plus the memory of each instance idle and under load.
 *
 * What runs, for INSTANCES = 1 and then 2 (real servers, `node dist/src/main.js`, on loopback,
 * sharing one fresh PostgreSQL database and their keys through the environment, as a deployment
 * behind a load balancer does):
 *   - legacy checks: wrk (closed loop, 32 connections in all, split over the instances) on
 *     GET /auth/basic with valid app passwords of LEGACY_USERS users;
 *   - browser sign-ins: POST /api/v1/sessions with a main password (MFA off), open loop at
 *     BENCH_SIGNIN_RATE per second (default 10), alternating instances;
 *   - MFA challenges: POST /api/v1/sessions for a user with an authenticator app (200, state
 *     second_factor), then POST /api/v1/flow/verify with a fresh TOTP code on the *other* instance
 *     (201), open loop at BENCH_MFA_RATE per second (default 2). Each MFA user is used once per
 *     run: a TOTP code is accepted once per time step, so reusing a user would measure refusals.
 * Every answer is checked (2xx for wrk; 201 for sign-ins; 200 then 201 for challenges); a run
 * with any failure stops the bench with the first failure.
 * Memory: VmRSS of each instance after start-up (idle) and at the end of the load, and VmHWM (peak).
 *
 * The machine is shared by wrk, the instances, PostgreSQL and this process (2 cores here), so two
 * instances do not get twice the CPU: the figures show what a second instance costs and gives on
 * the same hardware, not horizontal scaling. Run:
 *   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres node dist/bench/mixed-load.js
 * Knobs: BENCH_SECONDS (default 10), BENCH_SIGNIN_RATE, BENCH_MFA_RATE, BENCH_JSON=1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Secret, TOTP } from 'otpauth';
import { createContext } from '../src/app/context.js';
import { loadConfig } from '../src/config/config.js';
import { OPERATOR } from '../src/domain/accounts/actor.js';
import { createDatabase } from './pg.js';
import { failures, freePort, round, runWrk, wrkScript, type WrkReport } from './wrk.js';

const MAIN_JS = fileURLToPath(new URL('../src/main.js', import.meta.url));
const DOMAIN = 'mixed.test';
const PASSWORD = 'copper-orchid-lantern-58';
const LEGACY_USERS = 20;
const WEB_USERS = 10;
const WRK_CONNECTIONS = 32;

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
}

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${raw} must be a number >= 0`);
  return n;
}

interface Instance {
  base: string;
  child: ChildProcess;
  memory(): { rssMb: number; peakMb: number };
  stop(): Promise<void>;
}

function memoryOf(pid: number): { rssMb: number; peakMb: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { rssMb: round(kb('VmRSS') / 1024, 1), peakMb: round(kb('VmHWM') / 1024, 1) };
}

async function startInstance(env: NodeJS.ProcessEnv): Promise<Instance> {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-bench-mixed-'));
  const child = spawn(process.execPath, [MAIN_JS], {
    env: {
      ...env,
      HOST: '127.0.0.1',
      PORT: String(port),
      SESAME_DATA_DIR: dataDir,
      SESAME_DEV_OUTBOX: path.join(dataDir, 'outbox.jsonl'),
      LOG_LEVEL: 'warn',
      SESAME_WORKERS: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  const base = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`an instance exited at start:\n${out}`);
    try {
      if ((await fetch(`${base}/healthz`)).status === 200) break;
    } catch {
      if (i > 150) throw new Error(`an instance did not start:\n${out}`);
    }
    await sleep(100);
  }
  return {
    base,
    child,
    memory: () => memoryOf(child.pid!),
    async stop() {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function json(base: string, method: string, url: string, body?: object, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

/** Registers an authenticator app for `address` through the JSON API (as a user would); returns its secret. */
async function registerTotp(base: string, address: string): Promise<string> {
  const start = await json(base, 'POST', '/api/v1/sessions', { email: address, password: PASSWORD });
  const flow = { 'x-sesame-flow': start.body.token as string };
  await json(base, 'POST', '/api/v1/flow/setup', {}, flow);
  const secret = (
    (await json(base, 'POST', '/api/v1/flow/method', { kind: 'totp' }, flow)).body.prompt as { secret: string }
  ).secret;
  const totp = new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' });
  const v = await json(base, 'POST', '/api/v1/flow/verify', { code: totp.generate() }, flow);
  if (v.body.state !== 'enrolled') throw new Error(`TOTP registration for ${address}: ${JSON.stringify(v.body)}`);
  await json(base, 'POST', '/api/v1/flow/next', {}, flow);
  await json(base, 'POST', '/api/v1/flow/next', {}, flow);
  const done = await json(base, 'POST', '/api/v1/flow/done', {}, flow);
  if (done.status !== 201) throw new Error(`TOTP registration for ${address}: ${JSON.stringify(done.body)}`);
  return secret;
}

interface KindResult {
  sent: number;
  completed: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  firstFailure?: string;
}

/** Starts `job` every 1/rate seconds until `seconds` have passed (open loop); collects latencies. */
async function openLoop(rate: number, seconds: number, job: (n: number) => Promise<void>): Promise<KindResult> {
  const latencies: number[] = [];
  let firstFailure: string | undefined;
  let sent = 0;
  const pending: Promise<void>[] = [];
  if (rate > 0) {
    const t0 = performance.now();
    for (let n = 0; performance.now() - t0 < seconds * 1000; n++) {
      const due = t0 + (n * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      sent++;
      const start = performance.now();
      pending.push(
        job(n).then(
          () => void latencies.push(performance.now() - start),
          (e: unknown) => void (firstFailure ??= e instanceof Error ? e.message : String(e)),
        ),
      );
    }
  }
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  return {
    sent,
    completed: latencies.length,
    perSecond: round(latencies.length / seconds, 1),
    p50Ms: round(quantile(latencies, 0.5), 1),
    p99Ms: round(quantile(latencies, 0.99), 1),
    ...(firstFailure ? { firstFailure } : {}),
  };
}

interface RunResult {
  instances: number;
  legacy: { rps: number; p50Ms: number; p99Ms: number; requests: number }[];
  signIns: KindResult;
  mfa: KindResult;
  memory: { idle: { rssMb: number; peakMb: number }; loaded: { rssMb: number; peakMb: number } }[];
}

async function main() {
  const seconds = envNumber('BENCH_SECONDS', 10);
  const signInRate = envNumber('BENCH_SIGNIN_RATE', 10);
  const mfaRate = envNumber('BENCH_MFA_RATE', 2);
  const asJson = process.env.BENCH_JSON === '1';
  const admin = process.env.BENCH_PG_URL || process.env.SESAME_TEST_PG_URL;
  if (!admin)
    throw new Error(
      'set BENCH_PG_URL (or SESAME_TEST_PG_URL): postgres://user@host:port/db of a cluster to create the bench database in',
    );
  const mfaPerRun = Math.ceil(mfaRate * seconds) + 2;
  const db = await createDatabase(admin);
  const keys = {
    SESAME_HASH_KEY: randomBytes(32).toString('base64'),
    SESAME_COOKIE_KEY: randomBytes(32).toString('base64'),
    SESAME_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  };
  const setupDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-bench-mixed-setup-'));
  const baseEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ...keys,
    DATABASE_URL: db.url,
    SESAME_MODE: 'development',
    SESAME_ACCOUNT_FAILURE_LIMIT: '100',
    SESAME_IP_FAILURE_LIMIT: '100000',
    // Every sign-in must be answered for the numbers to mean anything: Argon2 waits as long as it
    // takes (the refusal beyond the maximum wait is tested in test/security/argon2-queue.test.ts).
    SESAME_ARGON2_MAX_WAIT_MS: '60000',
    // One client IP measures the server's capacity: the per-IP rate of password checks is lifted
    // (it is tested in test/security/smart-lockout.test.ts and probes-lockout.test.ts).
    SESAME_IP_PASSWORD_CHECKS_PER_MINUTE: '1000000',
  };
  const instances: Instance[] = [];
  const runs: RunResult[] = [];
  try {
    // Users: legacy (app passwords), web (password only), MFA (an authenticator app each, used once per run).
    const ctx = await createContext(
      loadConfig({ ...keys, SESAME_DATA_DIR: setupDir, DATABASE_URL: db.url, LOG_LEVEL: 'silent' }),
      {
        secrets: {
          hashKey: Buffer.from(keys.SESAME_HASH_KEY, 'base64'),
          cookieKey: Buffer.from(keys.SESAME_COOKIE_KEY, 'base64'),
          encryptionKey: Buffer.from(keys.SESAME_ENCRYPTION_KEY, 'base64'),
        },
      },
    );
    const legacy: { address: string; password: string }[] = [];
    const web: string[] = [];
    const mfaAddresses: string[] = [];
    try {
      await ctx.accounts.addOrganization(OPERATOR, DOMAIN, 'Mixed');
      for (let i = 0; i < LEGACY_USERS; i++) {
        const address = `legacy${i}@${DOMAIN}`;
        await ctx.accounts.addUser(OPERATOR, { address, name: `Legacy ${i}`, password: PASSWORD, role: 'user' });
        await ctx.mfaAdmin.setUserState(OPERATOR, address, 'enforced');
        const user = (await ctx.accounts.findUserByAddressOrNull(address))!;
        const s = (
          await ctx.sessions.start(user.id, ['pwd', 'otp'], { ip: '127.0.0.1', userAgent: 'bench setup' }, Date.now())
        ).session;
        legacy.push({
          address,
          password: (await ctx.appPasswords.create(user, s, 'Phone', { ip: '127.0.0.1', locale: 'en' })).password,
        });
      }
      for (let i = 0; i < WEB_USERS; i++) {
        const address = `web${i}@${DOMAIN}`;
        await ctx.accounts.addUser(OPERATOR, { address, name: `Web ${i}`, password: PASSWORD, role: 'user' });
        web.push(address);
      }
      for (let i = 0; i < mfaPerRun * 2; i++) {
        const address = `mfa${i}@${DOMAIN}`;
        await ctx.accounts.addUser(OPERATOR, { address, name: `Mfa ${i}`, password: PASSWORD, role: 'user' });
        await ctx.mfaAdmin.setUserState(OPERATOR, address, 'enabled');
        mfaAddresses.push(address);
      }
    } finally {
      await ctx.close();
    }
    // Authenticator apps are registered through the API of a first instance, as users do.
    const first = await startInstance(baseEnv);
    instances.push(first);
    const secrets = new Map<string, TOTP>();
    for (const address of mfaAddresses)
      secrets.set(
        address,
        new TOTP({
          secret: Secret.fromBase32(await registerTotp(first.base, address)),
          digits: 6,
          period: 30,
          algorithm: 'SHA1',
        }),
      );

    const basic = (u: { address: string; password: string }) =>
      `Basic ${Buffer.from(`${u.address}:${u.password}`).toString('base64')}`;
    const scripts = new Map<number, string>();
    for (const n of [1, 2]) {
      const f = path.join(setupDir, `wrk-basic-${n}.lua`);
      fs.writeFileSync(
        f,
        wrkScript(
          'GET',
          '/auth/basic',
          legacy.map((u) => ({ headers: { Authorization: basic(u) } })),
          WRK_CONNECTIONS / n,
        ),
        { mode: 0o600 },
      );
      scripts.set(n, f);
    }

    for (const n of [1, 2]) {
      while (instances.length < n) instances.push(await startInstance(baseEnv));
      const active = instances.slice(0, n);
      await sleep(1000);
      const idle = active.map((i) => i.memory());
      const mfaUsers = mfaAddresses.slice((n - 1) * mfaPerRun, n * mfaPerRun);
      if (!asJson) console.error(`mixed: ${n} instance(s), ${seconds} s`);
      const [legacyReports, signIns, mfa] = await Promise.all([
        // wrk's 32 connections split over the instances (one wrk each); runWrk holds first requests for 1 s.
        Promise.all(
          active.map((i) =>
            runWrk(`${i.base}/auth/basic`, seconds, scripts.get(n)!, { connections: WRK_CONNECTIONS / n, threads: 1 }),
          ),
        ),
        openLoop(signInRate, seconds, async (k) => {
          const r = await json(active[k % n]!.base, 'POST', '/api/v1/sessions', {
            email: web[k % web.length],
            password: PASSWORD,
          });
          if (r.status !== 201) throw new Error(`sign-in answered ${r.status} ${JSON.stringify(r.body)}`);
        }),
        openLoop(mfaRate, seconds, async (k) => {
          const address = mfaUsers[k];
          if (!address) throw new Error('ran out of MFA users');
          const start = await json(active[k % n]!.base, 'POST', '/api/v1/sessions', {
            email: address,
            password: PASSWORD,
          });
          if (start.status !== 200 || start.body.state !== 'second_factor')
            throw new Error(`MFA sign-in answered ${start.status} ${JSON.stringify(start.body)}`);
          // The code for the next time step: the registration used the current one, and a code is good once.
          const code = secrets.get(address)!.generate({ timestamp: Date.now() + 30_000 });
          const done = await json(
            active[(k + 1) % n]!.base,
            'POST',
            '/api/v1/flow/verify',
            { code },
            { 'x-sesame-flow': start.body.token as string },
          );
          if (done.status !== 201) throw new Error(`MFA verify answered ${done.status} ${JSON.stringify(done.body)}`);
        }),
      ]);
      const loaded = active.map((i) => i.memory());
      for (const r of legacyReports) {
        const bad = failures(r);
        if (bad) throw new Error(`legacy checks with ${n} instance(s): ${bad}`);
      }
      for (const [what, r] of [
        ['browser sign-ins', signIns],
        ['MFA challenges', mfa],
      ] as const) {
        if (r.firstFailure)
          throw new Error(
            `${what} with ${n} instance(s): ${r.completed} of ${r.sent} completed; first failure: ${r.firstFailure}`,
          );
      }
      runs.push({
        instances: n,
        legacy: legacyReports.map((r: WrkReport) => ({
          rps: r.rps,
          p50Ms: r.latency.p50Ms,
          p99Ms: r.latency.p99Ms,
          requests: r.requests,
        })),
        signIns,
        mfa,
        memory: active.map((_, i) => ({ idle: idle[i]!, loaded: loaded[i]! })),
      });
    }
  } finally {
    for (const i of instances) await i.stop();
    fs.rmSync(setupDir, { recursive: true, force: true });
    await db.drop().catch(() => undefined);
  }
  if (asJson) {
    console.log(JSON.stringify({ seconds, signInRate, mfaRate, wrkConnections: WRK_CONNECTIONS, runs }));
    return;
  }
  console.log(
    `Mixed load on PostgreSQL, ${seconds} s per run, Node ${process.version}, ${os.availableParallelism()} cores`,
  );
  console.log('instances  kind                        per s   p50 ms   p99 ms');
  for (const r of runs) {
    const legacyRps = round(
      r.legacy.reduce((a, l) => a + l.rps, 0),
      1,
    );
    const legacyP99 = Math.max(...r.legacy.map((l) => l.p99Ms));
    const legacyP50 = Math.max(...r.legacy.map((l) => l.p50Ms));
    console.log(
      `${String(r.instances).padEnd(10)} legacy checks (/auth/basic) ${String(legacyRps).padStart(7)} ${String(legacyP50).padStart(8)} ${String(legacyP99).padStart(8)}`,
    );
    console.log(
      `${''.padEnd(10)} browser sign-ins            ${String(r.signIns.perSecond).padStart(7)} ${String(r.signIns.p50Ms).padStart(8)} ${String(r.signIns.p99Ms).padStart(8)}`,
    );
    console.log(
      `${''.padEnd(10)} MFA challenges (2 requests) ${String(r.mfa.perSecond).padStart(7)} ${String(r.mfa.p50Ms).padStart(8)} ${String(r.mfa.p99Ms).padStart(8)}`,
    );
    for (const [i, m] of r.memory.entries())
      console.log(
        `${''.padEnd(10)} memory of instance ${i + 1}: ${m.idle.rssMb} MB idle, ${m.loaded.rssMb} MB under load (peak ${m.loaded.peakMb} MB)`,
      );
  }
}

await main();
