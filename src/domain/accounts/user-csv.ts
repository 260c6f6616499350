/**
 * The CSV files of the admin Users console: what `sesame users export` writes, and what a bulk
 * change reads (web upload, `sesame users import`). An import needs a header row naming the
 * columns `address` and (for setting MFA states) `mfa_state`, in any order and case; other columns
 * are ignored, so an exported file can be edited in a spreadsheet and imported again as it is.
 */
import { CsvError, csvLine, decodeUtf8, parseCsv, unguardField } from '../../lib/csv.js';
import { SesameError } from '../errors.js';
import type { BulkOperation, BulkRowInput } from './bulk-changes.js';
import type { DirectoryEntry } from './directory.js';

export const EXPORT_COLUMNS = [
  'address',
  'name',
  'status',
  'role',
  'mfa_state',
  'methods',
  'app_passwords',
  'last_sign_in',
  'created_at',
] as const;

/** The header line of an export. */
export function exportHeader(): string {
  return csvLine(EXPORT_COLUMNS);
}

const iso = (ms: number | null) => (ms === null ? '' : new Date(ms).toISOString());

/** One user as an export line (methods space-separated; times ISO 8601 in UTC, empty for never). */
export function exportLine(u: DirectoryEntry): string {
  return csvLine([
    u.address,
    u.name,
    u.status,
    u.role,
    u.mfaState,
    u.methods.join(' '),
    u.appPasswordCount,
    iso(u.lastSignInAt),
    iso(u.createdAt),
  ]);
}

/**
 * The rows of a bulk-change file. Refuses a file that is not UTF-8 (`csv_encoding`), not
 * well-formed CSV (`csv_invalid`, with the row) or without the needed columns (`csv_columns`).
 * Row numbers count the header as row 1, as a spreadsheet shows them.
 */
export function bulkRowsFromCsv(bytes: Uint8Array, operation: BulkOperation): BulkRowInput[] {
  let records;
  try {
    records = parseCsv(decodeUtf8(bytes));
  } catch (e) {
    if (!(e instanceof CsvError)) throw e;
    if (e.problem.kind === 'encoding') throw new SesameError('csv_encoding', `bulk file refused: ${e.message}`);
    throw new SesameError('csv_invalid', `bulk file refused: ${e.message}`, { params: { row: e.problem.row } });
  }
  const header = records.shift()?.fields.map((f) => f.trim().toLowerCase()) ?? [];
  const address = header.indexOf('address');
  const state = header.indexOf('mfa_state');
  if (address < 0 || (operation === 'mfa' && state < 0))
    throw new SesameError(
      'csv_columns',
      `bulk file header has ${JSON.stringify(header.slice(0, 10).join(',').slice(0, 200))}`,
    );
  return records.map((r) => ({
    row: r.row,
    address: unguardField(r.fields[address] ?? ''),
    state: state < 0 ? undefined : (r.fields[state] ?? ''),
  }));
}
