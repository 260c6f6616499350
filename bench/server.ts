/**
 * What the benches that drive the real server share: its configuration for a data folder and a
 * store, starting and stopping it (`node dist/src/main.js` as a child process), its CPU time from
 * /proc, browser sign-ins at a fixed rate beside a measurement, and the sign-in log read after.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { freePort, request, round } from './wrk.js';
import { createContext } from '../src/app/context.js';
import { loadConfig } from '../src/config/config.js';
import type { AppContext } from '../src/app/context.js';
import type { User } from '../src/domain/accounts/model.js';
import type { PinInput } from '../src/domain/app-passwords/service.js';

/** The main password of the bench's browser users (MFA off: a right password is a whole sign-in). */
export const WEB_PASSWORD = 'copper-orchid-lantern-58';
export const ACCOUNT_FAILURE_LIMIT = 100; // the highest SESAME_ACCOUNT_FAILURE_LIMIT allows
export const IP_FAILURE_LIMIT = 100_000; // the highest SESAME_IP_FAILURE_LIMIT allows
export const MAIN_JS = fileURLToPath(new URL('../src/main.js', import.meta.url));
export type StoreKind = 'sqlite' | 'postgres';

export function wholeNumber(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min)
    throw new Error(`${name}=${JSON.stringify(raw)} must be a whole number of at least ${min}`);
  return Number(raw);
}

/**
 * CPU seconds the process has used so far, all its threads (utime + stime of /proc/<pid>/stat, in
 * ticks of 1/100 s); undefined where /proc is not there. Per answered request, it is the figure
 * other work on a shared machine moves least: req/s and latency move with every neighbour.
 */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return undefined;
  }
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
}
/** The configuration the setup and the server share: the same folder (secrets, SQLite, outbox) and store. */
export function storeEnv(dataDir: string, databaseUrl: string): Record<string, string> {
  return {
    SESAME_DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    SESAME_MODE: 'development',
    SESAME_ACCOUNT_FAILURE_LIMIT: String(ACCOUNT_FAILURE_LIMIT),
    SESAME_IP_FAILURE_LIMIT: String(IP_FAILURE_LIMIT),
    // Every sign-in must be answered for the numbers to mean anything: Argon2 waits as long as it
    // takes (the refusal beyond the maximum wait is tested in test/security/argon2-queue.test.ts).
    SESAME_ARGON2_MAX_WAIT_MS: '60000',
    // One client IP measures the server's capacity: the per-IP rate of password checks is lifted
    // (it is tested in test/security/smart-lockout.test.ts and probes-lockout.test.ts).
    SESAME_IP_PASSWORD_CHECKS_PER_MINUTE: '1000000',
  };
}
export interface LogCount {
  protocol: string;
  outcome: string;
  reason: string;
  n: number;
}

/** Rows of the sign-in log by protocol, outcome and reason, read with the project's code after the server stopped. */
export async function signInLog(env: Record<string, string>): Promise<LogCount[]> {
  const ctx = await createContext(loadConfig({ ...env, LOG_LEVEL: 'silent' }), { migrate: false });
  try {
    const rows = await ctx.store.db
      .selectFrom('sign_in_events')
      .select(['protocol', 'outcome', 'reason', sql<number>`count(*)`.as('n')])
      .groupBy(['protocol', 'outcome', 'reason'])
      .orderBy('protocol')
      .orderBy('outcome')
      .orderBy('reason')
      .execute();
    return rows.map((r) => ({ protocol: r.protocol, outcome: r.outcome, reason: r.reason, n: Number(r.n) }));
  } finally {
    await ctx.close();
  }
}

export interface Server {
  port: number;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `node dist/src/main.js` on a free port of 127.0.0.1 with `env` (and nothing inherited from
 * a SESAME_* environment) and waits for /healthz. One serving process unless `workers` says more
 * (SESAME_WORKERS): the benches' CPU figures are then one process's.
 */
export async function startServer(
  env: Record<string, string>,
  cpuProfDir: string | undefined,
  workers = 1,
): Promise<Server> {
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = {};
  // The server's configuration is ours alone: nothing inherited from a SESAME_* environment.
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('SESAME_') && !['DATABASE_URL', 'HOST', 'PORT', 'LOG_LEVEL', 'NODE_TEST_CONTEXT'].includes(k))
      childEnv[k] = v;
  }
  Object.assign(childEnv, env, {
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'warn',
    SESAME_WORKERS: String(workers),
  });
  const args = [...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : []), MAIN_JS];
  const child = spawn(process.execPath, args, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (c: Buffer) => {
    out = (out + c.toString('utf8')).slice(-8000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited: number | string | null | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = code ?? signal;
      resolve();
    }),
  );
  const agent = new http.Agent({ keepAlive: false });
  const t0 = performance.now();
  for (;;) {
    if (exited !== undefined) throw new Error(`the server exited (${exited}) before answering /healthz:\n${out}`);
    if (performance.now() - t0 > 30_000) {
      child.kill('SIGKILL');
      throw new Error(`the server did not answer /healthz within 30 s:\n${out}`);
    }
    try {
      if ((await request(agent, port, 'GET', '/healthz')).status === 200) break;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  agent.destroy();
  return {
    port,
    child,
    output: () => out,
    async stop() {
      if (exited !== undefined) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exit;
      clearTimeout(killer);
    },
  };
}
export interface SignInLoopResult {
  ratePerSecond: number;
  sent: number;
  created: number;
  failed: number;
  achievedPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  firstFailure?: string;
}

/**
 * Browser sign-ins at a fixed rate (open loop: one started every 1/rate s, answered or not) until
 * stop() is called; every answer must be 201.
 */
export function signInLoop(port: number, users: string[], rate: number, password = WEB_PASSWORD) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const latencies: number[] = [];
  const pending = new Set<Promise<void>>();
  let sent = 0;
  let created = 0;
  let failed = 0;
  let firstFailure: string | undefined;
  const t0 = performance.now();
  const fire = () => {
    const email = users[sent % users.length]!;
    sent++;
    const s = performance.now();
    const p = request(
      agent,
      port,
      'POST',
      '/api/v1/sessions',
      { 'content-type': 'application/json' },
      JSON.stringify({ email, password }),
    )
      .then(
        (r) => {
          latencies.push(performance.now() - s);
          if (r.status === 201) created++;
          else {
            failed++;
            firstFailure ??= `HTTP ${r.status} ${r.body.slice(0, 300)}`;
          }
        },
        (e: unknown) => {
          failed++;
          firstFailure ??= String(e);
        },
      )
      .finally(() => pending.delete(p));
    pending.add(p);
  };
  // Scheduled against the clock, not by a fixed interval, so timer lateness does not lower the rate.
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const due = t0 + (sent * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      if (!stopped) fire();
    }
  })();
  return {
    async stop(): Promise<SignInLoopResult> {
      stopped = true;
      const wallMs = performance.now() - t0;
      await loop;
      await Promise.all([...pending]);
      agent.destroy();
      latencies.sort((a, b) => a - b);
      return {
        ratePerSecond: rate,
        sent,
        created,
        failed,
        achievedPerSecond: round((created / wallMs) * 1000, 1),
        latencyP50Ms: round(quantile(latencies, 0.5), 1),
        latencyP99Ms: round(quantile(latencies, 0.99), 1),
        latencyMaxMs: round(quantile(latencies, 1), 1),
        ...(firstFailure === undefined ? {} : { firstFailure }),
      };
    },
  };
}
export const median = (xs: number[]) =>
  quantile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );

/**
 * A mail client's app password for `user`, made as Security info makes one after a fresh sign-in
 * with both factors (the benches' users have no main password: hashing one each would only slow
 * the setup down).
 */
export async function benchAppPassword(
  ctx: AppContext,
  user: User,
  protocols?: string[],
  pin?: PinInput,
): Promise<{ address: string; appPassword: string }> {
  const { session } = await ctx.sessions.start(
    user.id,
    ['pwd', 'otp'],
    { ip: '127.0.0.1', userAgent: 'bench setup' },
    Date.now(),
  );
  const { password } = await ctx.appPasswords.create(
    user,
    session,
    'Bench mail client',
    { ip: '127.0.0.1', locale: 'en' },
    protocols,
    pin,
  );
  return { address: user.address, appPassword: password };
}
