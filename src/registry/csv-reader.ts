import { AimeshError, badRequest } from '../kernel/errors.js';

/** Bounds on what a CSV upload may be. */
export interface CsvLimits {
  maxBytes: number;
  maxColumns: number;
  maxRows: number;
}

/** A parsed CSV: the header and the data rows, every row as long as the header. */
export interface CsvTable {
  header: string[];
  rows: string[][];
}

/**
 * Decodes and parses a CSV upload (RFC 4180: commas, double-quoted fields, "" escapes, CRLF or
 * LF), enforcing the limits with a 4xx that says what is wrong and where.
 */
export function readCsv(data: Uint8Array, limits: CsvLimits): CsvTable {
  if (data.byteLength === 0) throw badRequest('empty_dataset', 'the CSV is empty');
  if (data.byteLength > limits.maxBytes) {
    throw new AimeshError(
      'dataset_too_large',
      413,
      `the CSV is ${data.byteLength} bytes; at most ${limits.maxBytes} are accepted (registry.datasets.maxBytes)`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(data);
  } catch {
    throw badRequest(
      'invalid_encoding',
      `the CSV is not valid UTF-8 (first bad byte near offset ${badByteOffset(data)})`,
    );
  }
  const records = parseRecords(text, limits);
  if (records.length === 0) throw badRequest('empty_dataset', 'the CSV has no header row');
  const header = records[0].map((h) => h.trim());
  if (header.length > limits.maxColumns) {
    throw badRequest(
      'too_many_columns',
      `the CSV has ${header.length} columns; at most ${limits.maxColumns} are accepted (registry.datasets.maxColumns)`,
    );
  }
  const seen = new Set<string>();
  header.forEach((name, i) => {
    if (name === '') throw badRequest('invalid_header', `column ${i + 1} of the header has no name`);
    if (seen.has(name))
      throw badRequest('invalid_header', `column name "${name}" appears twice in the header`);
    seen.add(name);
  });
  const rows = records.slice(1);
  if (rows.length === 0) throw badRequest('empty_dataset', 'the CSV has a header but no data rows');
  rows.forEach((row, i) => {
    if (row.length !== header.length) {
      throw badRequest(
        'ragged_rows',
        `row ${i + 2} has ${row.length} fields; the header has ${header.length}`,
      );
    }
  });
  return { header, rows };
}

function badByteOffset(data: Uint8Array): number {
  // Binary search for the shortest prefix that no longer decodes.
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let lo = 0;
  let hi = data.byteLength;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    try {
      decoder.decode(data.subarray(0, mid + 1));
      lo = mid + 1;
    } catch {
      hi = mid;
    }
  }
  return lo;
}

function parseRecords(text: string, limits: CsvLimits): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  // Whether the current line had any character at all: wholly empty lines are skipped (a
  // trailing newline, blank lines), while `""` is a record with one empty field.
  let touched = false;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const endRecord = () => {
    if (!touched) return;
    touched = false;
    record.push(field);
    field = '';
    // A bound on the header width before a wide file is held in memory as rows.
    if (records.length === 0 && record.length > limits.maxColumns) {
      throw badRequest(
        'too_many_columns',
        `the CSV has ${record.length} columns; at most ${limits.maxColumns} are accepted (registry.datasets.maxColumns)`,
      );
    }
    records.push(record);
    record = [];
    if (records.length > limits.maxRows + 1) {
      throw badRequest(
        'too_many_rows',
        `the CSV has more than ${limits.maxRows} data rows (registry.datasets.maxRows)`,
      );
    }
  };
  while (i < text.length) {
    const c = text[i];
    if (c !== '\n' && c !== '\r') touched = true;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      endRecord();
      if (c === '\r' && text[i + 1] === '\n') i++;
    } else field += c;
    i++;
  }
  if (quoted) throw badRequest('invalid_csv', 'the CSV ends inside a quoted field (a " is not closed)');
  endRecord();
  return records;
}
