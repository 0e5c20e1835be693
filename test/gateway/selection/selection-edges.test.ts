import { describe, expect, it } from 'vitest';
import {
  ModelSelector,
  ModelsConfig,
  parseSelectionConstraints,
} from '../../../src/gateway/selection/index.js';
import { ManualClock } from '../../../src/kernel/clock.js';
import { readSection } from '../../../src/kernel/config.js';

function selector(catalogue: unknown[], extra: Record<string, unknown> = {}) {
  const clock = new ManualClock(0);
  const config = readSection(ModelsConfig, { catalogue, ...extra }, '/gateway/models');
  return { clock, s: new ModelSelector({ config, clock }) };
}

function caught(fn: () => unknown) {
  try {
    fn();
  } catch (error) {
    return error as { code: string; status: number; message: string; details: unknown };
  }
  throw new Error('expected a failure');
}

describe('ModelSelector edges', () => {
  const two = [
    { id: 'm1', type: 't', upstream: 'u', accuracy: 0.9, latencyMs: 40.4 },
    { id: 'm2', type: 't', upstream: 'u', accuracy: 0.8, latencyMs: 10 },
  ];

  it('lists its types and refuses an unknown one with 422, naming it', () => {
    const { s } = selector([...two, { id: 'x', type: 'other', upstream: 'u' }]);
    expect(s.types()).toEqual(['t', 'other']);
    const error = caught(() => s.rank('nope', { minAccuracy: 0.5 }));
    expect(error).toMatchObject({
      code: 'no_suitable_model',
      status: 422,
      message: "no model of type 'nope' is in the catalogue",
      details: { type: 'nope', constraints: { minAccuracy: 0.5 } },
    });
  });

  it('names each model of the type with its latency and accuracy when none qualifies', () => {
    const { s } = selector(two);
    const error = caught(() => s.rank('t', { minAccuracy: 0.95 }));
    expect(error.message).toBe(
      "no model of type 't' meets minAccuracy 0.95; closest: m1 (40 ms, accuracy 0.9), m2 (10 ms, accuracy 0.8)",
    );
    expect(error.details).toEqual({ type: 't', constraints: { minAccuracy: 0.95 } });
    expect(caught(() => s.rank('t', { maxLatencyMs: 5 })).message).toContain(
      'meets maxLatency 5 ms; closest',
    );
  });

  it('keeps catalogue order among models that tie on cost and latency by id', () => {
    const { s } = selector([
      { id: 'b', type: 't', upstream: 'u', latencyMs: 10 },
      { id: 'a', type: 't', upstream: 'u', latencyMs: 10 },
      { id: 'c', type: 't', upstream: 'u', latencyMs: 5 },
    ]);
    expect(s.rank('t', {}).map((c) => c.id)).toEqual(['c', 'a', 'b']);
  });

  it('keeps catalogue order between entries that tie on everything, even their id', () => {
    const { s } = selector([
      { id: 'm', version: '1', type: 't', upstream: 'u' },
      { id: 'm', version: '2', type: 't', upstream: 'u' },
      { id: 'm', version: '3', type: 't', upstream: 'u' },
    ]);
    expect(s.rank('t', {}).map((c) => c.version)).toEqual(['1', '2', '3']);
  });

  it('says whether it lists a type, and the type of a model it lists', () => {
    const { s } = selector([...two, { id: 'x', type: 'other', upstream: 'u' }]);
    expect(s.hasType('t')).toBe(true);
    expect(s.hasType('other')).toBe(true);
    expect(s.hasType('m1')).toBe(false);
    expect(s.typeOf('m2')).toBe('t');
    expect(s.typeOf('x')).toBe('other');
    expect(s.typeOf('t')).toBeUndefined();
  });

  it('averages latencies and tokens per call with alpha 0.2, ignoring failures, negatives and unknown models', () => {
    const { s } = selector([
      { id: 'm', type: 't', upstream: 'u', latencyMs: 100, costPer1kTokens: 1, tokensPerCall: 100 },
    ]);
    s.observe('unknown', 1, true, 1);
    s.observe('m', 0, true, 0);
    expect(s.rank('t', {})[0]).toMatchObject({ latencyMs: 80, expectedCost: 0.08 });
    s.observe('m', -5, true, -5);
    s.observe('m', 10, false, 1_000);
    s.observe('m', 80, true);
    const m = s.rank('t', {})[0];
    expect(m.latencyMs).toBe(80);
    expect(m.expectedCost).toBeCloseTo(0.08, 10);
  });

  it('counts throughput over one window, and as nothing after an idle gap of two windows', async () => {
    const { clock, s } = selector([{ id: 'm', type: 't', upstream: 'u', throughput: 1 }], {
      throughputWindowMs: 1_000,
    });
    for (let i = 0; i < 10; i++) s.observe('m', 1, true);
    await clock.advance(1_999);
    expect(s.rank('t', {})[0].throughput).toBeCloseTo(10_000 / 1_999, 10);
    for (let i = 0; i < 10; i++) s.observe('m', 1, true);
    await clock.advance(2_000);
    expect(s.rank('t', {})[0].throughput).toBe(1);
  });
});

describe('Selection constraints, further', () => {
  it.each([
    [{ maxLatency: ' 250 ' }, { maxLatencyMs: 250 }],
    [{ maxLatency: ['300'] }, { maxLatencyMs: 300 }],
    [{ maxLatency: 3_600_000 }, { maxLatencyMs: 3_600_000 }],
    [{ minAccuracy: 1 }, { minAccuracy: 1 }],
    [{ minAccuracy: '0' }, { minAccuracy: 0 }],
  ])('reads %j', (query, expected) => {
    expect(parseSelectionConstraints(query)).toEqual(expected);
  });

  it.each([
    [{ maxLatency: ['1', '2'] }, 'maxLatency is given 2 times; give it once'],
    [{ minAccuracy: { a: 1 } }, 'minAccuracy must be a number'],
    [{ maxLatency: true }, 'maxLatency must be a number'],
    [{ maxLatency: '3600001' }, 'maxLatency must be a duration'],
    [{ maxLatency: '0' }, 'maxLatency must be a duration'],
    [{ minAccuracy: '1.01' }, 'minAccuracy must be a fraction'],
    [{ minAccuracy: '101%' }, 'minAccuracy must be a fraction'],
    [
      { minAccuracy: 'high' },
      "minAccuracy must be a fraction from 0 to 1 (0.95) or a percentage (95%); got 'high'",
    ],
    [{ minAccuracy: '' }, "got ''"],
  ])('refuses %j with 400 invalid_constraint', (query, message) => {
    const error = caught(() => parseSelectionConstraints(query));
    expect(error).toMatchObject({ code: 'invalid_constraint', status: 400 });
    expect(error.message).toContain(message);
  });
});
