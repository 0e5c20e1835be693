import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { AimeshError } from '../../kernel/errors.js';

// What one upstream call is, how it fails and what crosses the proxy: shared by the client
// that makes calls and the exchange that relays their answers.

/** Where a call goes: an upstream's base URL and a stable id (instance id or static upstream name). */
export interface UpstreamTarget {
  id: string;
  /** Base URL, e.g. `http://127.0.0.1:8081`; a path in it is prefixed to the request path. */
  url: string;
}

/** One outgoing call. */
export interface UpstreamRequest {
  method: string;
  /** Path and query, e.g. `/v2/models/x/infer?y=1`. */
  path: string;
  /** Caller headers; hop-by-hop ones and `host` are dropped here (unless `headersClean`). */
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>;
  /** The caller already dropped hop-by-hop headers (saves a copy on the hot path). */
  headersClean?: boolean;
  /** A buffer or string (repeatable) or a stream (sent once, never retried). */
  body?: Buffer | string | Readable | null;
  signal?: AbortSignal;
  /** Who to register with instead of listening on `signal` (its connection; see CallerConnection). */
  caller?: CallerWatch;
  /** Time to the response headers; default the client's `readTimeoutMs`. */
  headersTimeoutMs?: number;
  /** Longest silence between body chunks; default the client's `readTimeoutMs`. */
  bodyTimeoutMs?: number;
}

/** An upstream call made for a caller, told when the caller goes away. */
export interface CallerGoneListener {
  callerGone(): void;
}

/** A caller's connection that tells the calls it watches when it goes away. */
export interface CallerWatch {
  watch(call: CallerGoneListener): void;
  unwatch(call: CallerGoneListener): void;
}

/** The upstream's answer; `body` is a stream the caller must consume or destroy. */
export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

/** Why a call failed, as the retry and breaker logic needs to know it. */
export type UpstreamFailureKind = 'connect' | 'timeout' | 'reset' | 'status' | 'aborted' | 'other';

/**
 * A failed upstream call. `sent` says whether the request may have reached the upstream:
 * a connect failure never did, so it is safe to repeat even for a POST.
 */
export class UpstreamError extends AimeshError {
  constructor(
    readonly kind: UpstreamFailureKind,
    readonly target: string,
    message: string,
    readonly sent: boolean,
    readonly upstreamStatus?: number,
    readonly retryAfterMs?: number,
  ) {
    super(
      kind === 'timeout' ? 'upstream_timeout' : 'upstream_unavailable',
      kind === 'timeout' ? 504 : 502,
      message,
    );
  }
}

// RFC 9110 §7.6.1 hop-by-hop fields, plus the ones undici sets itself.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'expect',
  'content-length',
]);

/** True for request fields that must not cross a proxy (RFC 9110 §7.6.1, plus those undici sets). */
export function isHopByHopRequestHeader(name: string): boolean {
  return HOP_BY_HOP.has(name);
}

/** Drops hop-by-hop fields so only end-to-end headers cross the proxy. */
export function endToEndHeaders(
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** Parses `Retry-After` (seconds or an HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Turns whatever undici threw into an UpstreamError with its failure kind. */
export function classifyError(error: unknown, target: string, signal?: AbortSignal): UpstreamError {
  if (error instanceof UpstreamError) return error;
  const e = error as { code?: string; message?: string; name?: string };
  const message = e?.message ?? String(error);
  if (signal?.aborted || e?.code === 'UND_ERR_ABORTED' || e?.name === 'AbortError') {
    return new UpstreamError('aborted', target, `call to ${target} was aborted`, true);
  }
  switch (e?.code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new UpstreamError('connect', target, `connect to ${target} timed out`, false);
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EAI_AGAIN':
      return new UpstreamError('connect', target, `cannot connect to ${target}: ${message}`, false);
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return new UpstreamError('timeout', target, `${target} did not answer in time`, true);
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_CLOSED':
      return new UpstreamError('reset', target, `${target} closed the connection: ${message}`, true);
  }
  return new UpstreamError('other', target, `call to ${target} failed: ${message}`, true);
}

/** True for the statuses that count as an upstream failure (breaker) and may be retried. */
export function isRetryableStatus(status: number): boolean {
  return status === 502 || status === 503 || status === 504;
}

/** True for any 5xx: the breaker counts these as failures. */
export function isFailureStatus(status: number): boolean {
  return status >= 500;
}
