/**
 * The CSV file of a bulk membership change (the group page's upload, `sesame group import`): a
 * header row naming the columns `address` and `group`, in any order and case; other columns are
 * ignored. Row numbers count the header as row 1, as a spreadsheet shows them.
 */
import { CsvError, decodeUtf8, parseCsv, unguardField } from '../../lib/csv.js';
import { SesameError } from '../errors.js';

export interface MembershipRow {
  row: number;
  address: string;
  group: string;
}

/** At most this many rows in one file: the whole file is checked, and applied, in one go. */
export const MEMBERSHIP_ROWS_MAX = 5000;

export function membershipRowsFromCsv(bytes: Uint8Array): MembershipRow[] {
  let records;
  try {
    records = parseCsv(decodeUtf8(bytes));
  } catch (e) {
    if (!(e instanceof CsvError)) throw e;
    if (e.problem.kind === 'encoding') throw new SesameError('csv_encoding', `group file refused: ${e.message}`);
    throw new SesameError('csv_invalid', `group file refused: ${e.message}`, { params: { row: e.problem.row } });
  }
  const header = records.shift()?.fields.map((f) => f.trim().toLowerCase()) ?? [];
  const address = header.indexOf('address');
  const group = header.indexOf('group');
  if (address < 0 || group < 0)
    throw new SesameError(
      'csv_columns',
      `group file header has ${JSON.stringify(header.slice(0, 10).join(',').slice(0, 200))}`,
      {
        variant: 'group',
      },
    );
  if (records.length === 0) throw new SesameError('bulk_empty', 'group file has no rows', { variant: 'group' });
  if (records.length > MEMBERSHIP_ROWS_MAX)
    throw new SesameError('bulk_too_large', `group file has ${records.length} rows`, {
      params: { max: MEMBERSHIP_ROWS_MAX },
      variant: 'group',
    });
  return records.map((r) => ({
    row: r.row,
    address: unguardField(r.fields[address] ?? '').trim(),
    group: unguardField(r.fields[group] ?? '').trim(),
  }));
}
