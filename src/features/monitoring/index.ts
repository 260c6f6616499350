/**
 * What monitoring asks: /healthz (the process answers), /readyz (the store answers and its schema
 * is current) and /metrics (Prometheus text format). On the main port they sit beside the legacy
 * endpoints, outside the browser machinery. With SESAME_METRICS_PORT they are also served by a
 * small listener of their own (app/server.ts buildMonitoringApp), and /metrics leaves the main port.
 *
 * /metrics tells how many sign-ins fail, which routes are used and how the store is doing: not
 * for everyone. On the main port it is served only with SESAME_METRICS_TOKEN set (and then asks
 * for it), never by peer address: behind a reverse proxy on the same host every request comes
 * from loopback. On the monitoring port it asks for the token when one is set.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Feature } from '../../web/feature.js';
import type { Services } from '../../web/services.js';

/** The route label of requests that matched no route (404s): one series, whatever URLs are tried. */
const UNMATCHED = 'unmatched';

/** Probes and scrapes come every few seconds: their access lines would drown the log. */
const QUIET = { schema: { hide: true }, logLevel: 'warn' as const };

/**
 * Counts every answered request of `app` (and of the plugins registered after this call) by route
 * pattern, method and status, and times it. Runs on every request, the legacy hot path included:
 * a callback hook (no promise) and a few Map lookups (see adapters/metrics.ts).
 */
export function observeRequests(app: FastifyInstance, ctx: Services): void {
  const { metrics } = ctx;
  app.addHook('onResponse', (req, reply, done) => {
    metrics.request(
      req.is404 ? UNMATCHED : (req.routeOptions.url ?? UNMATCHED),
      req.method,
      reply.statusCode,
      reply.elapsedTime,
    );
    done();
  });
}

export interface MonitoringRoutes {
  /** Whether this listener serves /metrics (the main port does not when there is a monitoring port, or no token). */
  metrics: boolean;
}

/**
 * GET /readyz: 200 `{status: 'ready'}` when the store answers and every known migration is applied
 * (and none unknown); else 503 `{status: 'not_ready', reason}`, reason `store_unreachable`,
 * `schema_behind` or `schema_ahead` (with the migrations concerned). The store's error goes to the
 * log, not to the caller (it may name hosts).
 * GET /metrics (when `metrics`): Prometheus text format; with SESAME_METRICS_TOKEN it needs
 * `Authorization: Bearer <token>` and answers 401 without it.
 */
export function registerMonitoringRoutes(app: FastifyInstance, ctx: Services, opts: MonitoringRoutes): void {
  app.get('/readyz', QUIET, async (req, reply) => {
    void reply.header('cache-control', 'no-store');
    const r = await ctx.readiness();
    if (r.ready) return reply.send({ status: 'ready' });
    if (r.reason === 'store_unreachable') {
      req.log.warn({ err: r.error }, 'not ready: the store does not answer');
      return reply.code(503).send({ status: 'not_ready', reason: r.reason });
    }
    req.log.warn(
      { reason: r.reason, migrations: r.migrations },
      'not ready: the schema is not the one this version expects',
    );
    return reply.code(503).send({ status: 'not_ready', reason: r.reason, migrations: r.migrations });
  });
  if (!opts.metrics) return;
  const token = ctx.config.metricsToken ? digest(ctx.config.metricsToken) : undefined;
  app.get('/metrics', QUIET, async (req, reply) => {
    if (token && !bearerIs(req.headers.authorization, token)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="sesame-metrics"')
        .send({ error: 'metrics token required' });
    }
    const { contentType, body } = await ctx.metrics.scrape();
    return reply.type(contentType).header('cache-control', 'no-store').send(body);
  });
}

/** Whether /metrics belongs on the main port: only without a monitoring port, and only behind a token (see the file comment). */
export function metricsOnMainPort(ctx: Services): boolean {
  return ctx.config.metricsPort === 0 && ctx.config.metricsToken !== '';
}

/**
 * Wires monitoring into the main app: process metrics, request counting, /healthz, /readyz, and
 * /metrics when it belongs there. Call before any route is added, so that every route is counted.
 */
export function registerMonitoring(app: FastifyInstance, ctx: Services): void {
  ctx.metrics.includeProcessMetrics();
  observeRequests(app, ctx);
  registerMonitoringRoutes(app, ctx, { metrics: metricsOnMainPort(ctx) });
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
}

/** The routes of the monitoring listener of its own (SESAME_METRICS_PORT): /healthz, /readyz and /metrics. */
export function registerMonitoringListener(app: FastifyInstance, ctx: Services): void {
  ctx.metrics.includeProcessMetrics();
  app.get('/healthz', QUIET, async () => ({ status: 'ok' }));
  registerMonitoringRoutes(app, ctx, { metrics: true });
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Compares digests in constant time: the token's length and prefix stay unknown to a guesser. */
function bearerIs(header: string | undefined, expected: Buffer): boolean {
  if (!header?.startsWith('Bearer ') || header.length > 1024) return false;
  return timingSafeEqual(digest(header.slice(7)), expected);
}

/** Health, readiness and metrics; counts every route registered after it. */
export const monitoring: Feature = {
  root: (app, s) => registerMonitoring(app, s),
};
