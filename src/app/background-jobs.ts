/**
 * The server's periodic work, apart from answering requests: revoking app passwords unused for
 * longer than their organization allows (at start, then hourly), and telling Dovecot about app
 * passwords that reached their expiry (every minute, when its doveadm API is configured), and
 * retention (storage/retention.ts: a minute after start, then hourly).
 */
import type { Config } from '../config/config.js';
import { Retention, type RetentionSettings, runRetention } from '../storage/retention.js';
import type { AppContext } from './context.js';

/** Retention's settings as configured (SESAME_SIGN_IN_LOG_DAYS, SESAME_AUDIT_LOG_DAYS, SESAME_RETENTION_GRACE_HOURS). */
export function retentionSettings(
  c: Pick<Config, 'signInLogDays' | 'auditLogDays' | 'retentionGraceHours'>,
): RetentionSettings {
  return { signInLogDays: c.signInLogDays, auditLogDays: c.auditLogDays, graceHours: c.retentionGraceHours };
}

export interface JobLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export function startBackgroundJobs(ctx: AppContext, log: JobLog): { stop(): void } {
  const config = ctx.config;
  // Revoke app passwords unused for longer than their organization allows: now, then hourly.
  const sweep = async () => {
    const orgs = await ctx.accounts.listOrganizations();
    const n = await ctx.appPasswords.sweepUnused(orgs.map((o) => o.id));
    if (n) log.info({ revoked: n }, 'unused app passwords revoked');
  };
  const sweeper = setInterval(
    () => void sweep().catch((e) => log.warn({ err: String(e) }, 'app-password sweep failed')),
    3_600_000,
  );
  sweeper.unref();
  void sweep().catch((e) => log.warn({ err: String(e) }, 'app-password sweep failed'));
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
      if (owners) log.info({ owners }, 'owners of expired app passwords flushed from Dovecot');
    } finally {
      checkingExpiry = false;
    }
  };
  const checkExpiredLogged = () =>
    void checkExpired().catch((e) => log.warn({ err: String(e) }, 'app-password expiry check failed'));
  const expiryChecker = config.doveadmUrl ? setInterval(checkExpiredLogged, 60_000) : undefined;
  expiryChecker?.unref();
  if (config.doveadmUrl) checkExpiredLogged();
  // Retention: old log rows and expired sessions, flows, tokens... removed in small batches. Runs
  // never overlap here; several instances running it at once each remove what is left (harmless).
  // A minute after start, so that a restart loop does not turn into a retention loop.
  const retention = new Retention(ctx.store, retentionSettings(config));
  let retaining = false;
  let stopped = false;
  const retain = async () => {
    if (retaining) return;
    retaining = true;
    try {
      const counts = await runRetention(retention, ctx.audit, ctx.clock.now(), { stopped: () => stopped });
      const removed = Object.fromEntries(counts.filter((c) => c.rows > 0).map((c) => [c.table, c.rows]));
      if (Object.keys(removed).length) log.info({ removed }, 'retention removed old rows');
    } finally {
      retaining = false;
    }
  };
  const retainLogged = () => void retain().catch((e) => log.warn({ err: String(e) }, 'retention failed'));
  const retentionFirst = setTimeout(retainLogged, 60_000);
  retentionFirst.unref();
  const retentionTimer = setInterval(retainLogged, 3_600_000);
  retentionTimer.unref();
  return {
    stop() {
      stopped = true;
      clearTimeout(retentionFirst);
      clearInterval(retentionTimer);
      clearInterval(sweeper);
      clearInterval(expiryChecker);
    },
  };
}
