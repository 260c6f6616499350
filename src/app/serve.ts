/**
 * One serving process: context -> app -> listen (main, monitoring and LDAP listeners), the
 * first-admin hint, the background jobs and a clean stop on SIGTERM/SIGINT. `npm start` runs it
 * alone (SESAME_WORKERS=1) or in each worker of cluster.ts.
 */
import { firstAdminHint } from './first-admin-hint.js';
import type { Config } from '../config/config.js';
import { startBackgroundJobs } from './background-jobs.js';
import { type AppContext, type ContextOptions, createContext } from './context.js';
import { startLdap } from './ldap.js';
import { buildApp, buildMonitoringApp } from './server.js';

export interface ServeOptions {
  /** Run the store's pending migrations first (false in a worker: the primary has run them). */
  migrate: boolean;
  /** Run the background jobs (app-password sweep, Dovecot expiry check, retention): in one process only. */
  jobs: boolean;
  /** Print the first-admin hint when the store has no users: once per start, not per worker. */
  hint: boolean;
  /** More options for createContext (a worker: how to reach the other workers). */
  context?: Pick<ContextOptions, 'flushSignInsElsewhere'>;
  /** Called with the context before the app is built (a worker hooks its metrics up to the others'). */
  withContext?: (ctx: AppContext) => void;
  /** Called once every listener listens. */
  onReady?: () => void;
}

export async function serve(config: Readonly<Config>, opts: ServeOptions): Promise<void> {
  const ctx = await createContext(config, { ...opts.context, migrate: opts.migrate });
  opts.withContext?.(ctx);
  const app = await buildApp(ctx);
  // Before the port answers: whoever sees it answer should already see what to do first.
  if (opts.hint && (await ctx.accounts.countUsers()) === 0) process.stdout.write(firstAdminHint(config.publicUrl));
  await app.listen({ host: config.host, port: config.port });
  // SESAME_METRICS_PORT: /healthz, /readyz and /metrics on a listener of their own, which a
  // firewall can keep to the monitoring network (the main port then has no /metrics).
  const monitor = config.metricsPort ? await buildMonitoringApp(ctx) : undefined;
  if (monitor) {
    const host = config.metricsHost || config.host;
    await monitor.listen({ host, port: config.metricsPort });
    app.log.info({ host, port: config.metricsPort }, 'monitoring listener ready (/healthz, /readyz, /metrics)');
  }
  // SESAME_LDAP_PORT / SESAME_LDAPS_PORT: the read-only LDAP interface (docs/ldap.md).
  const ldap = await startLdap(ctx, app.log);
  if (ldap) app.log.info({ host: config.ldapHost || config.host, ...ldap.ports }, 'LDAP listener ready');
  app.log.info({ store: ctx.store.kind, where: ctx.store.where, url: config.publicUrl }, 'Sesame is ready');
  opts.onReady?.();
  // PostgreSQL: the connection that hears changes to good app passwords' answers is opened now, so
  // that memory is vouched for by the first mail checks (the CLI never opens it).
  ctx.store.verifyToken();
  // The country data (named locations, countries on pages, new-country notices) is read now, in
  // turns, once the server answers: read at the first app password's use instead, it would slow
  // the answers of the next second or two. The CLI and the tests' contexts still read it only when
  // they need it. Each worker holds its own copy.
  void ctx.geoip.table().then(
    (t) => app.log.info({ ranges: t.size }, 'country data loaded'),
    (e: unknown) => app.log.warn({ err: String(e) }, 'country data could not be read; tried again at the next lookup'),
  );
  const jobs = opts.jobs ? startBackgroundJobs(ctx, app.log) : undefined;
  // Said by the one process that runs them: with several workers, which one does.
  if (jobs) app.log.info('background jobs started (unused app passwords, expiry checks, retention)');
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    jobs?.stop();
    // Stops accepting and lets in-flight requests finish. Node's server.close() ends the keep-alive
    // connections idle at that moment; those still busy would stay open until the keep-alive timeout
    // (72 s) after their last answer, so they are closed as they fall idle, and all of them after 10 s.
    const closing = Promise.all([app.close(), monitor?.close(), ldap?.close()]);
    const reaper = setInterval(() => app.server.closeIdleConnections(), 50);
    const deadline = setTimeout(() => app.server.closeAllConnections(), 10_000);
    await closing;
    clearInterval(reaper);
    clearTimeout(deadline);
    // Batched writes (sign-in log, last-used times) are flushed before the store closes.
    await ctx.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
