import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createHttpServer, TrafficRoutes } from '../../src/kernel/http.js';
import { createLogger } from '../../src/kernel/logger.js';

const req = (url: string) => ({ url, headers: {} }) as IncomingMessage;
const res = {} as ServerResponse;

describe('TrafficRoutes', () => {
  it('takes a prefix and the paths under it, with any query, but not a sibling sharing its letters', () => {
    const routes = new TrafficRoutes(() => 'id-1');
    const taken: string[] = [];
    routes.add('/api/v1/ai', (r, _res, id) => taken.push(`${r.url} ${id}`));
    expect(routes.dispatch(req('/api/v1/ai'), res)).toBe(true);
    expect(routes.dispatch(req('/api/v1/ai/models/x/infer?maxLatency=5'), res)).toBe(true);
    expect(routes.dispatch(req('/api/v1/ai?x=1'), res)).toBe(true);
    expect(routes.dispatch(req('/api/v1/aix'), res)).toBe(false);
    expect(routes.dispatch(req('/api/v1'), res)).toBe(false);
    expect(taken).toEqual([
      '/api/v1/ai id-1',
      '/api/v1/ai/models/x/infer?maxLatency=5 id-1',
      '/api/v1/ai?x=1 id-1',
    ]);
  });

  it('prefers the longest prefix', () => {
    const routes = new TrafficRoutes(() => 'id');
    const taken: string[] = [];
    routes.add('/a', () => taken.push('short'));
    routes.add('/a/b', () => taken.push('long'));
    routes.dispatch(req('/a/b/c'), res);
    routes.dispatch(req('/a/c'), res);
    expect(taken).toEqual(['long', 'short']);
  });

  it('leaves a prefix to the router when another route lies at or under it, and never takes the root', () => {
    const routes = new TrafficRoutes(() => 'id');
    routes.add('/api/v1', () => {});
    routes.add('/x', () => {});
    routes.add('/', () => {});
    routes.add('', () => {});
    routes.routed('/api/v1/events');
    expect(routes.dispatch(req('/api/v1/anything'), res)).toBe(false);
    expect(routes.dispatch(req('/x/y'), res)).toBe(true);
    expect(routes.dispatch(req('/elsewhere'), res)).toBe(false);
    routes.routed('/x');
    expect(routes.dispatch(req('/x/y'), res)).toBe(false);
  });
});

describe('the HTTP server in front of the router', () => {
  it('keeps the connection settings Fastify gives a server it makes itself', async () => {
    const app = await createHttpServer({ logger: createLogger('silent'), bodyLimitBytes: 1024 * 1024 });
    try {
      expect(app.server.keepAliveTimeout).toBe(72_000);
      expect(app.server.requestTimeout).toBe(0);
      expect(app.traffic).toBeInstanceOf(TrafficRoutes);
    } finally {
      await app.close();
    }
  });
});
