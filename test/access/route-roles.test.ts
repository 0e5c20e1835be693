import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import type { GuardedRoute } from '../../src/kernel/access.js';
import { startTestAimesh } from '../support/aimesh.js';

/** A concrete path for a route pattern: `:param` and `*` filled with a word. */
function pathOf(url: string): string {
  return url.replace(/:[A-Za-z]+/g, 'x1').replace(/\*$/, 'x1');
}

describe('every route of the whole platform', () => {
  let aimesh: RunningAimesh;
  let routes: GuardedRoute[];
  const listeners: Record<string, string> = {};

  beforeAll(async () => {
    aimesh = await startTestAimesh();
    routes = aimesh.http.access.routes.filter((r) => r.method !== 'HEAD');
    listeners.main = aimesh.url;
    listeners.inference = aimesh.manager.api('inference')!.url;
    listeners.training = aimesh.manager.api('pipeline')!.url;
  }, 120_000);
  afterAll(() => aimesh?.stop());

  it('covers every module’s routes on every listener', () => {
    const where = new Set(routes.map((r) => r.listener));
    expect([...where].sort()).toEqual(['inference', 'main', 'training']);
    for (const prefix of [
      '/api/v1/events',
      '/api/v1/models',
      '/api/v1/datasets',
      '/api/v1/discovery/instances',
      '/api/v1/admin/keys',
      '/v2/repository/models/:name/load',
      '/api/v1/training/executions',
    ])
      expect(routes.some((r) => r.url.startsWith(prefix))).toBe(true);
  });

  it('has every route state its role', () => {
    const silent = routes.filter((r) => !r.stated).map((r) => `${r.listener} ${r.method} ${r.url}`);
    expect(silent).toEqual([]);
  });

  it('answers 401 missing_credentials on every non-public route called without credentials', async () => {
    const guarded = routes.filter((r) => r.role !== 'public');
    expect(guarded.length).toBeGreaterThan(50);
    const open: string[] = [];
    for (const route of guarded) {
      const response = await fetch(`${listeners[route.listener]}${pathOf(route.url)}`, {
        method: route.method,
        headers: ['POST', 'PUT', 'PATCH'].includes(route.method)
          ? { 'content-type': 'application/json' }
          : {},
        body: ['POST', 'PUT', 'PATCH'].includes(route.method) ? '{}' : undefined,
      });
      const body = (await response.json()) as { error?: { code?: string } };
      if (response.status !== 401 || body.error?.code !== 'missing_credentials')
        open.push(`${route.listener} ${route.method} ${route.url} → ${response.status}`);
    }
    expect(open).toEqual([]);
  }, 60_000);

  it('keeps health, metrics, docs and the V2 data plane public', () => {
    const publicUrls = new Set(
      routes.filter((r) => r.role === 'public').map((r) => `${r.listener} ${r.url}`),
    );
    for (const url of [
      'main /healthz',
      'main /readyz',
      'main /metrics',
      'main /docs/json',
      'inference /v2/models/:name/infer',
    ])
      expect(publicUrls.has(url)).toBe(true);
  });
});
