import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSelectionConstraints } from '../../../src/gateway/selection/index.js';
import { AimeshError } from '../../../src/kernel/errors.js';

describe('Selection constraints from the query string', () => {
  it.each([
    [{ maxLatency: '250' }, { maxLatencyMs: 250 }],
    [{ maxLatency: '250ms' }, { maxLatencyMs: 250 }],
    [{ maxLatency: '1.5s' }, { maxLatencyMs: 1500 }],
    [{ minAccuracy: '0.95' }, { minAccuracy: 0.95 }],
    [{ minAccuracy: '95%' }, { minAccuracy: 0.95 }],
    [
      { maxLatency: 100, minAccuracy: 1 },
      { maxLatencyMs: 100, minAccuracy: 1 },
    ],
    [{}, {}],
  ])('reads %j as %j', (query, expected) => {
    expect(parseSelectionConstraints(query)).toEqual(expected);
  });

  it.each([
    [{ maxLatency: 'fast' }, 'maxLatency'],
    [{ maxLatency: '0' }, 'maxLatency'],
    [{ maxLatency: '-5' }, 'maxLatency'],
    [{ maxLatency: '2h' }, 'maxLatency'],
    [{ minAccuracy: '1.5' }, 'minAccuracy'],
    [{ minAccuracy: '120%' }, 'minAccuracy'],
    [{ minAccuracy: ['0.9', '0.8'] }, 'minAccuracy'],
  ])('refuses %j with 400 invalid_constraint naming %s', (query, name) => {
    expect(() => parseSelectionConstraints(query)).toThrow(
      expect.objectContaining({
        status: 400,
        code: 'invalid_constraint',
        message: expect.stringContaining(name),
      }),
    );
  });

  it('round-trips every valid latency in ms and in s', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3_600_000 }), fc.constantFrom('', 'ms'), (ms, unit) => {
        expect(parseSelectionConstraints({ maxLatency: `${ms}${unit}` }).maxLatencyMs).toBe(ms);
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3600 }), (s) => {
        expect(parseSelectionConstraints({ maxLatency: `${s}s` }).maxLatencyMs).toBe(s * 1000);
      }),
    );
  });

  it('round-trips every accuracy as a fraction and as a percentage', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), (pct) => {
        expect(parseSelectionConstraints({ minAccuracy: `${pct}%` }).minAccuracy).toBeCloseTo(pct / 100, 12);
        expect(parseSelectionConstraints({ minAccuracy: String(pct / 100) }).minAccuracy).toBeCloseTo(
          pct / 100,
          12,
        );
      }),
    );
  });

  it('either returns constraints in range or throws a 400, for any input', () => {
    const value = fc.oneof(
      fc.string(),
      fc.double(),
      fc.array(fc.string(), { maxLength: 3 }),
      fc.constant(null),
    );
    fc.assert(
      fc.property(value, value, (maxLatency, minAccuracy) => {
        try {
          const c = parseSelectionConstraints({ maxLatency, minAccuracy });
          if (c.maxLatencyMs !== undefined)
            expect(c.maxLatencyMs > 0 && c.maxLatencyMs <= 3_600_000).toBe(true);
          if (c.minAccuracy !== undefined) expect(c.minAccuracy >= 0 && c.minAccuracy <= 1).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(AimeshError);
          expect((error as AimeshError).status).toBe(400);
        }
      }),
    );
  });
});
