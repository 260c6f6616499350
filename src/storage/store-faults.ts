/**
 * Recognises the store failures that are nobody's fault in the request: PostgreSQL away (stopped,
 * restarting, unreachable, out of connections), SQLite locked by another connection past the busy
 * timeout, and a full disk. Each becomes a typed error with a stable code, so the user is told
 * "temporarily unavailable", "busy" or "storage full" (503, 503, 507) in their language instead
 * of a generic 500, and the operator gets one log line that says what to look at. Anything else
 * (a constraint violation, a bug) is not a store fault and keeps its own handling.
 */
import { SesameError } from '../domain/errors.js';

export type StoreFaultCode = 'store_unavailable' | 'store_busy' | 'store_full';

/** The operator's log line for each fault: what happened and what to do. */
export const STORE_FAULT_LOG: Record<StoreFaultCode, string> = {
  store_unavailable:
    'store unavailable: the database cannot be reached or is restarting; answering 503 until it is back',
  store_busy:
    'store busy: the SQLite database stayed locked by another connection longer than the busy timeout; answering 503',
  store_full:
    'store full: no space left on the device holding the database; free disk space (Sesame recovers by itself)',
};

/** Seconds a client is asked to wait (Retry-After) before trying again. */
export const STORE_FAULT_RETRY_SECONDS = 5;

// Node's socket errors when PostgreSQL is down or unreachable.
const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);
// SQLSTATEs: class 08 (connection exception); 57P01-57P03 (admin or crash shutdown, starting up:
// the restart itself); 53300 too many connections; 53000 insufficient resources.
const PG_UNAVAILABLE = /^(08...|57P0[1-3]|53300|53000)$/;
// pg's own messages for a connection that died without a SQLSTATE.
const PG_GONE =
  /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect|Connection terminated due to connection timeout)/;

function codeOf(e: unknown): string {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : '';
}

function classify(e: unknown, depth = 0): StoreFaultCode | undefined {
  if (!e || typeof e !== 'object' || depth > 3) return undefined;
  const code = codeOf(e);
  // better-sqlite3: SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED, SQLITE_LOCKED_SHAREDCACHE, ...
  if (/^SQLITE_(BUSY|LOCKED)/.test(code)) return 'store_busy';
  // SQLite, PostgreSQL (53100 disk_full) and the file system (ENOSPC, EDQUOT) on a full disk.
  if (code === 'SQLITE_FULL' || code === '53100' || code === 'ENOSPC' || code === 'EDQUOT') return 'store_full';
  // The database file cannot be read or written (removed, unmounted, an I/O error).
  if (/^SQLITE_(IOERR|CANTOPEN)/.test(code)) return 'store_unavailable';
  if (NETWORK.has(code) || PG_UNAVAILABLE.test(code)) return 'store_unavailable';
  if (e instanceof Error && !code && PG_GONE.test(e.message)) return 'store_unavailable';
  // Connecting to "localhost" tries every address: Node reports an AggregateError of them all.
  const inner = [
    (e as { cause?: unknown }).cause,
    ...(((e as { errors?: unknown }).errors as unknown[] | undefined) ?? []),
  ];
  for (const i of inner) {
    const f = classify(i, depth + 1);
    if (f) return f;
  }
  return undefined;
}

/** The typed error for a store fault, or undefined when `e` is something else. */
export function storeFault(e: unknown): SesameError | undefined {
  if (e instanceof SesameError)
    return e.code === 'store_unavailable' || e.code === 'store_busy' || e.code === 'store_full' ? e : undefined;
  const code = classify(e);
  if (!code) return undefined;
  const raw = e instanceof Error ? e.message : String(e);
  const c = codeOf(e);
  // A full disk is not over in seconds: no Retry-After for it.
  return new SesameError(
    code,
    `${c ? `${c}: ` : ''}${raw}`.slice(0, 500),
    code === 'store_full' ? {} : { retryAfterSeconds: STORE_FAULT_RETRY_SECONDS },
  );
}
