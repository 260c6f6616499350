/**
 * Prometheus metrics (prom-client), on registries of Sesame's own and never prom-client's global
 * one: each AppContext counts for itself, so tests can build several apps in one process.
 *
 * Cost on the hot path. prom-client's inc() and observe() turn the label set into a string key on
 * every call: 0.45-1.2 µs for a labelled counter increment and 0.5-1.7 µs for a labelled
 * histogram observation, with short-lived allocations each (millions of calls in a loop, Node 20,
 * this project's machine, several runs). Requests and verifications are therefore counted here,
 * in plain numbers found through nested Maps (~60 ns for a request's counter and histogram
 * together, ~40 ns for a verification, nothing allocated once a series exists), and handed to
 * prom-client only when Prometheus scrapes.
 *
 * Every label value comes from a small closed set (route patterns, HTTP methods and status codes,
 * protocols, outcomes, reasons): never a raw URL, a user name, an address or a password.
 */
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, type Metric, Registry } from 'prom-client';

/** One process's metrics in prom-client's JSON form (`Registry.getMetricsAsJSON()`): what workers send to be summed. */
export type MetricsSnapshot = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** What a legacy-protocol client was answered; `temporary` is a store failure (try again). */
export type VerificationOutcome = 'ok' | 'wrong' | 'refused' | 'temporary';

/** The answer cache's counts (domain/legacy/answer-cache.ts), read at each scrape. */
export interface AnswerCacheUse {
  hits: number;
  misses: number;
  bypassed: number;
  rows: number;
}

/** The store's connections, as storage/db.ts reports them (its StoreStats; app-context.ts stops compiling should the two drift apart). */
export type StoreUse =
  | { kind: 'postgres'; connections: number; idle: number; waiting: number }
  | { kind: 'sqlite'; connections: number; walBytes: number };

export interface Metrics {
  /**
   * One answered HTTP request. `route` is the route's pattern (`/api/v1/users/:id`), never the
   * URL asked for; `ms` is the time from the request to the end of the answer.
   */
  request(route: string, method: string, status: number, ms: number): void;
  /** One legacy-protocol attempt answered. `protocol` must already be one of Sesame's protocols (or `other`). */
  verification(protocol: string, outcome: VerificationOutcome, reason: string): void;
  /** One lock imposed: `scope` browser or legacy, `target` account or ip. */
  lock(scope: string, target: string): void;
  /**
   * Adds the process's own metrics (event loop delay, CPU, memory, garbage collection, handles)
   * to what scrape() returns. They are the process's, so one collector serves every Metrics in
   * the process; it starts at the first call (a serving process calls it when its app is built).
   */
  includeProcessMetrics(): void;
  /** Everything, in the Prometheus text format, with its content type. */
  scrape(): Promise<{ contentType: string; body: string }>;
  /** This process's metrics (its own and, once included, the process's), to be summed with other workers'. */
  snapshot(): Promise<MetricsSnapshot>;
  /**
   * Several workers (SESAME_WORKERS): from now on scrape() answers for all of them, from the
   * snapshots `gather` returns (this worker's among them), each series combined by its metric's
   * aggregator: counters, histograms and most gauges summed; see sumSnapshots.
   */
  sumAcross(gather: () => Promise<MetricsSnapshot[]>): void;
}

/**
 * The workers' snapshots as one registry, by prom-client's AggregatorRegistry.aggregate: series
 * with the same name and labels are combined by the `aggregator` their metric names (prom-client's
 * default is `sum`; its process metrics say `average`, `max`, `first` or `omit` where a sum would
 * mean nothing, such as the event loop's delay or the start time).
 */
export function sumSnapshots(snapshots: MetricsSnapshot[]): Registry {
  return AggregatorRegistry.aggregate(snapshots as Parameters<typeof AggregatorRegistry.aggregate>[0]);
}

/** Request durations in seconds: the legacy endpoints answer in 1-30 ms, a browser sign-in (Argon2) in 50-500 ms. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Counts by three label values, in nested Maps: no key is built to find a count. */
class Tally3 {
  private readonly root = new Map<string, Map<string, Map<string | number, number>>>();

  add(a: string, b: string, c: string | number): void {
    let byB = this.root.get(a);
    if (!byB) this.root.set(a, (byB = new Map()));
    let byC = byB.get(b);
    if (!byC) byB.set(b, (byC = new Map()));
    byC.set(c, (byC.get(c) ?? 0) + 1);
  }

  *entries(): Generator<[string, string, string, number]> {
    for (const [a, byB] of this.root) for (const [b, byC] of byB) for (const [c, n] of byC) yield [a, b, String(c), n];
  }
}

/** One histogram series: per-bucket (not cumulative) counts, the sum and the count. */
interface Cell {
  buckets: Float64Array;
  sum: number;
  count: number;
}

/**
 * A histogram by route and method kept in plain numbers (see the file comment), exposed to the
 * registry in the shape prom-client's own metrics give it (`get()`: name, help, type and values
 * with their `metricName`), which is what the registry formats. prom-client's Histogram cannot
 * take counts made elsewhere.
 */
class RouteHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly cells = new Map<string, Map<string, Cell>>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: number[],
  ) {}

  observe(route: string, method: string, seconds: number): void {
    let byMethod = this.cells.get(route);
    if (!byMethod) this.cells.set(route, (byMethod = new Map()));
    let cell = byMethod.get(method);
    if (!cell) byMethod.set(method, (cell = { buckets: new Float64Array(this.bounds.length), sum: 0, count: 0 }));
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    if (i < b.length) cell.buckets[i]! += 1;
    cell.sum += seconds;
    cell.count += 1;
  }

  async get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const [route, byMethod] of this.cells) {
      for (const [method, cell] of byMethod) {
        let cumulative = 0;
        this.bounds.forEach((le, i) => {
          cumulative += cell.buckets[i]!;
          values.push({ labels: { route, method, le }, value: cumulative, metricName: `${this.name}_bucket` });
        });
        values.push({ labels: { route, method, le: '+Inf' }, value: cell.count, metricName: `${this.name}_bucket` });
        values.push({ labels: { route, method }, value: cell.sum, metricName: `${this.name}_sum` });
        values.push({ labels: { route, method }, value: cell.count, metricName: `${this.name}_count` });
      }
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.cells.clear();
  }
}

/** The process's own metrics, shared by every Metrics of the process (see includeProcessMetrics). */
let processRegistry: Registry | undefined;

/** Metrics of one AppContext; `storeUse` is read at each scrape. */
export function createMetrics(storeUse: () => StoreUse, answerCache?: () => AnswerCacheUse): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const requests = new Tally3();
  const verifications = new Tally3();
  const durations = new RouteHistogram(
    'sesame_http_request_duration_seconds',
    'Time to answer HTTP requests, by route pattern and method.',
    DURATION_BUCKETS,
  );
  let withProcess = false;
  let gather: (() => Promise<MetricsSnapshot[]>) | undefined;

  new Counter({
    name: 'sesame_http_requests_total',
    help: 'HTTP requests answered, by route pattern (unmatched: no route), method and status code.',
    labelNames: ['route', 'method', 'status'],
    registers,
    collect() {
      this.reset();
      for (const [route, method, status, n] of requests.entries()) this.inc({ route, method, status }, n);
    },
  });
  registry.registerMetric(durations as unknown as Metric);
  new Counter({
    name: 'sesame_legacy_verifications_total',
    help: 'Legacy-protocol attempts answered (mail servers, proxies, forward auth, introspection), by protocol, outcome (ok, wrong, refused, temporary) and reason.',
    labelNames: ['protocol', 'outcome', 'reason'],
    registers,
    collect() {
      this.reset();
      for (const [protocol, outcome, reason, n] of verifications.entries()) this.inc({ protocol, outcome, reason }, n);
    },
  });
  const locks = new Counter({
    name: 'sesame_lockouts_total',
    help: 'Temporary locks imposed after repeated failures: scope browser (pages and JSON API sign-ins) or legacy (smart lockout), target account or ip.',
    labelNames: ['scope', 'target'],
    registers,
  });
  // Every series present from the start: a rate() over a series that appears with its first lock misses that lock.
  for (const scope of ['browser', 'legacy']) for (const target of ['account', 'ip']) locks.inc({ scope, target }, 0);

  const kind = storeUse().kind;
  new Gauge({
    name: 'sesame_store_connections',
    help:
      kind === 'postgres' ? 'Connections in the PostgreSQL pool (open, idle or in use).' : 'Open SQLite connections.',
    registers,
    collect() {
      this.set(storeUse().connections);
    },
  });
  if (kind === 'postgres') {
    new Gauge({
      name: 'sesame_store_connections_idle',
      help: 'Idle connections in the PostgreSQL pool.',
      registers,
      collect() {
        const s = storeUse();
        if (s.kind === 'postgres') this.set(s.idle);
      },
    });
    new Gauge({
      name: 'sesame_store_waiting_queries',
      help: 'Queries waiting for a free PostgreSQL connection (above 0 for long: the pool is too small or the database slow).',
      registers,
      collect() {
        const s = storeUse();
        if (s.kind === 'postgres') this.set(s.waiting);
      },
    });
  } else {
    new Gauge({
      name: 'sesame_store_sqlite_wal_bytes',
      help: 'Size of the SQLite write-ahead log; it keeps growing when checkpoints cannot complete.',
      registers,
      // One file, seen by every worker: not summed.
      aggregator: 'max',
      collect() {
        const s = storeUse();
        if (s.kind === 'sqlite') this.set(s.walBytes);
      },
    });
  }

  if (answerCache) {
    new Counter({
      name: 'sesame_answer_cache_total',
      help: "Good app passwords' answers: hit (answered from memory), miss (read from the store, then kept), bypass (memory not vouched for: PostgreSQL's listening connection not confirmed).",
      labelNames: ['result'],
      registers,
      collect() {
        const c = answerCache();
        this.reset();
        this.inc({ result: 'hit' }, c.hits);
        this.inc({ result: 'miss' }, c.misses);
        this.inc({ result: 'bypass' }, c.bypassed);
      },
    });
    new Gauge({
      name: 'sesame_answer_cache_rows',
      help: "Good app passwords' answers kept in memory now.",
      registers,
      collect() {
        this.set(answerCache().rows);
      },
    });
  }

  return {
    request(route, method, status, ms) {
      requests.add(route, method, status);
      durations.observe(route, method, ms / 1000);
    },
    verification(protocol, outcome, reason) {
      verifications.add(protocol, outcome, reason);
    },
    lock(scope, target) {
      locks.inc({ scope, target });
    },
    includeProcessMetrics() {
      if (!processRegistry) {
        processRegistry = new Registry();
        collectDefaultMetrics({ register: processRegistry });
      }
      withProcess = true;
    },
    async scrape() {
      if (gather) {
        const summed = sumSnapshots(await gather());
        return { contentType: registry.contentType, body: await summed.metrics() };
      }
      const all = withProcess && processRegistry ? Registry.merge([processRegistry, registry]) : registry;
      return { contentType: all.contentType, body: await all.metrics() };
    },
    async snapshot() {
      const own = await registry.getMetricsAsJSON();
      return withProcess && processRegistry ? [...(await processRegistry.getMetricsAsJSON()), ...own] : own;
    },
    sumAcross(g) {
      gather = g;
    },
  };
}
