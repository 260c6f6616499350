/**
 * Configuration: one table of options, each with its environment variable, default and reason.
 * docs/configuration.md is written from this table; `loadConfig` reports every bad value at once
 * and returns a frozen object.
 */
import net from 'node:net';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { phoneNumbers } from '../lib/phone-numbers.js';
import { parseSyslogUrl } from '../lib/syslog-url.js';

export interface Config {
  host: string;
  port: number;
  /** Worker processes serving the same ports and store (SESAME_WORKERS); 1: one process, no primary. */
  workers: number;
  /** Where SQLite and generated secrets live. */
  dataDir: string;
  /** postgres://... switches the store to PostgreSQL; empty means SQLite in dataDir. */
  databaseUrl: string;
  /** The URL users reach Sesame at; decides cookie `Secure` and links printed by the CLI. */
  publicUrl: string;
  logLevel: string;
  sessionIdleMinutes: number;
  sessionAbsoluteHours: number;
  /** How long a proof made in a session (second factor, or the password re-entered) allows changes to how one signs in. */
  recentAuthMinutes: number;
  /** Failed sign-ins per account before a temporary lock (locks grow: 60 s, 120 s, ... 1 h). */
  accountFailureLimit: number;
  /** Failed sign-ins per client IP within 15 minutes before that IP is locked. */
  ipFailureLimit: number;
  /** Password checks (Argon2 hashes, right or wrong) one client IP may ask for per minute. */
  ipPasswordChecksPerMinute: number;
  /** First lock length in seconds; each further lock within 24 h doubles it, up to lockMaxSeconds. */
  lockBaseSeconds: number;
  lockMaxSeconds: number;
  /** Password hashes (Argon2id) computed at once; 0: the number of cores. */
  argon2Concurrency: number;
  /** Longest a password hash may wait for its turn; beyond it the request is answered "busy, try again shortly". */
  argon2MaxWaitMs: number;
  /** Budgets on one-time codes sent (text, voice, email), per hour and per day (issue #15, item 3). */
  codesPerUserHour: number;
  codesPerUserDay: number;
  codesPerDestinationHour: number;
  codesPerDestinationDay: number;
  codesPerOrganizationHour: number;
  codesPerOrganizationDay: number;
  codesTotalHour: number;
  codesTotalDay: number;
  /** Countries whose phone numbers may get text and voice codes, for organizations that set no list of their own. */
  phoneCountries: string[];
  /** Hours a one-time set-password link stays valid. */
  setPasswordLinkHours: number;
  /** Identical sign-in failures within a window this long are one log row with a count; 0: no aggregation. */
  signInAggregationMinutes: number;
  /** Days sign-in log rows are kept; 0: forever. */
  signInLogDays: number;
  /** Days audit log rows are kept; 0: forever. */
  auditLogDays: number;
  /** Hours expired sessions, flows, tokens, links, lock counters and OIDC payloads are kept before retention removes them. */
  retentionGraceHours: number;
  /** `production` refuses development conveniences: the outbox file, plain-http public URLs and unsafe keys (checked by loadSecrets). */
  mode: 'development' | 'production';
  /** smtp://user:pass@host:587 (STARTTLS when offered) or smtps://...:465 (implicit TLS); empty: no SMTP. */
  smtpUrl: string;
  /** Sender of every email, `Name <address>` or a bare address. */
  mailFrom: string;
  /** http(s) URL that text and voice messages are POSTed to as JSON; empty: no gateway. */
  smsWebhookUrl: string;
  /** Sent as `X-Sesame-Secret` with every webhook request; at least 16 characters. */
  smsWebhookSecret: string;
  /**
   * The development outbox file, absolute. Empty in the environment means `<dataDir>/outbox.jsonl`;
   * after loadConfig it is always empty in production mode (which has no outbox).
   */
  devOutbox: string;
  /** Backends nginx's mail proxy is sent to after a good login (host:port; empty: that protocol is not proxied). */
  mailBackendImap: string;
  mailBackendPop3: string;
  mailBackendSmtp: string;
  /**
   * Reverse proxies whose X-Forwarded-For is believed (IP addresses, CIDR ranges, or proxy-addr's
   * names loopback, linklocal, uniquelocal). Empty: none; the client IP is the TCP peer's.
   */
  trustedProxies: string[];
  /** Dovecot's doveadm HTTP API (http://host:port/doveadm/v1) and its key: revocations flush Dovecot's auth cache. */
  doveadmUrl: string;
  doveadmApiKey: string;
  /** PEM file of CAs the check of the organizations' mail settings trusts besides Node's built-in ones; empty: none. */
  tlsCheckCaFile: string;
  /** CSV of IP ranges and countries that replaces the shipped DB-IP Lite file; empty: the shipped one. */
  geoipCountryFile: string;
  /** Certificate file (PEM, the leaf first, then its intermediates) and key that sign configuration profiles; neither: unsigned. */
  profileSigningCertFile: string;
  profileSigningKeyFile: string;
  /** Port of the monitoring listener (/healthz, /readyz, /metrics); 0: none, monitoring on the main port. */
  /** Good app passwords' answers kept in memory per process (0: none). */
  answerCacheRows: number;
  metricsPort: number;
  /** Address of the monitoring listener; empty: `host`. */
  metricsHost: string;
  /** Bearer token /metrics requires; empty: none (and then no /metrics on the main port). */
  metricsToken: string;
  /** Port of the LDAP interface (StartTLS before a bind); 0: none. */
  ldapPort: number;
  /** Port of the LDAP interface over implicit TLS (LDAPS); 0: none. */
  ldapsPort: number;
  /** Address the LDAP listeners bind to; empty: `host`. */
  ldapHost: string;
  /** Certificate (PEM, leaf first) and key of the LDAP listeners; required when either port is set. */
  ldapTlsCertFile: string;
  ldapTlsKeyFile: string;
  /** LDAP connections open at once, both ports together. */
  ldapMaxConnections: number;
  /** LDAP connections one client IP may hold open at once. */
  ldapMaxConnectionsPerIp: number;
  /** Seconds an LDAP connection may stay silent before it is closed. */
  ldapIdleTimeoutSeconds: number;
  /** Entries one LDAP search (or one page of a paged search) returns at most. */
  ldapSizeLimit: number;
  /** http(s) URL every sign-in, lock and audit event is POSTed to (signed JSON); empty: none. */
  eventWebhookUrl: string;
  /** HMAC-SHA-256 key of the event webhook's `X-Sesame-Signature`; at least 16 characters. */
  eventWebhookSecret: string;
  /** udp://host:port or tcp://host:port of a syslog server (RFC 5424) that gets the same events; empty: none. */
  syslogUrl: string;
  /** Syslog facility number of those events (10 = authpriv). */
  syslogFacility: number;
  /** Seconds a client has to send a request's headers; then the connection is closed (a slow-headers attack holds nothing). */
  headersTimeoutSeconds: number;
  /** Seconds a client has to send a whole request, headers and body; a body that trickles in is cut off. */
  requestTimeoutSeconds: number;
  /** Seconds an idle keep-alive connection is kept open between requests. */
  keepAliveTimeoutSeconds: number;
}

interface Option<K extends keyof Config> {
  key: K;
  env: string;
  default: Config[K];
  doc: string;
  parse: (raw: string) => Config[K] | Error;
  /** The value may hold a password or secret: problems name the variable but never echo the value. */
  secret?: boolean;
  /** What docs/configuration.md shows as the default when it depends on the machine. */
  shownDefault?: string;
}

const int =
  (min: number, max: number) =>
  (raw: string): number | Error => {
    if (!/^\d+$/.test(raw)) return new Error(`must be a whole number from ${min} to ${max}`);
    const n = Number(raw);
    return n >= min && n <= max ? n : new Error(`must be a whole number from ${min} to ${max}`);
  };
const str = (raw: string) => raw;
const hostPort = (raw: string): string | Error =>
  raw === '' || /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(raw)
    ? raw
    : new Error('must be host:port, such as 127.0.0.1:1143');
const absolutePath = (raw: string): string | Error =>
  raw === '' || path.isAbsolute(raw) ? raw : new Error('must be an absolute path');
const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];
const proxyList = (raw: string): string[] | Error => {
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of items) {
    const [addr, bits, extra] = item.split('/');
    const family = net.isIP(addr ?? '');
    const ok =
      PROXY_NAMES.includes(item) ||
      (family !== 0 &&
        extra === undefined &&
        (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128))));
    if (!ok)
      return new Error(
        `${JSON.stringify(item)} is not an IP address, a CIDR range or one of ${PROXY_NAMES.join(', ')}`,
      );
  }
  return items;
};
const url = (raw: string): string | Error => {
  try {
    const u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return new Error('must be an http or https URL');
    return raw.replace(/\/+$/, '');
  } catch {
    return new Error('must be an absolute URL such as https://id.example.org');
  }
};
const smtpUrl = (raw: string): string | Error => {
  const bad = new Error(
    'must be smtp://[user:password@]host[:port] (STARTTLS when offered) or smtps://... (implicit TLS)',
  );
  if (!/^smtps?:\/\//i.test(raw)) return bad;
  try {
    return new URL(raw).hostname ? raw : bad;
  } catch {
    return bad;
  }
};
const webhookUrl = (raw: string): string | Error => {
  try {
    const u = new URL(raw);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname
      ? raw
      : new Error('must be an http or https URL');
  } catch {
    return new Error('must be an absolute http or https URL such as https://sms-gateway.example.org/send');
  }
};
const syslogUrl = (raw: string): string | Error => {
  const t = parseSyslogUrl(raw);
  return t instanceof Error ? t : raw;
};
const countryList = (raw: string): string[] | Error => {
  const items = raw
    .split(/[\s,;]+/)
    .map((c) => c.trim().toUpperCase())
    .filter(Boolean);
  const bad = items.find((c) => !/^[A-Z]{2}$/.test(c) || !phoneNumbers().isSupportedCountry(c));
  if (bad) return new Error(`${JSON.stringify(bad)} is not a country code (ISO 3166-1 alpha-2, such as NL)`);
  return [...new Set(items)].sort();
};
/**
 * The default countries for phone codes: the European Economic Area, Switzerland and the United
 * Kingdom, where termination rates are regulated and premium ranges are well defined. SMS pumping
 * and toll fraud mostly target ranges elsewhere; an organization widens or narrows this itself.
 */
export const DEFAULT_PHONE_COUNTRIES = [
  'AT',
  'BE',
  'BG',
  'CH',
  'CY',
  'CZ',
  'DE',
  'DK',
  'EE',
  'ES',
  'FI',
  'FR',
  'GB',
  'GR',
  'HR',
  'HU',
  'IE',
  'IS',
  'IT',
  'LI',
  'LT',
  'LU',
  'LV',
  'MT',
  'NL',
  'NO',
  'PL',
  'PT',
  'RO',
  'SE',
  'SI',
  'SK',
];
const budget = (key: keyof Config, env: string, def: number, what: string): Option<keyof Config> => ({
  key,
  env,
  default: def,
  doc: `${what} Counted before sending, shared by every instance; a request over it sends nothing, is refused (\`code_budget_exceeded\`) and writes an audit row naming the budget. 0 sends no codes at all.`,
  parse: int(0, 1_000_000),
});
const mailbox = (raw: string): string | Error =>
  // `Name <local@domain>` or `local@domain`; nodemailer encodes the display name.
  /^(?:[^<>\x00-\x1f\x7f]*<[^<>@\s]+@[^<>@\s]+>|[^<>@\s]+@[^<>@\s]+)$/.test(raw)
    ? raw
    : new Error('must be an address such as sesame@example.org or Sesame <sesame@example.org>');

export const OPTIONS: Option<keyof Config>[] = [
  {
    key: 'host',
    env: 'HOST',
    default: '127.0.0.1',
    doc: 'Address to listen on. Loopback by default: put a TLS reverse proxy in front.',
    parse: str,
  },
  { key: 'port', env: 'PORT', default: 8080, doc: 'TCP port to listen on.', parse: int(0, 65535) },
  {
    key: 'workers',
    env: 'SESAME_WORKERS',
    default: availableParallelism(),
    shownDefault: 'the number of cores',
    doc: 'Worker processes that answer on the same ports (main, monitoring, LDAP) with the same store; a primary process starts them, restarts one that dies and stops them all on SIGTERM. Each worker takes its own memory (200-350 MiB once the country data is loaded) and store connections (PostgreSQL: up to 10 each). 1: one process and no primary. See "Workers" in the admin guide.',
    parse: int(1, 1024),
  },
  {
    key: 'dataDir',
    env: 'SESAME_DATA_DIR',
    default: './data',
    doc: 'Folder for the SQLite store and generated server secrets (mode 0700).',
    parse: str,
  },
  {
    key: 'databaseUrl',
    env: 'DATABASE_URL',
    default: '',
    doc: 'postgres://user:pass@host/db switches the store to PostgreSQL. Empty: SQLite in the data folder.',
    parse: (raw) =>
      raw === '' || /^postgres(ql)?:\/\//.test(raw)
        ? raw
        : new Error('must start with postgres:// (or be empty for SQLite)'),
    secret: true,
  },
  {
    key: 'publicUrl',
    env: 'SESAME_PUBLIC_URL',
    default: '',
    doc: 'Public URL of this service (https in production). Default: http://HOST:PORT. Cookies are Secure and __Host- prefixed when it is https. Set it for the CLI too: the links and issuer it prints are built from it only (unset, it prints `<SESAME_PUBLIC_URL>/...` and says so).',
    parse: url,
  },
  {
    key: 'logLevel',
    env: 'LOG_LEVEL',
    default: 'info',
    doc: 'pino log level: fatal, error, warn, info, debug, trace or silent.',
    parse: (raw) =>
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(raw)
        ? raw
        : new Error('must be one of fatal, error, warn, info, debug, trace, silent'),
  },
  {
    key: 'sessionIdleMinutes',
    env: 'SESAME_SESSION_IDLE_MINUTES',
    default: 30,
    doc: 'A browser session unused this long ends (NIST SP 800-63B).',
    parse: int(1, 24 * 60),
  },
  {
    key: 'sessionAbsoluteHours',
    env: 'SESAME_SESSION_ABSOLUTE_HOURS',
    default: 12,
    doc: 'A browser session ends this long after sign-in, used or not.',
    parse: int(1, 24 * 30),
  },
  {
    key: 'recentAuthMinutes',
    env: 'SESAME_RECENT_AUTH_MINUTES',
    default: 10,
    doc: 'Recent authentication ("sudo mode"): changing how one signs in (methods, recovery codes, app passwords, the password) needs a second factor proved, or for a user without one the password re-entered, in this session within this many minutes.',
    parse: int(1, 60),
  },
  {
    key: 'accountFailureLimit',
    env: 'SESAME_ACCOUNT_FAILURE_LIMIT',
    default: 10,
    doc: 'Consecutive failed sign-ins to one account before it is locked for a while (well under the 100 NIST allows).',
    parse: int(1, 100),
  },
  {
    key: 'ipFailureLimit',
    env: 'SESAME_IP_FAILURE_LIMIT',
    default: 100,
    doc: 'Failed sign-ins from one client IP within 15 minutes before that IP is locked for a while.',
    parse: int(1, 100000),
  },
  {
    key: 'ipPasswordChecksPerMinute',
    env: 'SESAME_IP_PASSWORD_CHECKS_PER_MINUTE',
    default: 60,
    doc: 'Main-password checks (browser, API and mail apps; each costs an Argon2 hash, right or wrong) one client IP may ask for per minute; more are refused until the minute ends (`ip_rate_limited`). Successful sign-ins count too, so a few clients cannot keep the CPU busy for everyone. App passwords do not count. Raise it when many users sign in through one address (a NAT without `SESAME_TRUSTED_PROXIES`).',
    parse: int(1, 1000000),
  },
  {
    key: 'lockBaseSeconds',
    env: 'SESAME_LOCK_BASE_SECONDS',
    default: 60,
    doc: 'Length of the first lock; each further lock within 24 hours doubles it.',
    parse: int(1, 86400),
  },
  { key: 'lockMaxSeconds', env: 'SESAME_LOCK_MAX_SECONDS', default: 3600, doc: 'Longest lock.', parse: int(1, 86400) },
  {
    key: 'argon2Concurrency',
    env: 'SESAME_ARGON2_CONCURRENCY',
    default: 0,
    doc: 'Password hashes (Argon2id, about 20 MiB and tens of milliseconds each) computed at once; the rest wait their turn in a queue. 0: the number of cores.',
    parse: int(0, 256),
  },
  {
    key: 'argon2MaxWaitMs',
    env: 'SESAME_ARGON2_MAX_WAIT_MS',
    default: 2000,
    doc: 'Longest a password check may wait in that queue. A request that would wait longer is refused at once: 503 with `Retry-After` ("try again shortly") on the sign-in pages and API, a temporary failure on the mail endpoints. A flood of sign-ins then costs the other users a quick refusal, not seconds of waiting.',
    parse: int(10, 60_000),
  },
  budget(
    'codesPerUserHour',
    'SESAME_CODES_PER_USER_HOUR',
    10,
    'One-time codes (text, voice call, email; every flow: sign-in, registering a method, a fresh second factor, password reset) sent for one account within an hour.',
  ),
  budget('codesPerUserDay', 'SESAME_CODES_PER_USER_DAY', 30, 'One-time codes sent for one account within a day.'),
  budget(
    'codesPerDestinationHour',
    'SESAME_CODES_PER_DESTINATION_HOUR',
    8,
    'One-time codes sent to one phone number or email address (normalized), for whichever account, within an hour: what stops bombing one victim.',
  ),
  budget(
    'codesPerDestinationDay',
    'SESAME_CODES_PER_DESTINATION_DAY',
    20,
    'One-time codes sent to one phone number or email address within a day.',
  ),
  budget(
    'codesPerOrganizationHour',
    'SESAME_CODES_PER_ORGANIZATION_HOUR',
    300,
    "One-time codes sent for one organization's accounts within an hour. Raise it for large organizations.",
  ),
  budget(
    'codesPerOrganizationDay',
    'SESAME_CODES_PER_ORGANIZATION_DAY',
    2000,
    "One-time codes sent for one organization's accounts within a day.",
  ),
  budget(
    'codesTotalHour',
    'SESAME_CODES_TOTAL_HOUR',
    1000,
    'One-time codes this deployment sends in all within an hour: the ceiling on what a flood can cost.',
  ),
  budget('codesTotalDay', 'SESAME_CODES_TOTAL_DAY', 10000, 'One-time codes this deployment sends in all within a day.'),
  {
    key: 'phoneCountries',
    env: 'SESAME_PHONE_COUNTRIES',
    default: DEFAULT_PHONE_COUNTRIES,
    doc: 'Comma-separated countries (ISO 3166-1 alpha-2 codes such as `NL,BE,DE`) whose phone numbers may be registered for, and get, text and voice codes, in organizations that set no list of their own on their MFA policy page. Default: the European Economic Area, Switzerland and the United Kingdom. Whatever the list, premium-rate, shared-cost, toll-free, VoIP, personal, pager and unknown numbers are refused, and texts need a mobile number.',
    parse: countryList,
  },
  {
    key: 'setPasswordLinkHours',
    env: 'SESAME_SET_PASSWORD_LINK_HOURS',
    default: 72,
    doc: 'How long a one-time set-password link printed by `sesame user add` stays valid.',
    parse: int(1, 24 * 14),
  },
  {
    key: 'signInAggregationMinutes',
    env: 'SESAME_SIGN_IN_AGGREGATION_MINUTES',
    default: 15,
    doc: 'Repeated identical sign-in failures (same account as typed, client IP, protocol, outcome and reason) within a window this long are one sign-in log row with a count and first and last times, so a flood of guesses cannot fill the disk. Successes are never aggregated. 0: one row per attempt.',
    parse: int(0, 24 * 60),
  },
  {
    key: 'signInLogDays',
    env: 'SESAME_SIGN_IN_LOG_DAYS',
    default: 90,
    doc: 'Sign-in log rows older than this many days are removed by retention (`sesame retention`, and hourly by the server). 0: kept forever.',
    parse: int(0, 36500),
  },
  {
    key: 'auditLogDays',
    env: 'SESAME_AUDIT_LOG_DAYS',
    default: 365,
    doc: 'Audit log rows older than this many days are removed by retention. 0: kept forever.',
    parse: int(0, 36500),
  },
  {
    key: 'retentionGraceHours',
    env: 'SESAME_RETENTION_GRACE_HOURS',
    default: 24,
    doc: 'Expired sessions, sign-in flows, one-time tokens and links, trusted devices, lock and rate counters and OpenID Connect payloads are removed by retention this many hours after they expired (kept that long to help diagnose a user report).',
    parse: int(1, 24 * 90),
  },
  {
    key: 'mode',
    env: 'SESAME_MODE',
    default: 'development',
    doc: '`development` or `production`. Production refuses to start without `SESAME_SMTP_URL`, with `SESAME_DEV_OUTBOX` set, with an `http://` public URL that is not loopback, or with unsafe server secrets (keys not from the environment while `DATABASE_URL` is set, one key used twice, a previous key equal to the current one).',
    parse: (raw) =>
      raw === 'development' || raw === 'production' ? raw : new Error('must be development or production'),
  },
  {
    key: 'smtpUrl',
    env: 'SESAME_SMTP_URL',
    default: '',
    doc: 'Mail server for email codes and notices: `smtp://user:password@host:587` (STARTTLS when the server offers it; add `?requireTLS=true` to insist) or `smtps://user:password@host:465` (implicit TLS). Percent-encode special characters in the password. Empty: email goes to the development outbox (refused in production).',
    parse: smtpUrl,
    secret: true,
  },
  {
    key: 'mailFrom',
    env: 'SESAME_MAIL_FROM',
    default: 'Sesame <sesame@localhost>',
    doc: 'Sender (`From`) of every email: `Name <address>` or a bare address.',
    parse: mailbox,
  },
  {
    key: 'smsWebhookUrl',
    env: 'SESAME_SMS_WEBHOOK_URL',
    default: '',
    doc: 'Text and voice codes are POSTed as JSON `{to, channel, text, locale}` to this http(s) URL; any non-2xx answer counts as not sent. Empty: text and voice go to the development outbox, and in production they are not offered.',
    parse: webhookUrl,
    secret: true,
  },
  {
    key: 'smsWebhookSecret',
    env: 'SESAME_SMS_WEBHOOK_SECRET',
    default: '',
    doc: 'Shared secret sent as the `X-Sesame-Secret` header with every webhook request; required (at least 16 characters) when `SESAME_SMS_WEBHOOK_URL` is set.',
    parse: str,
    secret: true,
  },
  {
    key: 'mailBackendImap',
    env: 'SESAME_MAIL_BACKEND_IMAP',
    default: '',
    doc: "host:port of the IMAP server nginx's mail proxy forwards to after a good login (`Auth-Server`/`Auth-Port` of `/auth/nginx-mail`).",
    parse: hostPort,
  },
  {
    key: 'mailBackendPop3',
    env: 'SESAME_MAIL_BACKEND_POP3',
    default: '',
    doc: "host:port of the POP3 server behind nginx's mail proxy.",
    parse: hostPort,
  },
  {
    key: 'mailBackendSmtp',
    env: 'SESAME_MAIL_BACKEND_SMTP',
    default: '',
    doc: "host:port of the SMTP server behind nginx's mail proxy (it must accept XCLIENT from nginx).",
    parse: hostPort,
  },
  {
    key: 'doveadmUrl',
    env: 'SESAME_DOVEADM_URL',
    default: '',
    doc: "Dovecot's doveadm HTTP API, e.g. `http://127.0.0.1:8082/doveadm/v1`. When set, revoking a user's app password flushes their entries from Dovecot's auth cache and kicks their open IMAP/POP3 sessions.",
    parse: (raw) => (raw === '' || /^https?:\/\//.test(raw) ? raw : new Error('must be an http(s) URL')),
  },
  {
    key: 'trustedProxies',
    env: 'SESAME_TRUSTED_PROXIES',
    default: [],
    doc: 'Comma-separated reverse proxies (IP addresses, CIDR ranges such as `10.0.0.0/8`, or `loopback`, `linklocal`, `uniquelocal`) whose `X-Forwarded-For` header gives the client IP. Only the TCP peer is believed otherwise, so throttling, the sign-in log and new-IP notices see the proxy. List only proxies you run: anyone else could name any IP. Empty: none. `X-Forwarded-For` from a peer not listed is ignored, and logged once per process (`untrusted_forwarded_for`, with the peer).',
    parse: proxyList,
  },
  {
    key: 'doveadmApiKey',
    env: 'SESAME_DOVEADM_API_KEY',
    default: '',
    doc: 'The `doveadm_api_key` of that Dovecot.',
    parse: str,
    secret: true,
  },
  {
    key: 'tlsCheckCaFile',
    env: 'SESAME_TLS_CHECK_CA_FILE',
    default: '',
    doc: "Absolute path of a PEM file of CA certificates that the check of an organization's mail settings (admin page Mail settings, `sesame org mail-settings --check`) trusts besides the CAs built into Node.js (Mozilla's list), for mail servers whose certificates a private CA signed. Apps on users' devices must trust that CA too. Read at every check. Empty: the built-in CAs only.",
    parse: absolutePath,
  },
  {
    key: 'geoipCountryFile',
    env: 'SESAME_GEOIP_COUNTRY_FILE',
    default: '',
    doc: "Absolute path of newer IP-to-country data that replaces the copy shipped with Sesame (`@ip-location-db/dbip-country`): a CSV file of IP ranges and their countries (`first,last,CC` a line, IPv4 and IPv6 rows in one file, as in DB-IP's free IP to Country Lite CSV, gunzipped), or a folder of MaxMind's GeoLite2 (or GeoIP2) Country CSV as unzipped (its `*-Blocks-IPv4.csv`, `*-Blocks-IPv6.csv` and `*-Locations-en.csv`). Read once, at the first lookup of a country (restart to read a newer one). Empty: the shipped file. See the admin guide, Named locations.",
    parse: absolutePath,
  },
  {
    key: 'profileSigningCertFile',
    env: 'SESAME_PROFILE_SIGNING_CERT_FILE',
    default: '',
    doc: "Absolute path of the PEM certificate file that signs the configuration profiles (`.mobileconfig`) users download for iPhone, iPad and Mac: the signing certificate first, then its intermediates, as a `fullchain.pem` from Let's Encrypt has them. Set together with `SESAME_PROFILE_SIGNING_KEY_FILE`. Signed by a certificate the device trusts, a profile shows as Verified; unsigned, as Not Verified. Read once at start (restart after a renewal); a file that cannot be read, or a key that is not the certificate's, stops Sesame. See docs/profile-signing.md. Empty: profiles are unsigned.",
    parse: absolutePath,
  },
  {
    key: 'profileSigningKeyFile',
    env: 'SESAME_PROFILE_SIGNING_KEY_FILE',
    default: '',
    doc: "Absolute path of that certificate's private key (PEM: PKCS #8, or traditional RSA or EC; not encrypted). RSA of 2048 bits or more, or ECDSA P-256 or P-384. Only Sesame's user should be able to read it. Set together with `SESAME_PROFILE_SIGNING_CERT_FILE`.",
    parse: absolutePath,
  },
  {
    key: 'answerCacheRows',
    env: 'SESAME_ANSWER_CACHE_ROWS',
    default: 100_000,
    doc: 'How many good app passwords\' answers each Sesame process keeps in memory, so that a device that keeps checking one (a phone polling mail) is answered without reading the store. Everything that can change an answer (a revocation, expiry, a disabled user, a policy, group or location change, from any instance or the CLI) drops them: on SQLite at the next attempt; on PostgreSQL at once on the instance that made the change and within 0.5 s on the others (see "Answers kept in memory" in docs/performance.md). A few hundred bytes each; past the limit all are dropped and memory fills again. 0: every attempt reads the store.',
    parse: int(0, 10_000_000),
  },
  {
    key: 'metricsPort',
    env: 'SESAME_METRICS_PORT',
    default: 0,
    doc: 'Port of a second, monitoring-only listener serving `/healthz`, `/readyz` and `/metrics` (Prometheus); `/metrics` then leaves the main port. 0: no second listener; `/healthz` and `/readyz` are on the main port, and so is `/metrics` when `SESAME_METRICS_TOKEN` is set. See "Monitoring" in the admin guide.',
    parse: int(0, 65535),
  },
  {
    key: 'metricsHost',
    env: 'SESAME_METRICS_HOST',
    default: '',
    doc: 'Address the monitoring listener binds to (only with `SESAME_METRICS_PORT`). Empty: the same as `HOST`.',
    parse: str,
  },
  {
    key: 'ldapPort',
    env: 'SESAME_LDAP_PORT',
    default: 0,
    doc: "Port of the read-only LDAPv3 interface (address books, apps that look users up or check a password; see docs/ldap.md). Clients must use StartTLS before they bind, with the certificate of `SESAME_LDAP_TLS_CERT_FILE`. 389 is LDAP's usual port (binding below 1024 needs privileges). 0: off.",
    parse: int(0, 65535),
  },
  {
    key: 'ldapsPort',
    env: 'SESAME_LDAPS_PORT',
    default: 0,
    doc: 'Port of the same LDAP interface over implicit TLS (LDAPS; usually 636). 0: off.',
    parse: int(0, 65535),
  },
  {
    key: 'ldapHost',
    env: 'SESAME_LDAP_HOST',
    default: '',
    doc: 'Address the LDAP listeners bind to (only with `SESAME_LDAP_PORT` or `SESAME_LDAPS_PORT`). Empty: the same as `HOST`.',
    parse: str,
  },
  {
    key: 'ldapTlsCertFile',
    env: 'SESAME_LDAP_TLS_CERT_FILE',
    default: '',
    doc: "Absolute path of the PEM certificate file of the LDAP listeners (the server's certificate first, then its intermediates). Required when `SESAME_LDAP_PORT` or `SESAME_LDAPS_PORT` is set: a bind always carries a password, so it is accepted over TLS only. Read once at start.",
    parse: absolutePath,
  },
  {
    key: 'ldapTlsKeyFile',
    env: 'SESAME_LDAP_TLS_KEY_FILE',
    default: '',
    doc: "Absolute path of that certificate's private key (PEM, not encrypted). Only Sesame's user should be able to read it.",
    parse: absolutePath,
  },
  {
    key: 'ldapMaxConnections',
    env: 'SESAME_LDAP_MAX_CONNECTIONS',
    default: 1000,
    doc: 'LDAP connections open at once (both ports together). One more is told "busy" (a Notice of Disconnection) and closed, so that idle clients cannot hold all of the process\'s file descriptors.',
    parse: int(1, 100_000),
  },
  {
    key: 'ldapMaxConnectionsPerIp',
    env: 'SESAME_LDAP_MAX_CONNECTIONS_PER_IP',
    default: 100,
    doc: 'LDAP connections one client IP may hold open at once; one more is told "busy" and closed, so that one source cannot take all of `SESAME_LDAP_MAX_CONNECTIONS`. Raise it for a proxy or NAT in front of many clients.',
    parse: int(1, 100_000),
  },
  {
    key: 'ldapIdleTimeoutSeconds',
    env: 'SESAME_LDAP_IDLE_TIMEOUT_SECONDS',
    default: 300,
    doc: 'Seconds an LDAP connection may stay silent before Sesame closes it. Address books reconnect when they need to.',
    parse: int(5, 86_400),
  },
  {
    key: 'ldapSizeLimit',
    env: 'SESAME_LDAP_SIZE_LIMIT',
    default: 1000,
    doc: 'Entries one LDAP search returns at most (then `sizeLimitExceeded`); with the paged-results control, entries per page, with no limit on the pages. A client may ask for fewer.',
    parse: int(1, 100_000),
  },
  {
    key: 'metricsToken',
    env: 'SESAME_METRICS_TOKEN',
    default: '',
    doc: 'Bearer token, at least 16 characters, that `/metrics` then requires (`Authorization: Bearer ...`) on whichever port serves it. Without a metrics port, `/metrics` is served on the main port only when this is set: behind a reverse proxy every request comes from loopback, so the peer address cannot tell Prometheus from the internet.',
    parse: str,
    secret: true,
  },
  {
    key: 'eventWebhookUrl',
    env: 'SESAME_EVENT_WEBHOOK_URL',
    default: '',
    doc: 'Every sign-in (browser, API, mail and calendar apps), lock and audit-log event (MFA changes, app passwords made and revoked, admin changes) is POSTed as JSON `{"events":[...]}` to this http(s) URL shortly after it happens, signed with `X-Sesame-Timestamp` and `X-Sesame-Signature` (see "Forwarding events to a SIEM" in the admin guide). Failed posts are retried with growing waits for about three minutes. One destination per deployment, for all organizations. Empty: none.',
    parse: webhookUrl,
    secret: true,
  },
  {
    key: 'eventWebhookSecret',
    env: 'SESAME_EVENT_WEBHOOK_SECRET',
    default: '',
    doc: "Key of the event webhook's HMAC-SHA-256 signature; required (at least 16 characters) when `SESAME_EVENT_WEBHOOK_URL` is set.",
    parse: str,
    secret: true,
  },
  {
    key: 'syslogUrl',
    env: 'SESAME_SYSLOG_URL',
    default: '',
    doc: 'Syslog server that gets the same events as RFC 5424 lines: `udp://host:514` (one datagram each) or `tcp://host:601` (octet-counted framing, RFC 6587). Structured data `[sesame@32473 ...]` holds the fields. One destination per deployment. Empty: none.',
    parse: syslogUrl,
  },
  {
    key: 'syslogFacility',
    env: 'SESAME_SYSLOG_FACILITY',
    default: 10,
    doc: 'Syslog facility number of forwarded events: 10 is authpriv (security and authorization), 13 log audit, 16-23 local0-local7.',
    parse: int(0, 23),
  },
  {
    key: 'headersTimeoutSeconds',
    env: 'SESAME_HEADERS_TIMEOUT_SECONDS',
    default: 10,
    doc: "Seconds a client has to send a request's headers, from its first byte; then Sesame closes the connection (Node's `headersTimeout`), so clients that send their headers a byte at a time cannot hold connections. At most `SESAME_REQUEST_TIMEOUT_SECONDS`.",
    parse: int(1, 600),
  },
  {
    key: 'requestTimeoutSeconds',
    env: 'SESAME_REQUEST_TIMEOUT_SECONDS',
    default: 30,
    doc: 'Seconds a client has to send a whole request, headers and body (Fastify and Node `requestTimeout`); a body that trickles in is cut off then (408 or the connection closed). It also bounds how long a connection may stay silent (Fastify `connectionTimeout`). Bodies are small (64 KiB at most), so a real client needs well under a second.',
    parse: int(1, 3600),
  },
  {
    key: 'keepAliveTimeoutSeconds',
    env: 'SESAME_KEEP_ALIVE_TIMEOUT_SECONDS',
    default: 72,
    doc: "Seconds an idle keep-alive connection stays open waiting for the next request. Keep it longer than the idle timeout of a load balancer or reverse proxy in front (Fastify's default, 72, is above the usual 60), so that the proxy, not Sesame, closes idle connections.",
    parse: int(1, 3600),
  },
  {
    key: 'devOutbox',
    env: 'SESAME_DEV_OUTBOX',
    default: '',
    doc: 'Development only: file (mode 0600) to which every message without a real channel is appended as one JSON line. Empty: `<data folder>/outbox.jsonl`. Refused in production mode.',
    parse: str,
  },
];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Configuration is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads configuration from an environment (default `process.env`); throws ConfigError listing every problem. */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Config> = {},
): Readonly<Config> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const opt of OPTIONS) {
    const raw = env[opt.env];
    if (raw === undefined || raw === '') {
      out[opt.key] = opt.default;
      continue;
    }
    const v = opt.parse(raw.trim());
    if (v instanceof Error)
      problems.push(
        opt.secret
          ? `${opt.env} ${v.message} (value not shown: it may hold a secret)`
          : `${opt.env}=${JSON.stringify(raw)} ${v.message}`,
      );
    else out[opt.key] = v;
  }
  Object.assign(out, overrides);
  const cfg = out as unknown as Config;
  if (cfg.lockMaxSeconds < cfg.lockBaseSeconds)
    problems.push('SESAME_LOCK_MAX_SECONDS must not be below SESAME_LOCK_BASE_SECONDS');
  if (cfg.headersTimeoutSeconds > cfg.requestTimeoutSeconds)
    problems.push('SESAME_HEADERS_TIMEOUT_SECONDS must not be more than SESAME_REQUEST_TIMEOUT_SECONDS');
  if (cfg.metricsPort !== 0 && cfg.metricsPort === cfg.port)
    problems.push('SESAME_METRICS_PORT must differ from PORT (or be 0 to serve monitoring on the main port)');
  if (cfg.metricsHost && cfg.metricsPort === 0)
    problems.push('SESAME_METRICS_HOST needs SESAME_METRICS_PORT: without it there is no monitoring listener to bind');
  if ((cfg.ldapPort || cfg.ldapsPort) && (!cfg.ldapTlsCertFile || !cfg.ldapTlsKeyFile))
    problems.push(
      'SESAME_LDAP_PORT and SESAME_LDAPS_PORT need SESAME_LDAP_TLS_CERT_FILE and SESAME_LDAP_TLS_KEY_FILE: LDAP binds are accepted over TLS only',
    );
  if (cfg.ldapPort && cfg.ldapPort === cfg.ldapsPort)
    problems.push('SESAME_LDAP_PORT and SESAME_LDAPS_PORT must differ');
  for (const [name, p] of [
    ['SESAME_LDAP_PORT', cfg.ldapPort],
    ['SESAME_LDAPS_PORT', cfg.ldapsPort],
  ] as const)
    if (p && (p === cfg.port || p === cfg.metricsPort))
      problems.push(`${name} must differ from PORT and SESAME_METRICS_PORT`);
  if (cfg.metricsToken && cfg.metricsToken.length < 16)
    problems.push('SESAME_METRICS_TOKEN must be at least 16 characters');
  if (!cfg.profileSigningCertFile !== !cfg.profileSigningKeyFile)
    problems.push(
      'SESAME_PROFILE_SIGNING_CERT_FILE and SESAME_PROFILE_SIGNING_KEY_FILE go together: set both to sign configuration profiles, or neither',
    );
  if (cfg.smsWebhookUrl && cfg.smsWebhookSecret.length < 16) {
    problems.push('SESAME_SMS_WEBHOOK_SECRET must be set, at least 16 characters, when SESAME_SMS_WEBHOOK_URL is set');
  }
  if (cfg.eventWebhookUrl && cfg.eventWebhookSecret.length < 16)
    problems.push(
      'SESAME_EVENT_WEBHOOK_SECRET must be set, at least 16 characters, when SESAME_EVENT_WEBHOOK_URL is set',
    );
  // fetch() refuses URLs with credentials: every post would fail. The signature is the authentication.
  if (cfg.eventWebhookUrl && /^[a-z]+:\/\/[^/]*@/i.test(cfg.eventWebhookUrl))
    problems.push(
      'SESAME_EVENT_WEBHOOK_URL must not contain a user name or password (value not shown): the signature header authenticates Sesame',
    );
  if (!cfg.publicUrl) cfg.publicUrl = `http://${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${cfg.port}`;
  if (cfg.mode === 'production') {
    // The server secrets are checked where they are read, before any is generated: loadSecrets (secrets.ts).
    if (!cfg.smtpUrl)
      problems.push(
        'SESAME_MODE=production needs SESAME_SMTP_URL: without it email would go to the development outbox',
      );
    if (cfg.devOutbox)
      problems.push('SESAME_DEV_OUTBOX must not be set in production mode: the development outbox is refused there');
    const plain = plainHttpHostElsewhere(cfg.publicUrl);
    if (plain)
      problems.push(
        `SESAME_MODE=production needs an https SESAME_PUBLIC_URL (plain http is allowed only on loopback), not http://${plain}`,
      );
  }
  if (problems.length) throw new ConfigError(problems);
  cfg.dataDir = path.resolve(cfg.dataDir);
  cfg.devOutbox =
    cfg.mode === 'production'
      ? ''
      : cfg.devOutbox
        ? path.resolve(cfg.devOutbox)
        : path.join(cfg.dataDir, 'outbox.jsonl');
  return Object.freeze(cfg);
}

/** For an http:// URL whose host is not loopback (localhost, 127.0.0.0/8, ::1), its host[:port]; else ''. */
function plainHttpHostElsewhere(publicUrl: string): string {
  let u: URL;
  try {
    u = new URL(publicUrl);
  } catch {
    return ''; // an unparsable value has been reported already
  }
  if (u.protocol !== 'http:') return '';
  const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const loopback =
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    (net.isIPv4(host) && host.startsWith('127.')) ||
    host === '::1';
  return loopback ? '' : u.host;
}
