import { badRequest } from '../kernel/errors.js';

/** The envelope attributes of a CloudEvent as the store keeps them, checked and normalised. */
export interface Envelope {
  id: string;
  type: string;
  source: string;
  subject?: string;
  time: string;
  dataschema?: string;
  target?: string;
  correlationid?: string;
  causationid?: string;
  traceparent?: string;
  /** CloudEvents partitioning extension: events with one key are consumed in order. */
  partitionkey?: string;
}

/** Extension attributes we carry, CloudEvents-style (lower-case alphanumerics). */
const EXTENSIONS = ['target', 'correlationid', 'causationid', 'traceparent', 'partitionkey'] as const;
const MAX_EXTENSION = 512;
// RFC 3986 URI-reference: unreserved, reserved and percent-encoded characters, at most one
// fragment. Brackets (IPv6 literals) are refused rather than parsing the authority per event.
const URI_CHARS = "(?:[A-Za-z0-9\\-._~:/?@!$&'()*+,;=]|%[0-9A-Fa-f]{2})";
const URI_BODY = `${URI_CHARS}*(?:#${URI_CHARS}*)?`;
const URI_REFERENCE = new RegExp(`^${URI_BODY}$`);
// An absolute URI (dataschema): a scheme, then the rest.
const ABSOLUTE_URI = new RegExp(`^[A-Za-z][A-Za-z0-9+.-]*:(?=.)${URI_BODY}$`);

/**
 * Checks the CloudEvents 1.0 envelope rules (id, source, type non-empty strings; specversion
 * 1.0; subject non-empty; time RFC 3339; dataschema an absolute URI; extensions strings) with
 * plain property checks. The `cloudevents` package checks the same with a JSON Schema per event,
 * which cost more than the database insert in a batched append.
 */
export function checkEnvelope(
  input: Record<string, unknown>,
  where: string,
  defaults: EnvelopeDefaults,
): Envelope {
  // No closures in here: this runs per event on the append path (and tsx wraps each closure).
  if (input.specversion !== undefined && input.specversion !== '1.0') {
    throw fail(where, `specversion must be "1.0", got ${show(input.specversion)}`);
  }
  const envelope: Envelope = {
    id: input.id === undefined ? defaults.id() : text(where, 'id', input.id)!,
    type: text(where, 'type', input.type)!,
    source: text(where, 'source', input.source)!,
    time:
      input.time === undefined
        ? new Date(defaults.now()).toISOString()
        : toIso(input.time, where, defaults.times),
  };
  if (!URI_REFERENCE.test(envelope.source)) {
    throw fail(where, `source must be a URI reference (RFC 3986), got ${show(envelope.source)}`);
  }
  if (input.subject !== undefined) envelope.subject = text(where, 'subject', input.subject);
  if (input.dataschema !== undefined) {
    const dataschema = text(where, 'dataschema', input.dataschema)!;
    if (!ABSOLUTE_URI.test(dataschema)) {
      throw fail(where, `dataschema must be an absolute URI, got ${show(dataschema)}`);
    }
    envelope.dataschema = dataschema;
  }
  for (const key of EXTENSIONS) {
    const value = input[key];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.length === 0 || value.length > MAX_EXTENSION) {
      throw fail(where, `${key} must be a non-empty string of at most ${MAX_EXTENSION} characters`);
    }
    envelope[key] = value;
  }
  return envelope;
}

/** How a missing id and time are filled in, and times formatted. */
export interface EnvelopeDefaults {
  id(): string;
  now(): number;
  times?: IsoTimes;
}

function fail(where: string, message: string) {
  return badRequest('invalid_event', `${where} is not a valid CloudEvent: ${message}`);
}

function show(value: unknown): string {
  return value === undefined ? 'nothing' : String(JSON.stringify(value)).slice(0, 80);
}

function text(where: string, key: string, value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0) {
    throw fail(where, `${key} must be a non-empty string, got ${show(value)}`);
  }
  return value;
}

function toIso(value: unknown, where: string, times: IsoTimes | undefined): string {
  if (typeof value !== 'string' && !(value instanceof Date)) {
    throw fail(where, 'time must be an RFC 3339 string');
  }
  const date = value instanceof Date ? value : new Date(value);
  const ms = date.getTime();
  const iso = times ? times.of(ms, date) : Number.isNaN(ms) ? '' : date.toISOString();
  // RFC 3339 has four-digit years; JavaScript's extended years (+275760, -000001) are not times.
  if (iso === '' || iso.startsWith('+') || iso.startsWith('-')) {
    throw fail(where, `time is not a valid RFC 3339 time: ${show(value)}`);
  }
  return iso;
}

/**
 * ISO 8601 strings of times, the last one remembered: events stamped in the same millisecond
 * (hundreds a second on a busy gateway) share one string instead of formatting it again.
 */
export class IsoTimes {
  private lastMs = Number.NaN;
  private lastIso = '';

  /** `date.toISOString()` (`ms` is its time), or '' for an invalid date. */
  of(ms: number, date: Date): string {
    if (Number.isNaN(ms)) return '';
    if (ms !== this.lastMs) {
      this.lastIso = date.toISOString();
      this.lastMs = ms;
    }
    return this.lastIso;
  }
}
