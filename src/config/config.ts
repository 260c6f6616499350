/**
 * Configuration: one table of options, each with its environment variable, default and reason.
 * docs/configuration.md is written from this table; `loadConfig` reports every bad value at once
 * and returns a frozen object.
 */
import path from 'node:path';

export interface Config {
  host: string;
  port: number;
  /** Where SQLite and generated secrets live. */
  dataDir: string;
  /** postgres://... switches the store to PostgreSQL; empty means SQLite in dataDir. */
  databaseUrl: string;
  /** The URL users reach Sesame at; decides cookie `Secure` and links printed by the CLI. */
  publicUrl: string;
  logLevel: string;
  sessionIdleMinutes: number;
  sessionAbsoluteHours: number;
  /** Failed sign-ins per account before a temporary lock (locks grow: 60 s, 120 s, ... 1 h). */
  accountFailureLimit: number;
  /** Failed sign-ins per client IP within 15 minutes before that IP is locked. */
  ipFailureLimit: number;
  /** First lock length in seconds; each further lock within 24 h doubles it, up to lockMaxSeconds. */
  lockBaseSeconds: number;
  lockMaxSeconds: number;
  /** Hours a one-time set-password link stays valid. */
  setPasswordLinkHours: number;
}

interface Option<K extends keyof Config> {
  key: K;
  env: string;
  default: Config[K];
  doc: string;
  parse: (raw: string) => Config[K] | Error;
}

const int = (min: number, max: number) => (raw: string): number | Error => {
  if (!/^\d+$/.test(raw)) return new Error(`must be a whole number from ${min} to ${max}`);
  const n = Number(raw);
  return n >= min && n <= max ? n : new Error(`must be a whole number from ${min} to ${max}`);
};
const str = (raw: string) => raw;
const url = (raw: string): string | Error => {
  try {
    const u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return new Error('must be an http or https URL');
    return raw.replace(/\/+$/, '');
  } catch {
    return new Error('must be an absolute URL such as https://id.example.org');
  }
};

export const OPTIONS: Option<keyof Config>[] = [
  { key: 'host', env: 'HOST', default: '127.0.0.1', doc: 'Address to listen on. Loopback by default: put a TLS reverse proxy in front.', parse: str },
  { key: 'port', env: 'PORT', default: 8080, doc: 'TCP port to listen on.', parse: int(0, 65535) },
  { key: 'dataDir', env: 'SESAME_DATA_DIR', default: './data', doc: 'Folder for the SQLite store and generated server secrets (mode 0700).', parse: str },
  { key: 'databaseUrl', env: 'DATABASE_URL', default: '', doc: 'postgres://user:pass@host/db switches the store to PostgreSQL. Empty: SQLite in the data folder.', parse: (raw) => (raw === '' || /^postgres(ql)?:\/\//.test(raw) ? raw : new Error('must start with postgres:// (or be empty for SQLite)')) },
  { key: 'publicUrl', env: 'SESAME_PUBLIC_URL', default: '', doc: 'Public URL of this service (https in production). Default: http://HOST:PORT. Cookies are Secure and __Host- prefixed when it is https.', parse: url },
  { key: 'logLevel', env: 'LOG_LEVEL', default: 'info', doc: 'pino log level: fatal, error, warn, info, debug, trace or silent.', parse: (raw) => (['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(raw) ? raw : new Error('must be one of fatal, error, warn, info, debug, trace, silent')) },
  { key: 'sessionIdleMinutes', env: 'SESAME_SESSION_IDLE_MINUTES', default: 30, doc: 'A browser session unused this long ends (NIST SP 800-63B).', parse: int(1, 24 * 60) },
  { key: 'sessionAbsoluteHours', env: 'SESAME_SESSION_ABSOLUTE_HOURS', default: 12, doc: 'A browser session ends this long after sign-in, used or not.', parse: int(1, 24 * 30) },
  { key: 'accountFailureLimit', env: 'SESAME_ACCOUNT_FAILURE_LIMIT', default: 10, doc: 'Consecutive failed sign-ins to one account before it is locked for a while (well under the 100 NIST allows).', parse: int(1, 100) },
  { key: 'ipFailureLimit', env: 'SESAME_IP_FAILURE_LIMIT', default: 100, doc: 'Failed sign-ins from one client IP within 15 minutes before that IP is locked for a while.', parse: int(1, 100000) },
  { key: 'lockBaseSeconds', env: 'SESAME_LOCK_BASE_SECONDS', default: 60, doc: 'Length of the first lock; each further lock within 24 hours doubles it.', parse: int(1, 86400) },
  { key: 'lockMaxSeconds', env: 'SESAME_LOCK_MAX_SECONDS', default: 3600, doc: 'Longest lock.', parse: int(1, 86400) },
  { key: 'setPasswordLinkHours', env: 'SESAME_SET_PASSWORD_LINK_HOURS', default: 72, doc: 'How long a one-time set-password link printed by `sesame user add` stays valid.', parse: int(1, 24 * 14) },
];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Configuration is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads configuration from an environment (default `process.env`); throws ConfigError listing every problem. */
export function loadConfig(env: Record<string, string | undefined> = process.env, overrides: Partial<Config> = {}): Readonly<Config> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const opt of OPTIONS) {
    const raw = env[opt.env];
    if (raw === undefined || raw === '') {
      out[opt.key] = opt.default;
      continue;
    }
    const v = opt.parse(raw.trim());
    if (v instanceof Error) problems.push(`${opt.env}=${JSON.stringify(raw)} ${v.message}`);
    else out[opt.key] = v;
  }
  Object.assign(out, overrides);
  const cfg = out as unknown as Config;
  if (cfg.lockMaxSeconds < cfg.lockBaseSeconds) problems.push('SESAME_LOCK_MAX_SECONDS must not be below SESAME_LOCK_BASE_SECONDS');
  if (problems.length) throw new ConfigError(problems);
  cfg.dataDir = path.resolve(cfg.dataDir);
  if (!cfg.publicUrl) cfg.publicUrl = `http://${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${cfg.port}`;
  return Object.freeze(cfg);
}
