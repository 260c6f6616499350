/**
 * What admins read out of the logs: the dashboard's counts and the sign-in log filtered and
 * exported. Owns the filter's rules (what a valid filter is) and the admin check: every call
 * names the organization and is refused unless the actor administers it, so an admin of one
 * organization never reads another's rows, whichever delivery path asks.
 */
import { type Actor, requireAdminOf } from '../accounts/actor.js';
import type { Clock } from '../clock.js';
import { PROTOCOLS } from '../app-passwords/model.js';
import { SesameError } from '../errors.js';
import type { SignInEvent, SignInOutcome } from './events.js';

export const SIGN_IN_OUTCOMES: readonly SignInOutcome[] = ['success', 'failure', 'throttled'];

/**
 * The legacy protocols (mail, calendar and proxy clients with app passwords) are the app-password
 * protocols; browser and API rows carry `web`, `api` and their steps (`web:mfa`, `api:mfa`, ...).
 */
export const LEGACY_PROTOCOLS: readonly string[] = PROTOCOLS;

/** A filter of the sign-in log; every field optional, all given ones must hold. */
export interface SignInFilter {
  /** An address: rows of that user in the organization, or typed as that address (case-insensitive). */
  user?: string;
  outcome?: SignInOutcome;
  protocol?: string;
  /** The client IP exactly as logged. */
  ip?: string;
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, exclusive. */
  to?: number;
}

/** The filter as raw text fields (a query string); empty means "not given". */
export type RawSignInFilter = Partial<Record<keyof SignInFilter, string | undefined>>;

/** The dashboard's window and the "unused" age of app passwords. */
export const DASHBOARD_HOURS = 24;
export const UNUSED_APP_PASSWORD_DAYS = 90;

/** Counts per outcome. */
export type OutcomeCounts = Record<SignInOutcome, number>;

export interface DashboardCounts {
  /** One entry per hour that had attempts (start of the hour, epoch ms), any order. */
  hourly: { hour: number; outcome: SignInOutcome; count: number }[];
  /** Legacy-protocol attempts in the window, by protocol and outcome. */
  legacy: { protocol: string; outcome: SignInOutcome; count: number }[];
  /** Legacy-protocol attempts in the window, by client IP and outcome (the reports map IPs to countries). */
  legacyByIp: { ip: string; outcome: SignInOutcome; count: number }[];
  /** Attempts refused while locked in the window, by the lock's reason. */
  locked: { reason: string; count: number }[];
  /** Distinct account names typed in refused-while-locked attempts in the window. */
  lockedAccounts: number;
  /** Active users by MFA state. */
  mfa: { state: string; count: number }[];
  appPasswords: { total: number; unused: number };
}

/** The dashboard, shaped for charts: every hour of the window present, zero-filled. */
export interface Dashboard {
  since: number;
  until: number;
  hourly: ({ hour: number } & OutcomeCounts)[];
  legacy: ({ protocol: string } & OutcomeCounts)[];
  /** Legacy-protocol attempts by the country of their address (null: none known), most attempts first. */
  legacyByCountry: ({ country: string | null } & OutcomeCounts)[];
  locked: { reason: string; count: number }[];
  lockedAccounts: number;
  mfa: { disabled: number; enabled: number; enforced: number };
  appPasswords: { total: number; unused: number; unusedDays: number };
}

export interface ReportRepository {
  /** Counts for organization `orgId`: sign-in rows with since <= at < until, app passwords last used (or made) before `unusedBefore`. */
  dashboard(orgId: string, since: number, until: number, unusedBefore: number): Promise<DashboardCounts>;
  /** One page of the filtered log, newest first, and how many rows match. */
  listSignIns(
    orgId: string,
    filter: SignInFilter,
    limit: number,
    offset: number,
  ): Promise<{ events: SignInEvent[]; total: number }>;
  /** Every matching row, newest first, in pages of `pageSize` read one after another (never all at once). */
  scanSignIns(orgId: string, filter: SignInFilter, pageSize: number): AsyncIterable<SignInEvent[]>;
}

/**
 * Every protocol a sign-in row can carry, for the log's filter: the browser and the JSON API with
 * their later steps (the second factor, a password confirmed again, a password change), then the
 * legacy protocols of app passwords.
 */
export const SIGN_IN_PROTOCOLS = [
  'web',
  'web:mfa',
  'web:reauth',
  'web:password-change',
  'api',
  'api:mfa',
  'api:reauth',
  'api:password-change',
  ...PROTOCOLS,
] as const;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const PROTOCOL = /^[a-z0-9_:-]{1,40}$/;
const IP = /^[0-9A-Za-z:.%_-]{1,64}$/;

/**
 * Reads a filter from text fields, or throws `invalid_filter` naming the first bad field (nothing
 * is read then). Times are ISO 8601; without a zone they are UTC, as every time on the pages is.
 */
export function parseSignInFilter(raw: RawSignInFilter): SignInFilter {
  const f: SignInFilter = {};
  const bad = (k: keyof SignInFilter) =>
    new SesameError('invalid_filter', `sign-in log filter: bad ${k} ${JSON.stringify(String(raw[k]).slice(0, 80))}`, {
      params: { field: k },
    });
  // A field given twice (?ip=a&ip=b) arrives as a list: refused rather than guessed at.
  const text = (k: keyof SignInFilter): string => {
    const v: unknown = raw[k];
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') throw bad(k);
    return v.trim();
  };
  if (text('user')) {
    if (text('user').length > 254) throw bad('user');
    f.user = text('user').toLowerCase();
  }
  if (text('outcome')) {
    if (!(SIGN_IN_OUTCOMES as readonly string[]).includes(text('outcome'))) throw bad('outcome');
    f.outcome = text('outcome') as SignInOutcome;
  }
  if (text('protocol')) {
    if (!PROTOCOL.test(text('protocol'))) throw bad('protocol');
    f.protocol = text('protocol');
  }
  if (text('ip')) {
    if (!IP.test(text('ip'))) throw bad('ip');
    f.ip = text('ip');
  }
  for (const k of ['from', 'to'] as const) {
    if (!text(k)) continue;
    const ms = parseTime(text(k));
    if (ms === undefined) throw bad(k);
    f[k] = ms;
  }
  if (f.from !== undefined && f.to !== undefined && f.from >= f.to) throw bad('to');
  return f;
}

/** ISO 8601 date or date-time; no zone means UTC. Undefined when it is not one. */
function parseTime(s: string): number | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?)(Z|[+-]\d{2}:\d{2})?)?$/.exec(s);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}T${m[2] ?? '00:00'}${m[3] ?? 'Z'}`);
  return Number.isFinite(ms) ? ms : undefined;
}

/** The filter back as query-string fields (for links that keep it: pager, export). */
export function filterParams(f: SignInFilter): Record<string, string> {
  const out: Record<string, string> = {};
  if (f.user) out.user = f.user;
  if (f.outcome) out.outcome = f.outcome;
  if (f.protocol) out.protocol = f.protocol;
  if (f.ip) out.ip = f.ip;
  if (f.from !== undefined) out.from = new Date(f.from).toISOString();
  if (f.to !== undefined) out.to = new Date(f.to).toISOString();
  return out;
}

const zero = (): OutcomeCounts => ({ success: 0, failure: 0, throttled: 0 });

export class AdminReports {
  constructor(
    private readonly repo: ReportRepository,
    private readonly clock: Clock,
    /** Called before every read, so that rows still queued (the legacy endpoints' batched log) are seen. */
    private readonly beforeRead: () => Promise<void> = async () => undefined,
    /**
     * The country of an address (the offline table, loaded when first asked). Countries are found
     * when the dashboard is read, not stored with the log: the log stays what the server saw.
     */
    private readonly countries: () => Promise<(ip: string) => string | undefined> = async () => () => undefined,
  ) {}

  /**
   * The last 24 hours of organization `orgId` for its admins: attempts per hour by outcome,
   * legacy attempts by protocol, refused-while-locked attempts, MFA states and unused app passwords.
   */
  async dashboard(actor: Actor, orgId: string): Promise<Dashboard> {
    requireAdminOf(actor, orgId);
    await this.beforeRead();
    const now = this.clock.now();
    // Whole hours: the current hour is the last bar, so the window starts 23 hours before it.
    const firstHour = Math.floor(now / HOUR) * HOUR - (DASHBOARD_HOURS - 1) * HOUR;
    const c = await this.repo.dashboard(orgId, firstHour, now + 1, now - UNUSED_APP_PASSWORD_DAYS * DAY);
    const hourly = Array.from({ length: DASHBOARD_HOURS }, (_, i) => ({ hour: firstHour + i * HOUR, ...zero() }));
    for (const h of c.hourly) {
      const slot = hourly[Math.round((h.hour - firstHour) / HOUR)];
      if (slot) slot[h.outcome] += h.count;
    }
    const legacy = new Map<string, { protocol: string } & OutcomeCounts>();
    for (const r of c.legacy) {
      const row = legacy.get(r.protocol) ?? { protocol: r.protocol, ...zero() };
      row[r.outcome] += r.count;
      legacy.set(r.protocol, row);
    }
    const countryOf = await this.countries();
    const byCountry = new Map<string | null, { country: string | null } & OutcomeCounts>();
    for (const r of c.legacyByIp) {
      const country = countryOf(r.ip) ?? null;
      const row = byCountry.get(country) ?? { country, ...zero() };
      row[r.outcome] += r.count;
      byCountry.set(country, row);
    }
    const total = (r: OutcomeCounts) => r.success + r.failure + r.throttled;
    const mfa = { disabled: 0, enabled: 0, enforced: 0 };
    for (const r of c.mfa) if (r.state in mfa) mfa[r.state as keyof typeof mfa] += r.count;
    return {
      since: firstHour,
      until: now,
      hourly,
      legacy: [...legacy.values()].sort((a, b) => a.protocol.localeCompare(b.protocol)),
      // Most attempts first; the unknown ones last among equals, countries by code.
      legacyByCountry: [...byCountry.values()].sort(
        (a, b) =>
          total(b) - total(a) ||
          (a.country === null ? 1 : 0) - (b.country === null ? 1 : 0) ||
          (a.country ?? '').localeCompare(b.country ?? ''),
      ),
      locked: [...c.locked].sort((a, b) => a.reason.localeCompare(b.reason)),
      lockedAccounts: c.lockedAccounts,
      mfa,
      appPasswords: { ...c.appPasswords, unusedDays: UNUSED_APP_PASSWORD_DAYS },
    };
  }

  /**
   * One page of organization `orgId`'s sign-in log matching the filter, newest first, with the
   * filter as read. Rights first, then the filter (`invalid_filter`): a plain user learns nothing
   * from how a filter is refused.
   */
  async listSignIns(actor: Actor, orgId: string, raw: RawSignInFilter, limit: number, offset: number) {
    requireAdminOf(actor, orgId);
    const filter = parseSignInFilter(raw);
    await this.beforeRead();
    return { ...(await this.repo.listSignIns(orgId, filter, limit, offset)), filter };
  }

  /**
   * Every row of organization `orgId`'s sign-in log matching `filter`, newest first, read page by
   * page as the caller consumes them (an export streams; it never holds the whole log). The admin
   * check and the filter's happen at the call, before the first row is asked for.
   */
  exportSignIns(actor: Actor, orgId: string, raw: RawSignInFilter): AsyncIterable<SignInEvent> {
    requireAdminOf(actor, orgId);
    const filter = parseSignInFilter(raw);
    const { repo, beforeRead } = this;
    return (async function* () {
      await beforeRead();
      for await (const page of repo.scanSignIns(orgId, filter, 500)) yield* page;
    })();
  }
}
