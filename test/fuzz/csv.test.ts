/**
 * Property-based fuzzing of the CSV files of the admin Users console (platform/csv.ts around
 * csv-parse, domain/accounts/user-csv.ts): whatever is written comes back as it was (quotes,
 * commas, line breaks, formula-like cells), arbitrary bytes are either read as UTF-8 or refused
 * with the encoding error and nothing else, and a bulk file never yields anything but rows or one
 * of the typed CSV errors. Seed and size: test/fuzz/settings.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { bulkRowsFromCsv } from '../../src/domain/accounts/user-csv.js';
import { SesameError } from '../../src/domain/errors.js';
import { CsvError, csvLine, decodeUtf8, parseCsv, unguardField } from '../../src/lib/csv.js';
import { hostileString, params } from './settings.js';

/** A cell without NUL (refused as an encoding problem, on purpose). */
const cell = hostileString(40).map((s) => s.replace(/\u0000/g, ''));

describe('CSV fuzzing', () => {
  it('what csvLine writes, parseCsv and unguardField read back unchanged', () => {
    fc.assert(
      fc.property(fc.array(fc.array(cell, { minLength: 2, maxLength: 6 }), { minLength: 1, maxLength: 8 }), (rows) => {
        // After a header, as every file Sesame writes has: a U+FEFF at the very start is a byte-order mark.
        const text = csvLine(['address', 'name']) + rows.map((r) => csvLine(r)).join('');
        const back = parseCsv(decodeUtf8(Buffer.from(text, 'utf8')))
          .slice(1)
          .map((r) => r.fields.map(unguardField));
        // Lone surrogates cannot be written as UTF-8: they come back as U+FFFD, like any UTF-8 encoder does.
        const want = rows.map((r) => r.map((c) => Buffer.from(c, 'utf8').toString('utf8')));
        assert.deepEqual(back, want);
      }),
      params(300),
    );
  });

  it('a written cell never starts with a formula character', () => {
    fc.assert(
      fc.property(cell, (c) => {
        const line = csvLine([c, 'x']);
        assert.doesNotMatch(line.replace(/^"/, ''), /^[=+\-@\t\r]/);
      }),
      params(500),
    );
  });

  it('arbitrary bytes: UTF-8 text, or the encoding error, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          const text = decodeUtf8(bytes);
          assert.ok(!text.includes('\u0000'));
          assert.equal(
            Buffer.from(text, 'utf8').equals(
              Buffer.from(bytes).subarray(bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0),
            ),
            true,
          );
        } catch (e) {
          assert.ok(e instanceof CsvError && e.problem.kind === 'encoding', String(e));
        }
      }),
      params(1000),
    );
  });

  it('a bulk file of arbitrary text gives rows or a typed CSV error', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          hostileString(300),
          fc.array(cell, { maxLength: 20 }).map((cs) => `address,mfa_state\r\n${cs.join(',')}`),
        ),
        (text) => {
          try {
            const rows = bulkRowsFromCsv(Buffer.from(text, 'utf8'), 'mfa');
            for (const r of rows) assert.ok(Number.isSafeInteger(r.row) && r.row >= 2 && typeof r.address === 'string');
          } catch (e) {
            assert.ok(
              e instanceof SesameError && ['csv_encoding', 'csv_invalid', 'csv_columns'].includes(e.code),
              String(e),
            );
          }
        },
      ),
      params(500),
    );
  });
});
