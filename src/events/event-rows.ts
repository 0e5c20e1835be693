// How events become rows of `aimesh_events`: the one INSERT every append uses and its
// parameters, one PostgreSQL array literal per column.

// Appends serialise on this lock so positions commit in order: a relay reading
// "position > last" can then never skip a row that commits late (the outbox gap problem).
export const APPEND_LOCK_KEY = 7_346_121_002;

/** Takes the append lock for the rest of the transaction (before a COPY, which cannot join it in). */
export const LOCK = 'SELECT pg_advisory_xact_lock($1)';

/**
 * The bulk path for batches nobody waits on: COPY, about a quarter less work for the server per
 * row than INSERT ... SELECT FROM unnest. It cannot skip duplicates as ON CONFLICT does, so a
 * batch holding an id already stored fails as a whole and is stored again through INSERT.
 */
export const COPY = `COPY aimesh_events (id, type, source, subject, time, target, correlation_id, causation_id,
  traceparent, schema_version, topic, data) FROM STDIN`;

// One statement, so one implicit transaction and one round trip. The lock row is joined in and
// the ORDER BY sorts every row before the first insert, so the lock is taken before any
// position is drawn and held until the commit.
export const INSERT = `WITH append_lock AS MATERIALIZED (SELECT pg_advisory_xact_lock($13))
  INSERT INTO aimesh_events (id, type, source, subject, time, target, correlation_id, causation_id,
    traceparent, schema_version, topic, data)
  SELECT id, type, source, subject, time, target, correlation_id, causation_id, traceparent,
    schema_version, topic, $12::jsonb -> (n::int - 1)
  FROM append_lock, unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[],
    $7::text[], $8::text[], $9::text[], $10::int[], $11::text[])
    WITH ORDINALITY AS t(id, type, source, subject, time, target, correlation_id, causation_id,
    traceparent, schema_version, topic, n)
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
  data: unknown;
}

/**
 * The INSERT's parameters: one array literal per envelope column, the batch's data as one JSON
 * array (row n takes element n - 1), then the lock key. Built here rather than by pg, which
 * escapes every element with two regular-expression passes whether it needs them or not (the
 * largest single cost of a batched append on the serving thread). Data goes as JSON because
 * JSON text is full of quotes: as array elements every one of them needed escaping, and the
 * server parsed each element twice (array, then jsonb) where it now parses the batch once.
 */
export function columns(events: PreparedEvent[]): { ids: string[]; params: unknown[] } {
  const n = events.length;
  const ids = new Array<string>(n);
  // Elements per column, joined once: `join` builds a flat string, where appending builds a
  // rope that pg then flattens piece by piece when it measures and copies each parameter.
  const id = new Array<string>(n);
  const type = new Array<string>(n);
  const source = new Array<string>(n);
  const subject = new Array<string>(n);
  const time = new Array<string>(n);
  const target = new Array<string>(n);
  const correlation = new Array<string>(n);
  const causation = new Array<string>(n);
  const traceparent = new Array<string>(n);
  const version = new Array<number>(n);
  const topic = new Array<string>(n);
  const data = new Array<unknown>(n);
  for (let i = 0; i < n; i++) {
    const e = events[i];
    ids[i] = e.id;
    id[i] = element(e.id);
    type[i] = element(e.type);
    source[i] = element(e.source);
    subject[i] = element(e.subject);
    time[i] = element(e.time);
    target[i] = element(e.target);
    correlation[i] = element(e.correlationid);
    causation[i] = element(e.causationid);
    traceparent[i] = element(e.traceparent);
    version[i] = e.version;
    topic[i] = element(e.topic);
    data[i] = e.data ?? null;
  }
  const params: unknown[] = [
    id,
    type,
    source,
    subject,
    time,
    target,
    correlation,
    causation,
    traceparent,
    version,
    topic,
  ];
  for (let k = 0; k < params.length; k++) params[k] = `{${(params[k] as unknown[]).join(',')}}`;
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
    bound +=
      6 *
        (e.id.length +
          e.type.length +
          e.source.length +
          (e.subject?.length ?? 2) +
          e.time.length +
          (e.target?.length ?? 2) +
          (e.correlationid?.length ?? 2) +
          (e.causationid?.length ?? 2) +
          (e.traceparent?.length ?? 2) +
          e.topic.length +
          data[i].length) +
      32;
  }
  const out = Buffer.allocUnsafe(bound);
  let at = 0;
  const put = (value: string | undefined, end: number) => {
    if (value === undefined) {
      out[at++] = 92; // \N
      out[at++] = 78;
    } else at += out.write(field(value), at);
    out[at++] = end;
  };
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    put(e.id, TAB);
    put(e.type, TAB);
    put(e.source, TAB);
    put(e.subject, TAB);
    put(e.time, TAB);
    put(e.target, TAB);
    put(e.correlationid, TAB);
    put(e.causationid, TAB);
    put(e.traceparent, TAB);
    at += out.write(String(e.version), at);
    out[at++] = TAB;
    put(e.topic, TAB);
    put(data[i], NEWLINE);
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
