/**
 * Sign-in benchmark: does password hashing keep the event loop free?
 *
 * What it measures, in one process and one run, over real HTTP on loopback against the real
 * application (createContext + buildApp, SQLite in a temporary folder):
 *   1. baseline   GET /healthz, CONCURRENCY requests in flight: requests/s;
 *   2. sign-ins   POST /api/v1/sessions, CONCURRENCY workers each signing in as its own user:
 *                 sign-ins/s (every answer must be 201, else the bench exits non-zero);
 *   3. burst      "a burst of 50 concurrent sign-ins": all fired at once, wall time;
 * and during each phase the event loop's delay (perf_hooks.monitorEventLoopDelay, reset before
 * each phase): its worst value and its 99th percentile.
 *
 * Why: a sign-in costs one Argon2id verification (ARGON2_PARAMS, OWASP's minimum), which is
 * deliberately slow. PasswordHasher uses @node-rs/argon2's async API, which runs the hash on
 * libuv's thread pool, so hashing itself never blocks the event loop: per hash, the loop's worst
 * delay should stay small (a few ms). The synchronous API would block it for every hash (13-23 ms
 * each in shared/design's measurement; 8-15 ms on a quiet 2-core VM when this bench was
 * written), so 50 sign-ins arriving together would freeze the loop for the whole burst,
 * hundreds of ms. Sign-ins/s are bounded by the cores and the thread pool (UV_THREADPOOL_SIZE,
 * default 4), not by the loop.
 *
 * What still delays the loop with the async API is each request's synchronous work: Fastify,
 * better-sqlite3 (every query runs on the loop: about ten statements per sign-in) and this
 * in-process client, roughly 1 ms per sign-in on a small VM. Requests that arrive together are
 * handled in one turn of the loop, so a burst of 50 stalls it some tens of ms even with a no-op
 * hasher, and more when the hashing threads compete with it for few cores. Hence the burst line:
 * the share of the burst's wall time spent in its single worst stall. Async: well below 1, the
 * loop keeps turning while the hashes run. Sync: about 1, the burst is one long stall.
 *
 * Machines here are noisy (+-40 %): read the ratio sign-ins/s / baseline req/s and the event
 * loop delays, not absolute numbers. The client runs in the same process, so its work shows in
 * the delays too (in every phase alike).
 *
 * Run: `npm run bench`, or `npx tsc -p . && node dist/bench/signin.js`.
 * Knobs: BENCH_SIGNINS (default 300), BENCH_BASELINE (default 2000); BENCH_JSON=1 prints the
 * results as one JSON object on the last line (test/bench/signin-bench.test.ts reads it).
 *
 * The delays reported are the histogram's values minus its 10 ms sampling interval, i.e. how
 * late the loop was beyond the timer's due time (an idle loop reports about 0).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import { createContext, type AppContext } from '../src/app/context.js';
import { loadConfig } from '../src/config/config.js';
import { OPERATOR } from '../src/domain/accounts/actor.js';
import { buildApp } from '../src/app/server.js';
import { ARGON2_PARAMS } from '../src/lib/crypto/password-hasher.js';
import { request as httpRequest, round, type Reply } from './wrk.js';

const CONCURRENCY = 50;
const USERS = CONCURRENCY;
const BURST = 50;
const DOMAIN = 'bench.test';
const PASSWORD = 'copper-orchid-lantern-58';
const RESOLUTION_MS = 10;

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1)
    throw new Error(`${name}=${JSON.stringify(raw)} must be a whole number of at least 1`);
  return Number(raw);
}

interface LoopDelay {
  maxMs: number;
  p99Ms: number;
  meanMs: number;
  samples: number;
}

interface PhaseResult {
  name: string;
  requests: number;
  ok: number;
  failed: number;
  wallMs: number;
  perSecond: number;
  latencyP50Ms: number;
  latencyMaxMs: number;
  eventLoop: LoopDelay;
}

const nsToDelayMs = (ns: number) => round(Math.max(0, ns / 1e6 - RESOLUTION_MS));

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
}

function loopDelay(h: IntervalHistogram): LoopDelay {
  return {
    maxMs: nsToDelayMs(h.max),
    p99Ms: nsToDelayMs(h.percentile(99)),
    meanMs: nsToDelayMs(h.mean),
    samples: h.count,
  };
}

/** A tiny HTTP client on a keep-alive agent: one request, the whole answer. */
function makeClient(port: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Math.max(CONCURRENCY, BURST) });
  const request = (method: string, urlPath: string, json?: unknown): Promise<Reply> =>
    json === undefined
      ? httpRequest(agent, port, method, urlPath)
      : httpRequest(agent, port, method, urlPath, { 'content-type': 'application/json' }, JSON.stringify(json));
  return { request, close: () => agent.destroy() };
}

/**
 * Runs `total` requests with `workers` in flight (each worker sends its next request when its
 * previous one is answered) and records the event loop's delay meanwhile. Stops early, and
 * reports it, at the first answer that is not `expected`.
 */
async function phase(
  name: string,
  total: number,
  workers: number,
  expected: number,
  send: (worker: number) => Promise<Reply>,
  h: IntervalHistogram,
): Promise<PhaseResult & { firstFailure?: string }> {
  let next = 0;
  let ok = 0;
  let failed = 0;
  let firstFailure: string | undefined;
  const latencies: number[] = [];
  // Start from a clean histogram. reset() also forgets when the monitor's timer last fired, so a
  // stall before its next tick would go unrecorded: let it tick twice before the phase starts.
  h.reset();
  await sleep(2 * RESOLUTION_MS);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(workers, total) }, async (_, w) => {
      while (next < total && firstFailure === undefined) {
        next++;
        const s = performance.now();
        let r: Reply;
        try {
          r = await send(w);
        } catch (e) {
          r = { status: 0, body: String(e) };
        }
        latencies.push(performance.now() - s);
        if (r.status === expected) ok++;
        else {
          failed++;
          firstFailure ??= `worker ${w}: HTTP ${r.status} ${r.body.slice(0, 300)}`;
        }
      }
    }),
  );
  const wallMs = performance.now() - t0;
  // The monitor's timer records a stall only when it next fires: give it the chance.
  await sleep(2 * RESOLUTION_MS);
  const eventLoop = loopDelay(h);
  latencies.sort((a, b) => a - b);
  return {
    name,
    requests: ok + failed,
    ok,
    failed,
    wallMs: round(wallMs, 1),
    perSecond: round((ok / wallMs) * 1000, 1),
    latencyP50Ms: round(quantile(latencies, 0.5), 1),
    latencyMaxMs: round(quantile(latencies, 1), 1),
    eventLoop,
    ...(firstFailure === undefined ? {} : { firstFailure }),
  };
}

function table(rows: PhaseResult[]): string {
  const head = [
    'phase',
    'requests',
    'ok',
    'wall ms',
    'per s',
    'lat p50 ms',
    'lat max ms',
    'loop max ms',
    'loop p99 ms',
  ];
  const body = rows.map((r) =>
    [
      r.name,
      r.requests,
      r.ok,
      r.wallMs,
      r.perSecond,
      r.latencyP50Ms,
      r.latencyMaxMs,
      r.eventLoop.maxMs,
      r.eventLoop.p99Ms,
    ].map(String),
  );
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** The share of a phase's wall time spent in its single worst event-loop stall (0..1). */
function stallShare(r: PhaseResult): number {
  return r.wallMs > 0 ? Math.min(1, r.eventLoop.maxMs / r.wallMs) : 0;
}

const ALGORITHMS = ['argon2d', 'argon2i', 'argon2id'];

async function main(): Promise<number> {
  const signIns = positiveInt('BENCH_SIGNINS', 300);
  const baselineCount = positiveInt('BENCH_BASELINE', 2000);
  const json = process.env.BENCH_JSON === '1';

  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const threadPool = process.env.UV_THREADPOOL_SIZE ? `${process.env.UV_THREADPOOL_SIZE}` : '4 (default)';
  const argon2 = {
    algorithm: ALGORITHMS[ARGON2_PARAMS.algorithm] ?? String(ARGON2_PARAMS.algorithm),
    memoryCostKiB: ARGON2_PARAMS.memoryCost,
    timeCost: ARGON2_PARAMS.timeCost,
    parallelism: ARGON2_PARAMS.parallelism,
  };

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-bench-'));
  let ctx: AppContext | undefined;
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  let client: ReturnType<typeof makeClient> | undefined;
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  const results: PhaseResult[] = [];
  let failure: string | undefined;
  try {
    // Setup (not measured): the real context on SQLite, one organization, USERS users.
    // The bench measures throughput and event-loop stalls with every sign-in answered, so its
    // bursts wait for Argon2 as long as it takes; the queue's refusal beyond the maximum wait
    // (SESAME_ARGON2_MAX_WAIT_MS) is tested in test/security/argon2-queue.test.ts.
    ctx = await createContext(
      loadConfig(
        { SESAME_DATA_DIR: tmp, LOG_LEVEL: 'silent' },
        // One client IP measures the server's capacity: the per-IP rate of password checks
        // (SESAME_IP_PASSWORD_CHECKS_PER_MINUTE, tested in security/smart-lockout.test.ts) is lifted.
        {
          accountFailureLimit: 100,
          ipFailureLimit: 100000,
          argon2MaxWaitMs: 60_000,
          ipPasswordChecksPerMinute: 1_000_000,
        },
      ),
    );
    const c = ctx;
    await c.accounts.addOrganization(OPERATOR, DOMAIN, 'Bench');
    const setupStart = performance.now();
    const users = Array.from({ length: USERS }, (_, i) => `bench${i}@${DOMAIN}`);
    await Promise.all(users.map((address) => c.accounts.addUser(OPERATOR, { address, password: PASSWORD })));
    const setupMs = performance.now() - setupStart;
    app = await buildApp(ctx, { logger: false });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    client = makeClient(port);
    const cl = client;
    const healthz = () => cl.request('GET', '/healthz');
    const signIn = (w: number) =>
      cl.request('POST', '/api/v1/sessions', { email: users[w % USERS], password: PASSWORD });

    if (!json) {
      console.log(`Sesame sign-in bench: Node ${process.version}, ${cores} cores, UV_THREADPOOL_SIZE=${threadPool}`);
      console.log(
        `Argon2 (ARGON2_PARAMS): ${argon2.algorithm} m=${argon2.memoryCostKiB} KiB t=${argon2.timeCost} p=${argon2.parallelism}`,
      );
      console.log(
        `${USERS} users (hashed in ${Math.round(setupMs)} ms, not measured), concurrency ${CONCURRENCY}, http://127.0.0.1:${port}`,
      );
      console.log('');
    }

    h.enable();
    // Warm-up (not reported): JIT, sockets, routes.
    await phase('warm-up healthz', Math.min(200, baselineCount), CONCURRENCY, 200, healthz, h);
    const warm = await phase('warm-up sign-ins', 5, 5, 201, signIn, h);
    if (warm.failed) throw new Error(`warm-up sign-in failed: ${warm.firstFailure}`);

    const phases: [string, number, number, number, (w: number) => Promise<Reply>][] = [
      ['baseline GET /healthz', baselineCount, CONCURRENCY, 200, healthz],
      ['sign-ins POST /api/v1/sessions', signIns, CONCURRENCY, 201, signIn],
      [`burst: ${BURST} sign-ins at once`, BURST, BURST, 201, signIn],
    ];
    for (const [name, total, workers, expected, send] of phases) {
      const { firstFailure, ...r } = await phase(name, total, workers, expected, send, h);
      results.push(r);
      if (firstFailure !== undefined) {
        failure = `${name}: ${r.failed} request(s) did not answer ${expected}; first: ${firstFailure}`;
        break;
      }
    }
  } finally {
    h.disable();
    client?.close();
    await app?.close();
    await ctx?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  const [baseline, sustained, burst] = results;
  const ratio = baseline && sustained ? sustained.perSecond / baseline.perSecond : undefined;
  if (!json || failure) {
    console.log(table(results));
    console.log('');
  }
  if (!json && baseline && sustained && burst && ratio !== undefined) {
    console.log(
      `sign-ins/s / baseline requests/s = ${sustained.perSecond} / ${baseline.perSecond} = ${ratio.toFixed(4)}`,
    );
    console.log(
      `worst event-loop delay: ${sustained.eventLoop.maxMs} ms during sign-ins vs ${baseline.eventLoop.maxMs} ms during baseline ` +
        `(p99 ${sustained.eventLoop.p99Ms} vs ${baseline.eventLoop.p99Ms} ms)`,
    );
    console.log(
      `burst of ${BURST} concurrent sign-ins: ${burst.wallMs} ms wall, worst event-loop delay ${burst.eventLoop.maxMs} ms ` +
        `= ${Math.round(stallShare(burst) * 100)} % of the burst (synchronous hashing would make it ~100 %)`,
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
        uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ? Number(process.env.UV_THREADPOOL_SIZE) : 4,
        argon2,
        users: USERS,
        concurrency: CONCURRENCY,
        eventLoopResolutionMs: RESOLUTION_MS,
        baseline: baseline ?? null,
        signIns: sustained ?? null,
        burst: burst ? { ...burst, stallShare: round(stallShare(burst), 3) } : null,
        ratio: ratio === undefined ? null : round(ratio, 5),
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
