/**
 * `npm start`: the only place that wires config -> store -> services -> app -> listen.
 * Prints a first-admin hint when the store has no users, and shuts down cleanly on SIGTERM/SIGINT.
 */
import { createContext } from './app-context.js';
import { ConfigError, loadConfig } from './config/config.js';
import { buildApp } from './delivery/http/app.js';
import { buildMonitoringApp } from './delivery/http/monitoring.js';

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }
  const ctx = await createContext(config);
  const app = await buildApp(ctx);
  await app.listen({ host: config.host, port: config.port });
  // SESAME_METRICS_PORT: /healthz, /readyz and /metrics on a listener of their own, which a
  // firewall can keep to the monitoring network (the main port then has no /metrics).
  const monitor = config.metricsPort ? await buildMonitoringApp(ctx) : undefined;
  if (monitor) {
    const host = config.metricsHost || config.host;
    await monitor.listen({ host, port: config.metricsPort });
    app.log.info({ host, port: config.metricsPort }, 'monitoring listener ready (/healthz, /readyz, /metrics)');
  }
  app.log.info({ store: ctx.store.kind, where: ctx.store.where, url: config.publicUrl }, 'Sesame is ready');
  if ((await ctx.accounts.countUsers()) === 0) {
    const domain = 'example.org';
    process.stdout.write(
      `\nNo users yet. Create your organization and its first admin (prints a one-time set-password link):\n` +
        `  npx sesame org add ${domain} --name "Example"\n` +
        `  npx sesame user add admin@${domain} --name "Admin" --admin\n\n`,
    );
  }
  // Revoke app passwords unused for longer than their organization allows: now, then hourly.
  const sweep = async () => {
    const orgs = await ctx.accounts.listOrganizations();
    const n = await ctx.appPasswords.sweepUnused(orgs.map((o) => o.id));
    if (n) app.log.info({ revoked: n }, 'unused app passwords revoked');
  };
  const sweeper = setInterval(() => void sweep().catch((e) => app.log.warn({ err: String(e) }, 'app-password sweep failed')), 3_600_000);
  sweeper.unref();
  void sweep().catch((e) => app.log.warn({ err: String(e) }, 'app-password sweep failed'));
  // App passwords that reached their expiry: Dovecot may still hold a good answer for one in its
  // auth cache, so their owners are flushed through the doveadm API; checked every minute (only
  // when that API is configured). The first check also covers the hour before the start (Dovecot's
  // default auth_cache_ttl): what expired while Sesame was down may still be cached. `since` moves
  // on only after a check that read the store, and checks never overlap, so each expiry is told once.
  let expiredSince = ctx.clock.now() - 3_600_000;
  let checkingExpiry = false;
  const checkExpired = async () => {
    if (checkingExpiry) return;
    checkingExpiry = true;
    try {
      const now = ctx.clock.now();
      const owners = await ctx.appPasswords.notifyExpired(expiredSince, now);
      expiredSince = now;
      if (owners) app.log.info({ owners }, 'owners of expired app passwords flushed from Dovecot');
    } finally {
      checkingExpiry = false;
    }
  };
  const checkExpiredLogged = () => void checkExpired().catch((e) => app.log.warn({ err: String(e) }, 'app-password expiry check failed'));
  const expiryChecker = config.doveadmUrl ? setInterval(checkExpiredLogged, 60_000) : undefined;
  expiryChecker?.unref();
  if (config.doveadmUrl) checkExpiredLogged();
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    clearInterval(sweeper);
    clearInterval(expiryChecker);
    // Stops accepting and lets in-flight requests finish. Node's server.close() ends the keep-alive
    // connections idle at that moment; those still busy would stay open until the keep-alive timeout
    // (72 s) after their last answer, so they are closed as they fall idle, and all of them after 10 s.
    const closing = Promise.all([app.close(), monitor?.close()]);
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

main().catch((e) => {
  // Unsafe keys in production mode are found where the keys are read (createContext): a configuration problem too.
  if (e instanceof ConfigError) {
    console.error(e.message);
    process.exit(2);
  }
  console.error(`Sesame could not start: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
