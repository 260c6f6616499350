/**
 * The sign-in log as a download, for the admin page and the JSON API alike: CSV (RFC 4180, through
 * platform/csv.ts, which also neutralises cells a spreadsheet would run as formulas) or JSON lines
 * (one event per line, the fields the API returns). Rows are written as the store yields them,
 * page by page, so an export of a million rows never sits in memory.
 */
import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { SignInEvent } from '../../domain/audit/events.js';
import { csvLine } from '../../lib/csv.js';
import { iso } from '../../web/api.js';
import type { CountryOf } from '../../web/countries.js';

export type ExportFormat = 'csv' | 'jsonl';

export const CSV_COLUMNS = [
  'time',
  'account_typed',
  'outcome',
  'reason',
  'protocol',
  'ip',
  'user_agent',
  'app_password',
  // Last, so that a reader of the older columns by position still works: an aggregated row's count and last time,
  // then the address's country (looked up at export time from the offline table, not stored).
  'count',
  'last_time',
  'country',
] as const;

/**
 * A sign-in log row as the JSON API and the JSON-lines export show it (never a secret: there is
 * none in the row). `country`: the address's ISO code from the offline table, null when unknown.
 */
export function signInEventOut(e: SignInEvent, country: CountryOf) {
  return {
    id: e.id,
    at: iso(e.at),
    addressTyped: e.addressTyped,
    outcome: e.outcome,
    reason: e.reason,
    protocol: e.protocol,
    ip: e.ip,
    userAgent: e.userAgent,
    appPasswordName: e.appPasswordName ?? null,
    /** Identical attempts this row stands for (repeated failures are aggregated); `at` is the first, `lastAt` the last. */
    count: e.count ?? 1,
    lastAt: iso(e.lastAt ?? e.at),
    country: country(e.ip) ?? null,
  };
}

async function* lines(
  events: AsyncIterable<SignInEvent>,
  format: ExportFormat,
  country: CountryOf,
): AsyncGenerator<string> {
  if (format === 'csv') {
    yield csvLine(CSV_COLUMNS);
    for await (const e of events) {
      const o = signInEventOut(e, country);
      yield csvLine([
        o.at,
        o.addressTyped,
        o.outcome,
        o.reason,
        o.protocol,
        o.ip,
        o.userAgent,
        o.appPasswordName ?? '',
        String(o.count),
        o.lastAt,
        o.country ?? '',
      ]);
    }
    return;
  }
  for await (const e of events) yield `${JSON.stringify(signInEventOut(e, country))}\n`;
}

/**
 * Sends `events` as a file download. The answer starts before the last row is read; a store
 * failure midway cuts the download short (the status line is already out), which the client sees
 * as a truncated transfer rather than a complete-looking file.
 */
export function sendSignInExport(
  reply: FastifyReply,
  events: AsyncIterable<SignInEvent>,
  format: ExportFormat,
  now: number,
  country: CountryOf,
): FastifyReply {
  const stamp = new Date(now).toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
  return reply
    .header('content-type', format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
    .header('content-disposition', `attachment; filename="sign-ins-${stamp}.${format}"`)
    .header('cache-control', 'no-store')
    .send(Readable.from(lines(events, format, country), { objectMode: false }));
}
