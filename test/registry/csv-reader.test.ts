import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AimeshError } from '../../src/kernel/errors.js';
import { readCsv } from '../../src/registry/csv-reader.js';

const limits = { maxBytes: 1_000_000, maxColumns: 50, maxRows: 1_000 };
const encode = (text: string) => new TextEncoder().encode(text);

/** Writes a table as RFC 4180 CSV: fields with a comma, quote or line break are quoted. */
function writeCsv(rows: string[][], newline: string): string {
  const field = (f: string) => (/[",\r\n]/.test(f) || f === '' ? `"${f.replaceAll('"', '""')}"` : f);
  return rows.map((r) => r.map(field).join(',')).join(newline) + newline;
}

describe('CSV reader', () => {
  it('reads back any table it is given, quoted fields and CRLF included', () => {
    const name = fc.string({ minLength: 1, maxLength: 8 }).filter((s) => s.trim() === s && s.trim() !== '');
    const table = fc.integer({ min: 1, max: 6 }).chain((width) =>
      fc.record({
        header: fc.uniqueArray(name, { minLength: width, maxLength: width }),
        rows: fc.array(fc.array(fc.string({ maxLength: 10 }), { minLength: width, maxLength: width }), {
          minLength: 1,
          maxLength: 8,
        }),
      }),
    );
    fc.assert(
      fc.property(table, fc.constantFrom('\n', '\r\n'), ({ header, rows }, newline) => {
        const parsed = readCsv(encode(writeCsv([header, ...rows], newline)), limits);
        expect(parsed).toEqual({ header, rows });
      }),
      { numRuns: 300 },
    );
  });

  it('answers any byte sequence with a table or a 4xx AimeshError, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          const table = readCsv(bytes, limits);
          for (const row of table.rows) expect(row).toHaveLength(table.header.length);
        } catch (error) {
          expect(error).toBeInstanceOf(AimeshError);
          expect((error as AimeshError).status).toBeGreaterThanOrEqual(400);
          expect((error as AimeshError).status).toBeLessThan(500);
        }
      }),
      { numRuns: 1_000 },
    );
  });

  it('names the row of a ragged line and the offset of a bad byte', () => {
    expect(() => readCsv(encode('a,b\n1,2\n3,4,5\n'), limits)).toThrowError(
      'row 3 has 3 fields; the header has 2',
    );
    expect(() => readCsv(new Uint8Array([0x61, 0x0a, 0x31, 0xc3, 0x28, 0x0a]), limits)).toThrowError(
      'first bad byte near offset 3',
    );
    expect(() => readCsv(encode('a,a\n1,2\n'), limits)).toThrowError('column name "a" appears twice');
    expect(() => readCsv(encode(`a\n${'1\n'.repeat(1_001)}`), limits)).toThrowError(
      'more than 1000 data rows',
    );
  });
});
