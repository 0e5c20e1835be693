import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamClient, type UpstreamExchange } from '../../../src/gateway/proxy/upstream-client.js';
import { type MisbehavingUpstream, startUpstream } from './misbehaving-upstream.js';

/**
 * The data plane's exchange: headers first, then the body straight into a server response. A
 * front server on loopback relays every request to the misbehaving upstream through it.
 */
describe('UpstreamExchange (relaying into a server response)', () => {
  let upstream: MisbehavingUpstream;
  let front: Server;
  let frontUrl: string;
  const client = new UpstreamClient({ connectTimeoutMs: 500, readTimeoutMs: 1_000 });
  /** What the front saw of each relay: its end (error message or 'ok') and whether it settled. */
  let ends: string[] = [];
  let settled = 0;
  /** How long the front waits between the headers and attaching the response. */
  let relayDelayMs = 0;
  /** The front's latest response, to watch how much it holds in memory. */
  let lastResponse: ServerResponse | undefined;

  beforeAll(async () => {
    upstream = await startUpstream('u1');
    front = createServer(async (req, res) => {
      req.resume();
      try {
        const exchange = await client.exchange(
          { id: 'u1', url: upstream.url },
          { method: 'GET', path: req.url ?? '/', headers: {} },
        );
        exchange.leaveWhenSettled({ leave: () => settled++ });
        lastResponse = res;
        res.writeHead(exchange.status, { 'content-type': String(exchange.headers['content-type']) });
        const relay = () => exchange.relay(res, { relayEnded: (e) => ends.push(e ? e.message : 'ok') });
        if (relayDelayMs > 0) setTimeout(relay, relayDelayMs);
        else relay();
      } catch (error) {
        res.writeHead(502).end((error as Error).message);
      }
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    frontUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  });
  afterEach(() => {
    upstream.behave({ kind: 'ok' });
    ends = [];
    settled = 0;
    relayDelayMs = 0;
  });
  afterAll(async () => {
    await client.close();
    await upstream.close();
    await new Promise((r) => front.close(r));
  });

  it('relays status, headers and body, then settles once', async () => {
    const res = await request(`${frontUrl}/v2/x`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toEqual({ upstream: 'u1', path: '/v2/x' });
    await expect.poll(() => ends).toEqual(['ok']);
    expect(settled).toBe(1);
  });

  it('relays 8 MiB to a slow reader intact, holding the upstream back rather than buffering', async () => {
    const bytes = 8 * 1024 * 1024;
    upstream.behave({ kind: 'large', bytes });
    const res = await request(`${frontUrl}/large`);
    let mostBuffered = 0;
    const watch = setInterval(() => {
      mostBuffered = Math.max(mostBuffered, lastResponse?.writableLength ?? 0);
    }, 2);
    let received = 0;
    let wrong = 0;
    for await (const chunk of res.body) {
      const c = chunk as Buffer;
      for (let i = 0; i < c.length; i += 4093) if (c[i] !== (received + i) % 251) wrong++;
      received += c.length;
      // A slow reader: the front's response buffer fills and the exchange must pause.
      if (received < bytes / 2) await new Promise((r) => setTimeout(r, 5));
    }
    clearInterval(watch);
    expect(received).toBe(bytes);
    // Paused while the response's buffer is full: it holds a few chunks, never most of the body.
    expect(mostBuffered).toBeGreaterThan(0);
    expect(mostBuffered).toBeLessThan(1024 * 1024);
    expect(wrong).toBe(0);
    await expect.poll(() => ends).toEqual(['ok']);
  });

  it('keeps body chunks that arrive before the response is attached', async () => {
    relayDelayMs = 50;
    upstream.behave({ kind: 'sse', events: ['a', 'b'], gapMs: 0 });
    const res = await request(`${frontUrl}/stream`);
    expect(await res.body.text()).toBe('data: a\n\ndata: b\n\n');
  });

  it('streams chunks as they come', async () => {
    upstream.behave({ kind: 'sse', events: ['a', 'b', 'c'], gapMs: 60 });
    const res = await request(`${frontUrl}/stream`);
    const arrivals: number[] = [];
    const started = Date.now();
    for await (const _chunk of res.body) arrivals.push(Date.now() - started);
    expect(arrivals.length).toBeGreaterThanOrEqual(3);
    expect(arrivals[0]).toBeLessThan(arrivals.at(-1)! - 60);
  });

  it('cuts the caller off and reports the failure when the upstream resets mid-body', async () => {
    upstream.behave({ kind: 'reset-mid-body' });
    const res = await request(`${frontUrl}/reset`);
    await expect(res.body.text()).rejects.toThrow();
    await expect.poll(() => ends.length).toBe(1);
    expect(ends[0]).not.toBe('ok');
    expect(settled).toBe(1);
  });

  it('aborts the upstream call when the caller leaves mid-body', async () => {
    upstream.behave({ kind: 'sse', events: Array.from({ length: 50 }, (_, i) => `e${i}`), gapMs: 20 });
    const before = upstream.abandoned();
    const controller = new AbortController();
    const res = await request(`${frontUrl}/stream`, { signal: controller.signal });
    for await (const _chunk of res.body) {
      controller.abort();
      break;
    }
    await expect.poll(() => upstream.abandoned(), { timeout: 2_000 }).toBe(before + 1);
    await expect.poll(() => ends).toEqual(['the caller closed the connection']);
    expect(settled).toBe(1);
  });

  it('discards a body still coming: the upstream call is aborted and the exchange settles', async () => {
    upstream.behave({ kind: 'status-open-body', status: 503 });
    const before = upstream.abandoned();
    const exchange: UpstreamExchange = await client.exchange(
      { id: 'u1', url: upstream.url },
      { method: 'GET', path: '/', headers: {} },
    );
    let left = 0;
    exchange.leaveWhenSettled({ leave: () => left++ });
    expect(exchange.status).toBe(503);
    exchange.discard();
    exchange.discard();
    await expect.poll(() => upstream.abandoned(), { timeout: 2_000 }).toBe(before + 1);
    expect(left).toBe(1);
  });

  it('rejects with an aborted failure when the caller’s signal fires before the headers', async () => {
    upstream.behave({ kind: 'hang' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const error = await client
      .exchange(
        { id: 'u1', url: upstream.url },
        { method: 'GET', path: '/', headers: {}, signal: controller.signal },
      )
      .catch((e) => e);
    expect(error.kind).toBe('aborted');
  });

  it('fires the read timeout as a timeout failure', async () => {
    upstream.behave({ kind: 'hang' });
    const error = await client
      .exchange(
        { id: 'u1', url: upstream.url },
        { method: 'GET', path: '/', headers: {}, headersTimeoutMs: 100 },
      )
      .catch((e) => e);
    expect(error.kind).toBe('timeout');
  });
});
