import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GatewayConfig } from '../../../src/gateway/config.js';
import {
  compileRoutes,
  fieldAt,
  pickWeighted,
  resolveTarget,
  upstreamPath,
} from '../../../src/gateway/routing/route-table.js';
import { readSection } from '../../../src/kernel/config.js';
import { seededRandom } from '../../../src/kernel/random.js';

describe('gateway routes config', () => {
  it('defaults to the seed’s routes: /api/v1/ai/** and /v2/** to model-inference, /api/v1/training/** to model-training', () => {
    const config = readSection(GatewayConfig, {}, '/gateway');
    const routes = compileRoutes(config.routes);
    expect(routes.map((r) => [r.name, r.target])).toEqual([
      ['/api/v1/ai/**', { kind: 'service', service: 'model-inference' }],
      ['/v2/**', { kind: 'service', service: 'model-inference' }],
      ['/api/v1/training/**', { kind: 'service', service: 'model-training' }],
    ]);
    expect(routes[0]).toMatchObject({
      prefix: '/api/v1/ai',
      subtree: true,
      policy: 'inference',
      modelAware: true,
    });
  });

  it('refuses a route with both or neither of service and upstreams, naming the entry', () => {
    expect(() => compileRoutes([{ path: '/a/**', policy: 'default', modelAware: false, match: [] }])).toThrow(
      /\/gateway\/routes\/0: expected exactly one of service or upstreams/,
    );
    expect(() =>
      compileRoutes([
        {
          path: '/a/**',
          service: 's',
          upstreams: ['http://x'],
          policy: 'default',
          modelAware: false,
          match: [],
        },
      ]),
    ).toThrow(/exactly one/);
  });

  it('refuses duplicate paths and bad patterns', () => {
    const route = { path: '/a/**', service: 's', policy: 'default', modelAware: false, match: [] };
    expect(() => compileRoutes([route, route])).toThrow(/\/gateway\/routes\/1\/path/);
    expect(() => compileRoutes([{ ...route, match: [{ header: 'x', pattern: '(', service: 't' }] }])).toThrow(
      /match\/0\/pattern/,
    );
  });

  it('rejects path globs other than a trailing /**', () => {
    expect(() =>
      readSection(GatewayConfig, { routes: [{ path: '/a/*/b', service: 's' }] }, '/gateway'),
    ).toThrow(/routes\/0\/path/);
  });
});

describe('content-based routing', () => {
  const [route] = compileRoutes([
    {
      path: '/c/**',
      service: 'default-svc',
      policy: 'default',
      modelAware: false,
      match: [
        { header: 'X-Tenant', equals: 'beta', service: 'beta-svc' },
        { field: 'input.lang', pattern: '^de', upstreams: ['http://127.0.0.1:9/'] },
      ],
    },
  ]);

  it('matches a header, case-insensitively by name', () => {
    expect(resolveTarget(route, { 'x-tenant': 'beta' }, { value: () => undefined })).toEqual({
      kind: 'service',
      service: 'beta-svc',
    });
  });

  it('matches a JSON body field, and reads the body only when a rule needs it', () => {
    let reads = 0;
    const body = {
      value: () => {
        reads++;
        return { input: { lang: 'de-CH' } };
      },
    };
    expect(resolveTarget(route, { 'x-tenant': 'beta' }, body).kind).toBe('service');
    expect(reads).toBe(0);
    expect(resolveTarget(route, {}, body)).toMatchObject({ kind: 'static', name: 'http://127.0.0.1:9' });
  });

  it('falls back to the route’s own target', () => {
    expect(resolveTarget(route, {}, { value: () => ({ input: { lang: 'en' } }) })).toEqual({
      kind: 'service',
      service: 'default-svc',
    });
  });

  it('reads scalar fields only, whatever the body', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.array(fc.string(), { maxLength: 4 }), (body, path) => {
        const value = fieldAt(body, path);
        expect(value === undefined || typeof value === 'string').toBe(true);
      }),
    );
    expect(fieldAt({ a: { b: 3 } }, ['a', 'b'])).toBe('3');
    expect(fieldAt({ a: { b: [1] } }, ['a', 'b'])).toBeUndefined();
  });
});

describe('upstreamPath', () => {
  const [route] = compileRoutes([
    { path: '/p/**', service: 's', stripPrefix: '/p', policy: 'default', modelAware: false, match: [] },
  ]);
  it('strips the configured prefix and keeps the query', () => {
    expect(upstreamPath(route, '/p/a/b?x=1')).toBe('/a/b?x=1');
    expect(upstreamPath(route, '/p?x=1')).toBe('/?x=1');
    expect(upstreamPath(route, '/p')).toBe('/');
    expect(upstreamPath(route, '/other')).toBe('/other');
  });
});

describe('pickWeighted (canary splits)', () => {
  it('splits in proportion to the weights', () => {
    const random = seededRandom(7);
    const split = [
      { version: '1', weight: 90 },
      { version: '2', weight: 10 },
    ];
    let canary = 0;
    for (let i = 0; i < 2_000; i++) if (pickWeighted(split, random) === '2') canary++;
    expect(canary).toBeGreaterThan(140);
    expect(canary).toBeLessThan(260);
  });

  it('never picks a zero weight, and gives up when all are zero', () => {
    const random = seededRandom(8);
    for (let i = 0; i < 100; i++) {
      expect(
        pickWeighted(
          [
            { version: 'a', weight: 0 },
            { version: 'b', weight: 1 },
          ],
          random,
        ),
      ).toBe('b');
    }
    expect(pickWeighted([{ version: 'a', weight: 0 }], random)).toBeUndefined();
  });
});
