// How events become rows of `aimesh_events`: the one INSERT every append uses and its
// parameters, one PostgreSQL array literal per column.

// Appends serialise on this lock so positions commit in order: a relay reading
// "position > last" can then never skip a row that commits late (the outbox gap problem).
const APPEND_LOCK_KEY = 7_346_121_002;

// One statement, so one implicit transaction and one round trip. The lock row is joined in and
// the ORDER BY sorts every row before the first insert, so the lock is taken before any
// position is drawn and held until the commit.
export const INSERT = `WITH append_lock AS MATERIALIZED (SELECT pg_advisory_xact_lock($13))
  INSERT INTO aimesh_events (id, type, source, subject, time, target, correlation_id, causation_id,
    traceparent, schema_version, topic, data)
  SELECT id, type, source, subject, time, target, correlation_id, causation_id, traceparent,
    schema_version, topic, data::jsonb
  FROM append_lock, unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[],
    $7::text[], $8::text[], $9::text[], $10::int[], $11::text[], $12::text[])
    WITH ORDINALITY AS t(id, type, source, subject, time, target, correlation_id, causation_id,
    traceparent, schema_version, topic, data, n)
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
 * The INSERT's parameters: one array literal per column, then the lock key. Built here rather
 * than by pg, which escapes every element with two regular-expression passes whether it needs
 * them or not (the largest single cost of a batched append on the serving thread).
 */
export function columns(events: PreparedEvent[]): { ids: string[]; params: unknown[] } {
  const ids = new Array<string>(events.length);
  let id = '{';
  let type = '{';
  let source = '{';
  let subject = '{';
  let time = '{';
  let target = '{';
  let correlation = '{';
  let causation = '{';
  let traceparent = '{';
  let version = '{';
  let topic = '{';
  let data = '{';
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    const sep = i === 0 ? '' : ',';
    ids[i] = e.id;
    id += sep + element(e.id);
    type += sep + element(e.type);
    source += sep + element(e.source);
    subject += sep + element(e.subject);
    time += sep + element(e.time);
    target += sep + element(e.target);
    correlation += sep + element(e.correlationid);
    causation += sep + element(e.causationid);
    traceparent += sep + element(e.traceparent);
    version += sep + String(e.version);
    topic += sep + element(e.topic);
    data += sep + element(JSON.stringify(e.data ?? null));
  }
  const params = [
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
    data,
  ];
  for (let k = 0; k < params.length; k++) params[k] += '}';
  return { ids, params: [...params, APPEND_LOCK_KEY] };
}

const NEEDS_ESCAPE = /["\\]/;
const ESCAPE = /["\\]/g;

/** One element of a text array literal: quoted (so commas, braces and "NULL" stay text), or NULL. */
function element(value: string | undefined): string {
  if (value === undefined) return 'NULL';
  return `"${NEEDS_ESCAPE.test(value) ? value.replace(ESCAPE, '\\$&') : value}"`;
}
