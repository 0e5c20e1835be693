import type { CsvTable } from './csv-reader.js';

/** A column's inferred type: `integer` values are also valid where `number` is expected. */
export type ColumnType = 'integer' | 'number' | 'boolean' | 'string';

/** One column of a dataset version: its inferred type and its statistics. */
export interface ColumnProfile {
  name: string;
  type: ColumnType;
  nullable: boolean;
  /** Non-empty cells. */
  count: number;
  /** Empty cells. */
  missing: number;
  min?: number;
  max?: number;
  mean?: number;
  std?: number;
  /** Distinct non-empty values, counted up to DISTINCT_CAP (then reported as the cap). */
  distinct: number;
  /** The most frequent values of a string or boolean column, up to five. */
  top?: { value: string; count: number }[];
}

/** A column a dataset version is expected to have, for validation. */
export interface ExpectedColumn {
  name: string;
  type: ColumnType;
  nullable?: boolean;
}

/** The outcome of validating a version against an expected schema. */
export interface SchemaValidation {
  valid: boolean;
  problems: string[];
}

// Counting distinct values is bounded so a column of unique ids cannot grow an unbounded map.
const DISTINCT_CAP = 10_000;
const INTEGER = /^[-+]?\d+$/;
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const BOOLEAN = /^(true|false)$/i;

/** Infers each column's type and computes its statistics in one pass per column. */
export function profileTable(table: CsvTable): ColumnProfile[] {
  return table.header.map((name, c) => profileColumn(name, table.rows, c));
}

function profileColumn(name: string, rows: string[][], c: number): ColumnProfile {
  let integer = true;
  let number = true;
  let boolean = true;
  let count = 0;
  const counts = new Map<string, number>();
  for (const row of rows) {
    const cell = row[c].trim();
    if (cell === '') continue;
    count++;
    if (integer && !INTEGER.test(cell)) integer = false;
    if (number && !NUMBER.test(cell)) number = false;
    if (boolean && !BOOLEAN.test(cell)) boolean = false;
    if (counts.has(cell)) counts.set(cell, (counts.get(cell) ?? 0) + 1);
    else if (counts.size < DISTINCT_CAP) counts.set(cell, 1);
  }
  const type: ColumnType =
    count === 0 ? 'string' : integer ? 'integer' : number ? 'number' : boolean ? 'boolean' : 'string';
  const profile: ColumnProfile = {
    name,
    type,
    nullable: count < rows.length,
    count,
    missing: rows.length - count,
    distinct: counts.size,
  };
  if (type === 'integer' || type === 'number') Object.assign(profile, numericStats(rows, c));
  else {
    profile.top = [...counts.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, 5)
      .map(([value, n]) => ({ value, count: n }));
  }
  return profile;
}

function numericStats(rows: string[][], c: number) {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  // Welford's online mean and variance: stable for large values.
  let n = 0;
  let mean = 0;
  let m2 = 0;
  for (const row of rows) {
    const cell = row[c].trim();
    if (cell === '') continue;
    const x = Number(cell);
    n++;
    const delta = x - mean;
    mean += delta / n;
    m2 += delta * (x - mean);
    if (x < min) min = x;
    if (x > max) max = x;
  }
  return { min, max, mean, std: n > 1 ? Math.sqrt(m2 / (n - 1)) : 0 };
}

/** Checks a version's columns against what a consumer expects (names, types, nullability). */
export function validateColumns(actual: ColumnProfile[], expected: ExpectedColumn[]): SchemaValidation {
  const byName = new Map(actual.map((c) => [c.name, c]));
  const problems: string[] = [];
  for (const want of expected) {
    const have = byName.get(want.name);
    if (!have) {
      problems.push(`column "${want.name}" is missing`);
      continue;
    }
    const compatible = have.type === want.type || (want.type === 'number' && have.type === 'integer');
    if (!compatible) problems.push(`column "${want.name}" is ${have.type}, expected ${want.type}`);
    if (want.nullable === false && have.missing > 0) {
      problems.push(`column "${want.name}" has ${have.missing} empty cells but must not be null`);
    }
  }
  return { valid: problems.length === 0, problems };
}
