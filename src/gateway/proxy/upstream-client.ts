import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { type Dispatcher, Pool } from 'undici';
import {
  classifyError,
  endToEndHeaders,
  type UpstreamRequest,
  type UpstreamResponse,
  type UpstreamTarget,
} from './upstream-call.js';
import { UpstreamExchange } from './upstream-exchange.js';

export * from './upstream-call.js';
export * from './upstream-exchange.js';

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
