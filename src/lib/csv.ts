/**
 * CSV in and out, RFC 4180 (quoted fields, doubled quotes, CRLF or LF), UTF-8 only. Parsing is
 * csv-parse's; this module adds what it leaves to the caller: refusing bytes that are not UTF-8
 * (a Latin-1 or UTF-16 export from a spreadsheet would otherwise turn into wrong addresses
 * silently), accepting a UTF-8 byte-order mark, and writing fields back out safely.
 */
import { parse } from 'csv-parse/sync';

export type CsvProblem =
  /** Not UTF-8: the message says what it looks like instead. */
  | { kind: 'encoding'; detail: 'utf16' | 'utf32' | 'invalid_utf8' | 'nul' }
  /** Not well-formed CSV (an unclosed quote, a quote inside an unquoted field). */
  | { kind: 'syntax'; row: number; detail: string };

export class CsvError extends Error {
  constructor(readonly problem: CsvProblem) {
    super(
      problem.kind === 'encoding'
        ? `not UTF-8 (${problem.detail})`
        : `CSV syntax error at row ${problem.row}: ${problem.detail}`,
    );
    this.name = 'CsvError';
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * The text of a UTF-8 file, its byte-order mark dropped. UTF-16 and UTF-32 (by their byte-order
 * marks), invalid UTF-8 (such as Latin-1 bytes) and NUL characters (UTF-16 without a mark) are
 * refused with a CsvError of kind `encoding`.
 */
export function decodeUtf8(bytes: Uint8Array): string {
  const b = bytes;
  if (
    b.length >= 4 &&
    ((b[0] === 0xff && b[1] === 0xfe && b[2] === 0 && b[3] === 0) ||
      (b[0] === 0 && b[1] === 0 && b[2] === 0xfe && b[3] === 0xff))
  ) {
    throw new CsvError({ kind: 'encoding', detail: 'utf32' });
  }
  if (b.length >= 2 && ((b[0] === 0xff && b[1] === 0xfe) || (b[0] === 0xfe && b[1] === 0xff)))
    throw new CsvError({ kind: 'encoding', detail: 'utf16' });
  let text: string;
  try {
    // With ignoreBOM false the decoder drops a leading UTF-8 byte-order mark itself.
    text = strictUtf8.decode(b);
  } catch {
    throw new CsvError({ kind: 'encoding', detail: 'invalid_utf8' });
  }
  if (text.includes('\u0000')) throw new CsvError({ kind: 'encoding', detail: 'nul' });
  return text;
}

/** One record of a file: its fields and its row number (1 = the first record, the header if there is one). */
export interface CsvRecord {
  row: number;
  fields: string[];
}

/**
 * The records of a CSV text, blank lines left out (their row numbers are kept, so a row number
 * still points at the right record). Records may have different numbers of fields; the caller
 * decides what a short or long row means.
 */
export function parseCsv(text: string): CsvRecord[] {
  let records: string[][];
  try {
    records = parse(text, { relax_column_count: true, skip_empty_lines: false }) as string[][];
  } catch (e) {
    const err = e as { code?: string; lines?: number };
    throw new CsvError({ kind: 'syntax', row: err.lines ?? 0, detail: err.code ?? 'CSV_INVALID' });
  }
  const out: CsvRecord[] = [];
  records.forEach((fields, i) => {
    if (!(fields.length === 1 && fields[0]!.trim() === '')) out.push({ row: i + 1, fields });
  });
  return out;
}

/**
 * One CSV line (CRLF-terminated, as RFC 4180 has it). Fields with a comma, quote or line break
 * are quoted. A field that a spreadsheet would run as a formula (starting with =, +, -, @, tab
 * or carriage return) gets a leading apostrophe, so an exported display name cannot become a
 * formula in the admin's spreadsheet (OWASP "CSV injection").
 */
export function csvLine(fields: readonly (string | number)[]): string {
  return `${fields.map((f) => csvField(String(f))).join(',')}\r\n`;
}

function csvField(raw: string): string {
  // Apostrophes already in front get one more, so that unguardField gives back exactly what was written.
  const s = /^'*[=+\-@\t\r]/.test(raw) ? `'${raw}` : raw;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Undoes csvLine's formula guard on a field read back in, so an exported file imports as it was. */
export function unguardField(s: string): string {
  return /^''*[=+\-@\t\r]/.test(s) ? s.slice(1) : s;
}
