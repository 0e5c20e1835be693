import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { type Dispatcher, Pool } from 'undici';
import { AimeshError } from '../../kernel/errors.js';

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

export interface UpstreamClientOptions {
  /** TCP (and TLS) connect timeout; the seed's 10 s. */
  connectTimeoutMs?: number;
  /** Read timeout: to the headers and between body chunks; the seed's 30 s. */
  readTimeoutMs?: number;
  /** Kept-alive connections per upstream origin. */
  connectionsPerOrigin?: number;
  /** Origins with a pool at once; the least recently used pool closes beyond it. */
  maxOrigins?: number;
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

interface PoolEntry {
  pool: Pool;
  basePath: string;
}

/**
 * The gateway's one way to call an upstream: pooled keep-alive undici connections per origin,
 * connect and read timeouts, hop-by-hop headers stripped, the response body handed back as a
 * stream (never buffered, so SSE and chunked responses flow as they come). Failures are
 * classified (connect / timeout / reset / aborted) for retries and breakers; a 5xx is returned
 * as a response, and `isFailureStatus` tells callers whether to count it.
 */
export class UpstreamClient {
  private readonly pools = new Map<string, PoolEntry>();
  private readonly connectTimeoutMs: number;
  private readonly readTimeoutMs: number;
  private readonly connections: number;
  private readonly maxOrigins: number;

  constructor(options: UpstreamClientOptions = {}) {
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.readTimeoutMs = options.readTimeoutMs ?? 30_000;
    this.connections = options.connectionsPerOrigin ?? 128;
    this.maxOrigins = options.maxOrigins ?? 1024;
  }

  /** Sends one request to `target`; rejects with an UpstreamError when no response arrives. */
  async call(target: UpstreamTarget, request: UpstreamRequest): Promise<UpstreamResponse> {
    const entry = this.entry(target.url);
    try {
      const response = await entry.pool.request({ ...this.options(entry, request), signal: request.signal });
      return {
        status: response.statusCode,
        headers: response.headers as IncomingHttpHeaders,
        body: response.body as unknown as Readable,
      };
    } catch (error) {
      throw classifyError(error, target.id, request.signal);
    }
  }

  /**
   * Sends one request to `target` and resolves at its response headers with an exchange whose
   * body is not read yet: `relay` writes it straight into a server response, `discard` drops it.
   * The gateway's data plane: no body stream, no pipe, no listener per chunk (see `call` for a
   * body as a stream).
   */
  exchange(target: UpstreamTarget, request: UpstreamRequest): Promise<UpstreamExchange> {
    const entry = this.entry(target.url);
    const exchange = new UpstreamExchange(target.id, request.signal, request.caller);
    if (request.signal?.aborted) {
      return Promise.reject(classifyError(request.signal.reason, target.id, request.signal));
    }
    const started = exchange.started();
    entry.pool.dispatch(this.options(entry, request), exchange);
    return started;
  }

  /** What undici is told of one call, either way it is made (the signal aside). */
  private options(entry: PoolEntry, request: UpstreamRequest): Dispatcher.DispatchOptions {
    return {
      method: request.method as Dispatcher.HttpMethod,
      path: entry.basePath === '' ? request.path : entry.basePath + request.path,
      headers: (request.headersClean ? request.headers : endToEndHeaders(request.headers)) as Record<
        string,
        string
      >,
      body: (request.body ?? null) as Dispatcher.DispatchOptions['body'],
      headersTimeout: request.headersTimeoutMs ?? this.readTimeoutMs,
      bodyTimeout: request.bodyTimeoutMs ?? this.readTimeoutMs,
    };
  }

  /** Closes the pool of one upstream (e.g. after its instance left discovery). */
  async forget(url: string): Promise<void> {
    const key = originKey(url);
    const entry = this.pools.get(key);
    if (!entry) return;
    this.pools.delete(key);
    await entry.pool.close().catch(() => {});
  }

  /** Closes every pool; in-flight calls finish first. */
  async close(): Promise<void> {
    const entries = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(entries.map((e) => e.pool.close().catch(() => {})));
  }

  private entry(url: string): PoolEntry {
    const key = originKey(url);
    let entry = this.pools.get(key);
    if (entry) return entry;
    if (this.pools.size >= this.maxOrigins) {
      const oldest = this.pools.keys().next().value as string;
      const evicted = this.pools.get(oldest)!;
      this.pools.delete(oldest);
      void evicted.pool.close().catch(() => {});
    }
    const parsed = new URL(url);
    entry = {
      pool: new Pool(parsed.origin, {
        connections: this.connections,
        connect: { timeout: this.connectTimeoutMs },
        headersTimeout: this.readTimeoutMs,
        bodyTimeout: this.readTimeoutMs,
        keepAliveTimeout: 10_000,
      }),
      basePath: parsed.pathname === '/' ? '' : parsed.pathname.replace(/\/$/, ''),
    };
    this.pools.set(key, entry);
    return entry;
  }
}

function originKey(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url;
}

/** True for the statuses that count as an upstream failure (breaker) and may be retried. */
export function isRetryableStatus(status: number): boolean {
  return status === 502 || status === 503 || status === 504;
}

/** True for any 5xx: the breaker counts these as failures. */
export function isFailureStatus(status: number): boolean {
  return status >= 500;
}

/** Told once when an exchange's body has been relayed in full (no error) or has failed. */
export interface ExchangeSink {
  relayEnded(error: Error | undefined): void;
}

const SINK_EXCHANGE = Symbol('upstream exchange');
type SinkResponse = ServerResponse & { [SINK_EXCHANGE]?: UpstreamExchange };

/**
 * One upstream call on undici's dispatch interface. Resolves at the response headers; the body
 * then flows chunk by chunk into the server response given to `relay` (held back while that
 * response's buffer is full), or is dropped by `discard`. Chunks that arrive before `relay` are
 * kept. The caller going away (its signal, or the response closing early) aborts the call.
 */
export class UpstreamExchange implements Dispatcher.DispatchHandler, CallerGoneListener {
  status = 0;
  headers: IncomingHttpHeaders = {};
  private controller: Dispatcher.DispatchController | undefined;
  private resolveStart: ((exchange: UpstreamExchange) => void) | undefined;
  private rejectStart: ((error: UpstreamError) => void) | undefined;
  private early: Buffer[] | undefined;
  private sink: SinkResponse | undefined;
  private listener: ExchangeSink | undefined;
  private held: { leave(): void } | undefined;
  private ended = false;
  private failure: Error | undefined;
  private settled = false;
  private discarded = false;

  constructor(
    private readonly target: string,
    private readonly signal: AbortSignal | undefined,
    private readonly caller?: CallerWatch,
  ) {}

  /** The promise of the response headers (called once, before dispatching). */
  started(): Promise<UpstreamExchange> {
    if (this.caller) this.caller.watch(this);
    else if (this.signal) {
      this.onCallerGone = this.callerGone.bind(this);
      this.signal.addEventListener('abort', this.onCallerGone);
    }
    return new Promise((resolve, reject) => {
      this.resolveStart = resolve;
      this.rejectStart = reject;
    });
  }

  /** Leaves `held` (a bulkhead) once the exchange is over: body relayed or dropped, or the call failed. */
  leaveWhenSettled(held: { leave(): void }): void {
    if (this.settled) held.leave();
    else this.held = held;
  }

  /** Writes the body into `res` (whose head the caller has written) and ends it; tells `listener`. */
  relay(res: ServerResponse, listener: ExchangeSink): void {
    const sink = res as SinkResponse;
    this.sink = sink;
    this.listener = listener;
    sink[SINK_EXCHANGE] = this;
    sink.once('close', onSinkClose);
    if (this.early) {
      for (const chunk of this.early) sink.write(chunk);
      this.early = undefined;
    }
    if (this.failure) this.fail(this.failure);
    else if (this.ended) this.finish();
  }

  /** Drops the body (a retry, an answer nobody will read); aborts the call if it is still coming. */
  discard(): void {
    if (this.discarded) return;
    this.discarded = true;
    this.early = undefined;
    if (this.ended || this.failure) this.settle();
    else this.controller?.abort(new UpstreamError('aborted', this.target, 'response discarded', true));
  }

  // A function, not this object with a handleEvent: Node's EventTarget wraps an object listener
  // in an async closure of its own, and with one on the connection's long-lived signal about a
  // fifth of every call's objects (5.6 KB) outlived two scavenges into the old generation, where
  // only major collections free them (and scavenges took 20 µs a call, not 3). With a function, 0.1 KB.
  // Bound rather than an arrow in a field: the loader names each such arrow as it is made, which
  // cost more than the bind. Only made where there is no caller connection to register with.
  private onCallerGone: (() => void) | undefined;

  /** The caller went away: the call is aborted. */
  callerGone(): void {
    this.controller?.abort(this.signal?.reason ?? new Error('aborted'));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    if (statusCode < 200) return;
    this.status = statusCode;
    this.headers = headers;
    const resolve = this.resolveStart;
    this.resolveStart = undefined;
    this.rejectStart = undefined;
    resolve?.(this);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.discarded) return;
    const sink = this.sink;
    if (!sink) {
      if (this.early) this.early.push(chunk);
      else this.early = [chunk];
      return;
    }
    if (!sink.write(chunk)) {
      controller.pause();
      sink.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.ended = true;
    if (this.discarded) this.settle();
    else if (this.sink) this.finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    const reject = this.rejectStart;
    if (reject) {
      this.resolveStart = undefined;
      this.rejectStart = undefined;
      this.settle();
      reject(classifyError(error, this.target, this.signal));
      return;
    }
    this.failure = error;
    if (this.discarded) this.settle();
    else if (this.sink) this.fail(error);
  }

  /** The response closed: fine after the end; otherwise the caller went away mid-body. */
  sinkClosed(): void {
    if (this.settled || this.ended) return;
    const error = new UpstreamError('aborted', this.target, 'the caller closed the connection', true);
    this.controller?.abort(error);
    this.fail(error);
  }

  private finish(): void {
    this.sink!.end();
    this.settle();
    this.listener?.relayEnded(undefined);
  }

  private fail(error: Error): void {
    if (this.settled) return;
    this.sink?.destroy();
    this.settle();
    this.listener?.relayEnded(error);
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    if (this.caller) this.caller.unwatch(this);
    else if (this.onCallerGone) this.signal?.removeEventListener('abort', this.onCallerGone);
    const held = this.held;
    this.held = undefined;
    held?.leave();
  }
}

function onSinkClose(this: SinkResponse): void {
  this[SINK_EXCHANGE]?.sinkClosed();
}
