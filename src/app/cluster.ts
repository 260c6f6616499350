/**
 * Several workers (SESAME_WORKERS > 1, issue #21 item 2): a primary process that does not serve
 * starts that many workers with node:cluster, each running serve.ts on the same ports (the primary
 * holds the listening sockets and hands connections out in turn) and the same store.
 *
 * The primary, before any worker starts: reads or generates the server secrets (so that workers
 * never race to write secrets.json) and runs the store's migrations once (workers skip them), and
 * asks whether the store has users (then it prints the first-admin hint itself, once, before any
 * worker answers).
 * Afterwards: restarts a worker that dies (after 1 s, doubling up to 30 s while replacements keep
 * dying young), stops them all on SIGTERM/SIGINT and exits 0 once each has flushed its batched
 * writes and exited. A worker that fails while the server starts (a bad setting, a port in use)
 * stops the start, with that worker's exit code.
 *
 * What must happen once runs in one worker only: the background jobs go to worker 0, and to its
 * replacement if it dies. Metrics are summed at scrape: the worker that is scraped asks the primary,
 * which asks every worker for its snapshot and hands them all back (`askAll`); the same way, a
worker about to read the sign-in log first has the others write the rows they still hold.
 * docs/architecture.md ("Several workers") lists what else is per process and why it stays correct.
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import pino from 'pino';
import type { Config } from '../config/config.js';
import { loadSecrets } from '../config/secrets.js';
import type { MetricsSnapshot } from '../adapters/metrics.js';
import type { AppContext } from './context.js';
import { systemClock } from '../domain/clock.js';
import { KyselyAccountRepository } from '../storage/account-repository.js';
import { openStore } from '../storage/db.js';
import { migrateToLatest } from '../storage/migrator.js';
import { securePrivateData } from '../storage/private-files.js';
import { firstAdminHint } from './first-admin-hint.js';

/** Set by the primary in each worker's environment: its slot (0 .. workers-1); slot 0 runs the background jobs. */
const SLOT_ENV = 'SESAME_CLUSTER_SLOT';
/** Set for the first worker of slot 0 when the store had no users at start: it prints the first-admin hint. */
const HINT_ENV = 'SESAME_CLUSTER_HINT';

/** How long the primary waits for the workers' snapshots before answering with those it has. */
const GATHER_TIMEOUT_MS = 5_000;
/**
 * How long the workers get to stop (each closes its connections within 10 s, then flushes): under
 * systemd's TimeoutStopSec=30 of docs/deploy.md, so that the primary still says which it killed.
 */
const STOP_TIMEOUT_MS = 25_000;

/**
 * What one worker asks of all the others, through the primary: their metrics (`metrics`, a
 * snapshot each, the asker's own included), or to write their queued sign-in log rows before the
 * asker reads the log (`sign-ins`, no answer but done; the asker has flushed its own).
 */
type Question = 'metrics' | 'sign-ins';

/** Messages between the primary and the workers (over the cluster's IPC channel). */
type Message =
  | { t: 'sesame:ready' }
  /** worker -> primary: ask every worker this for me. */
  | { t: 'sesame:ask-all'; id: number; q: Question }
  /** primary -> each worker: the question. */
  | { t: 'sesame:ask'; id: number; q: Question }
  /** worker -> primary: its answer (a metrics snapshot, or null once its sign-in rows are written). */
  | { t: 'sesame:answer'; id: number; answer: MetricsSnapshot | null }
  /** primary -> the worker that asked: the answers that came in time. */
  | { t: 'sesame:answers'; id: number; answers: (MetricsSnapshot | null)[] };

function isMessage(m: unknown): m is Message {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}

/** True in a process the primary started. */
export function isClusterWorker(): boolean {
  return cluster.isWorker && process.env[SLOT_ENV] !== undefined;
}

/**
 * Each worker's share of the Argon2 concurrency when it is left to the number of cores (0): the
 * workers together then hash as many passwords at once as one process would.
 */
export function workerConfig(config: Readonly<Config>): Readonly<Config> {
  if (config.argon2Concurrency !== 0) return config;
  const share = Math.max(1, Math.ceil(availableParallelism() / config.workers));
  return Object.freeze({ ...config, argon2Concurrency: share });
}

/** Runs in a worker: serve.ts, with metrics summed over all workers and the role the primary gave. */
export async function runWorker(config: Readonly<Config>): Promise<void> {
  const slot = Number(process.env[SLOT_ENV]);
  let next = 0;
  const waiting = new Map<number, (answers: (MetricsSnapshot | null)[]) => void>();
  let context: AppContext | undefined;
  const answer = (q: Question): Promise<MetricsSnapshot | null> => {
    // Not built yet (still starting): nothing counted and nothing queued yet either.
    if (!context) return Promise.resolve(q === 'metrics' ? [] : null);
    return q === 'metrics' ? context.metrics.snapshot() : context.flushSignIns().then(() => null);
  };
  process.on('message', (m: unknown) => {
    if (!isMessage(m)) return;
    if (m.t === 'sesame:ask')
      answer(m.q).then(
        (a) => process.send?.({ t: 'sesame:answer', id: m.id, answer: a } satisfies Message),
        () => {
          // No answer: the primary goes on without this worker after its timeout.
        },
      );
    else if (m.t === 'sesame:answers') {
      waiting.get(m.id)?.(m.answers);
      waiting.delete(m.id);
    }
  });
  const askAll = (q: Question) => {
    const id = next++;
    const all = new Promise<(MetricsSnapshot | null)[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`the primary did not answer (${q})`));
      }, GATHER_TIMEOUT_MS * 2);
      waiting.set(id, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
    });
    process.send?.({ t: 'sesame:ask-all', id, q } satisfies Message);
    return all;
  };
  // Loaded here, not at the top: the primary never serves, and need not hold the whole app in memory.
  const { serve } = await import('./serve.js');
  await serve(workerConfig(config), {
    migrate: false,
    jobs: slot === 0,
    hint: process.env[HINT_ENV] === '1',
    context: {
      // A read of the sign-in log goes on after 10 s at most, without what the silent workers hold.
      flushSignInsElsewhere: async () => {
        await askAll('sign-ins').catch(() => undefined);
      },
    },
    withContext: (ctx) => {
      context = ctx;
      ctx.metrics.sumAcross(async () => (await askAll('metrics')).filter((a) => a !== null));
    },
    onReady: () => process.send?.({ t: 'sesame:ready' } satisfies Message),
  });
}

/** Runs in the primary: prepares the store once, then starts, watches and stops the workers. */
export async function runPrimary(config: Readonly<Config>): Promise<void> {
  const log = pino({ level: config.logLevel });
  // As createContext does, once here so that the workers find it done (and say nothing about it).
  const fixed = securePrivateData(config.dataDir);
  // Generated now if missing, by one process: every worker then reads the same keys. A bad key is
  // a ConfigError (exit 2), said once.
  loadSecrets(config.dataDir, process.env, { mode: config.mode, databaseUrl: config.databaseUrl });
  const store = openStore({
    dataDir: config.dataDir,
    databaseUrl: config.databaseUrl,
    onFixed: (f) => fixed.push(...f),
  });
  let noUsers: boolean;
  try {
    // Once, before any worker: workers start with migrate false and never race on the schema.
    await migrateToLatest(store.db);
    noUsers = (await new KyselyAccountRepository(store.db, systemClock).countUsers()) === 0;
  } finally {
    await store.close();
  }
  if (fixed.length)
    log.warn(
      { code: 'file_modes_fixed', fixed },
      'the data folder or files in it could be read by other users: made private (files 0600, folders 0700)',
    );

  const slotOf = new Map<Worker, number>();
  const ready = new Set<Worker>();
  let everyoneStarted = false;
  let stopping = false;
  let exitCode = 0;
  /** Consecutive young deaths per slot (a worker that lived under a minute), for the backoff. */
  const deaths = new Map<number, number>();
  const bornAt = new Map<Worker, number>();

  const fork = (slot: number, hint: boolean) => {
    const w = cluster.fork({ [SLOT_ENV]: String(slot), [HINT_ENV]: hint ? '1' : '0' });
    slotOf.set(w, slot);
    bornAt.set(w, Date.now());
    w.on('message', (m: unknown) => onMessage(w, m));
  };

  // One request per question asked, answered with the answers that came in time.
  let nextAsk = 0;
  const asks = new Map<number, { answers: (MetricsSnapshot | null)[]; pending: Set<Worker>; finish: () => void }>();
  const onMessage = (w: Worker, m: unknown) => {
    if (!isMessage(m)) return;
    if (m.t === 'sesame:ready') {
      ready.add(w);
      if (!everyoneStarted && ready.size === config.workers) {
        everyoneStarted = true;
        log.info({ workers: config.workers, pids: [...ready].map((r) => r.process.pid) }, 'all workers ready');
      }
    } else if (m.t === 'sesame:ask-all') {
      const id = nextAsk++;
      const asker = m.id;
      // The asker writes its own sign-in rows itself; its metrics are part of the sum.
      const askees = [...ready].filter((r) => r.isConnected() && (m.q === 'metrics' || r !== w));
      const a = {
        answers: [] as (MetricsSnapshot | null)[],
        pending: new Set(askees),
        finish: () => {
          clearTimeout(timer);
          asks.delete(id);
          if (w.isConnected()) w.send({ t: 'sesame:answers', id: asker, answers: a.answers } satisfies Message);
        },
      };
      const timer = setTimeout(() => {
        log.warn(
          { question: m.q, missing: [...a.pending].map((p) => p.process.pid) },
          'some workers did not answer in time',
        );
        a.finish();
      }, GATHER_TIMEOUT_MS);
      asks.set(id, a);
      for (const r of askees) r.send({ t: 'sesame:ask', id, q: m.q } satisfies Message);
      if (a.pending.size === 0) a.finish();
    } else if (m.t === 'sesame:answer') {
      const a = asks.get(m.id);
      if (!a?.pending.delete(w)) return;
      a.answers.push(m.answer);
      if (a.pending.size === 0) a.finish();
    }
  };

  const allGone = () => {
    if (Object.keys(cluster.workers ?? {}).length === 0) {
      log.info({ code: exitCode }, 'all workers stopped');
      process.exit(exitCode);
    }
  };

  const stopAll = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping the workers');
    // Each one stops as a single process would: closes its listeners, lets requests finish,
    // flushes its batched writes (sign-in log, last-used times), closes the store.
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    setTimeout(() => {
      for (const w of Object.values(cluster.workers ?? {})) {
        log.error({ worker: w?.process.pid }, 'a worker did not stop in time: killed');
        w?.process.kill('SIGKILL');
      }
    }, STOP_TIMEOUT_MS).unref();
    allGone();
  };

  cluster.on('exit', (w, code, signal) => {
    const slot = slotOf.get(w)!;
    const lived = Date.now() - (bornAt.get(w) ?? 0);
    const wasReady = ready.delete(w);
    slotOf.delete(w);
    bornAt.delete(w);
    for (const a of asks.values()) if (a.pending.delete(w) && a.pending.size === 0) a.finish();
    if (stopping) {
      if (code && !exitCode) exitCode = 1;
      return allGone();
    }
    if (!everyoneStarted && !wasReady) {
      // A worker that cannot start (bad setting, port in use, store unreachable): so cannot the rest.
      log.error({ worker: w.process.pid, code, signal }, 'a worker could not start: stopping');
      exitCode = code || 1;
      stopAll('SIGTERM');
      return;
    }
    const young = lived < 60_000 ? (deaths.get(slot) ?? 0) + 1 : 1;
    deaths.set(slot, young);
    const delay = Math.min(30_000, 1000 * 2 ** (young - 1));
    log.error(
      { worker: w.process.pid, code, signal, slot, restartInMs: delay },
      slot === 0 ? 'a worker died (it ran the background jobs): restarting it' : 'a worker died: restarting it',
    );
    // Not unref'd: with every worker gone, this timer is what keeps the primary running.
    setTimeout(() => {
      if (!stopping) fork(slot, false);
    }, delay);
  });

  process.on('SIGTERM', () => stopAll('SIGTERM'));
  process.on('SIGINT', () => stopAll('SIGINT'));
  log.info({ workers: config.workers }, 'starting workers');
  // The hint is printed here, before any worker listens: a worker would print it only after it
  // answered, and someone who sees the port answer should already see what to do first.
  if (noUsers) process.stdout.write(firstAdminHint(config.publicUrl));
  for (let slot = 0; slot < config.workers; slot++) fork(slot, false);
}
