// How events become rows of `aimesh_events`: the one INSERT every append uses and its
// parameters, one PostgreSQL array literal per column.

// Appends serialise on this lock so positions commit in order: a relay reading
// "position > last" can then never skip a row that commits late (the outbox gap problem).
export const APPEND_LOCK_KEY = 7_346_121_002;

// The table's columns in the order every statement and every row here uses.
const COLUMNS = `id, type, source, subject, time, target, correlation_id, causation_id, traceparent,
  schema_version, topic, partition_key, data`;

/**
 * The envelope columns in that order, each as text (undefined: NULL); `data` follows them. The
 * INSERT takes them as one array literal each, COPY as the fields of a line.
 */
const ENVELOPE: readonly ((e: PreparedEvent) => string | undefined)[] = [
  (e) => e.id,
  (e) => e.type,
  (e) => e.source,
  (e) => e.subject,
  (e) => e.time,
  (e) => e.target,
  (e) => e.correlationid,
  (e) => e.causationid,
  (e) => e.traceparent,
  (e) => String(e.version),
  (e) => e.topic,
  (e) => e.partitionkey,
];

/**
 * The bulk path for batches nobody waits on: COPY, about a quarter less work for the server per
 * row than INSERT ... SELECT FROM unnest. It cannot skip duplicates as ON CONFLICT does, so a
 * batch holding an id already stored fails as a whole and is stored again through INSERT.
 */
export const COPY = `COPY aimesh_events (${COLUMNS}) FROM STDIN`;

// One statement, so one implicit transaction and one round trip. The lock row is joined in and
// the ORDER BY sorts every row before the first insert, so the lock is taken before any
// position is drawn and held until the commit. The data array's elements pair with the columns'
// in ROWS FROM, each as the JSON text it was sent as.
export const INSERT = `WITH append_lock AS MATERIALIZED (SELECT pg_advisory_xact_lock($14))
  INSERT INTO aimesh_events (${COLUMNS})
  SELECT ${COLUMNS}
  FROM append_lock, ROWS FROM (unnest($1::text[]), unnest($2::text[]), unnest($3::text[]),
    unnest($4::text[]), unnest($5::timestamptz[]), unnest($6::text[]), unnest($7::text[]),
    unnest($8::text[]), unnest($9::text[]), unnest($10::int[]), unnest($11::text[]),
    unnest($12::text[]), json_array_elements($13::json))
    WITH ORDINALITY AS t(${COLUMNS}, n)
  ORDER BY n
  ON CONFLICT (id) DO NOTHING`;

export interface PreparedEvent {
  id: string;
  type: string;
  source: string;
  subject?: string;
  time: string;
  target?: string;
  correlationid?: string;
  causationid?: string;
  traceparent?: string;
  version: number;
  topic: string;
  partitionkey?: string;
  data: unknown;
}

/**
 * The INSERT's parameters: one array literal per envelope column, the batch's data as one JSON
 * array (row n takes element n - 1), then the lock key. Built here rather than by pg, which
 * escapes every element with two regular-expression passes whether it needs them or not (the
 * largest single cost of a batched append on the serving thread). Data goes as JSON because
 * JSON text is full of quotes: as array elements every one of them needed escaping, and the
 * server parsed each element twice (array, then JSON) where it now parses the batch once.
 */
export function columns(events: PreparedEvent[]): { ids: string[]; params: unknown[] } {
  const n = events.length;
  const ids = new Array<string>(n);
  // Elements per column, joined once: `join` builds a flat string, where appending builds a
  // rope that pg then flattens piece by piece when it measures and copies each parameter.
  const data = new Array<unknown>(n);
  for (let i = 0; i < n; i++) {
    ids[i] = events[i].id;
    data[i] = events[i].data ?? null;
  }
  const params: unknown[] = ENVELOPE.map((column) => {
    const elements = new Array<string>(n);
    for (let i = 0; i < n; i++) elements[i] = element(column(events[i]));
    return `{${elements.join(',')}}`;
  });
  params.push(JSON.stringify(data), APPEND_LOCK_KEY);
  return { ids, params };
}

const ESCAPE = /["\\]/g;

/** One element of a text array literal: quoted (so commas, braces and "NULL" stay text), or NULL. */
function element(value: string | undefined): string {
  if (value === undefined) return 'NULL';
  // Two native scans cost less than a regular expression test; most values need no escaping.
  return value.indexOf('"') < 0 && value.indexOf('\\') < 0
    ? `"${value}"`
    : `"${value.replace(ESCAPE, '\\$&')}"`;
}

/**
 * The batch as COPY text-format input: a line per event, tab-separated, `\N` for nothing.
 * Written field by field into one buffer: building a string per line and joining them made
 * garbage enough per event to show as collector time on the gateway's thread.
 */
export function copyRows(events: PreparedEvent[]): Buffer {
  const data = new Array<string>(events.length);
  // UTF-8 takes at most three bytes per UTF-16 unit and an escape doubles a unit: 6 bytes each.
  let bound = 0;
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    data[i] = JSON.stringify(e.data ?? null);
    let units = data[i].length;
    for (const column of ENVELOPE) units += column(e)?.length ?? 2;
    bound += 6 * units + 32;
  }
  const out = Buffer.allocUnsafe(bound);
  let at = 0;
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    for (const column of ENVELOPE) {
      const value = column(e);
      if (value === undefined) {
        out[at++] = 92; // \N
        out[at++] = 78;
      } else at += out.write(field(value), at);
      out[at++] = TAB;
    }
    at += out.write(field(data[i]), at);
    out[at++] = NEWLINE;
  }
  return out.subarray(0, at);
}

const TAB = 9;
const NEWLINE = 10;

const COPY_SPECIAL = /[\\\t\n\r]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** One COPY text field: backslash, tab, newline and carriage return escaped. */
function field(value: string): string {
  return value.indexOf('\\') < 0 &&
    value.indexOf('\t') < 0 &&
    value.indexOf('\n') < 0 &&
    value.indexOf('\r') < 0
    ? value
    : value.replace(COPY_SPECIAL, copyEscape);
}

function copyEscape(c: string): string {
  return COPY_ESCAPES[c];
}
