import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModelSelector, ModelsConfig } from '../../../src/gateway/selection/index.js';
import { ManualClock } from '../../../src/kernel/clock.js';
import { readSection } from '../../../src/kernel/config.js';
import { isAimeshError } from '../../../src/kernel/errors.js';

const catalogue = [
  {
    id: 'sentiment-small',
    version: '3',
    type: 'sentiment',
    upstream: 'model-inference',
    accuracy: 0.91,
    costPerCall: 0.0001,
    latencyMs: 20,
  },
  {
    id: 'sentiment-large',
    version: '7',
    type: 'sentiment',
    upstream: 'model-inference',
    accuracy: 0.97,
    costPerCall: 0.002,
    latencyMs: 120,
  },
  {
    id: 'sentiment-remote',
    version: '2024-06',
    type: 'sentiment',
    upstream: 'provider',
    accuracy: 0.96,
    costPer1kTokens: 0.5,
    tokensPerCall: 200,
    latencyMs: 300,
  },
  { id: 'summarise', type: 'summary', upstream: 'model-inference', accuracy: 0.9, costPerCall: 0.01 },
];

function selector(overrides: Record<string, unknown> = {}) {
  const clock = new ManualClock(0);
  const config = readSection(ModelsConfig, { catalogue, ...overrides }, '/gateway/models');
  return { clock, selector: new ModelSelector({ config, clock }) };
}

function failure(fn: () => unknown) {
  try {
    fn();
  } catch (error) {
    if (isAimeshError(error)) return error;
    throw error;
  }
  throw new Error('expected an AimeshError');
}

describe('Model selection', () => {
  it('ranks the models of a type cheapest first when there are no constraints', () => {
    const { selector: s } = selector();
    expect(s.rank('sentiment', {}).map((c) => c.id)).toEqual([
      'sentiment-small',
      'sentiment-large',
      'sentiment-remote',
    ]);
  });

  it('keeps only the models meeting minAccuracy, then picks the cheapest of them', () => {
    const { selector: s } = selector();
    const ranked = s.rank('sentiment', { minAccuracy: 0.95 });
    expect(ranked.map((c) => c.id)).toEqual(['sentiment-large', 'sentiment-remote']);
    expect(ranked[0]).toMatchObject({ version: '7', upstream: 'model-inference', accuracy: 0.97 });
  });

  it('keeps a model whose accuracy or latency equals the constraint exactly', () => {
    const { selector: s } = selector();
    expect(s.rank('sentiment', { minAccuracy: 0.97 }).map((c) => c.id)).toEqual(['sentiment-large']);
    expect(s.rank('sentiment', { minAccuracy: 0.96 }).map((c) => c.id)).toEqual([
      'sentiment-large',
      'sentiment-remote',
    ]);
    expect(s.rank('sentiment', { maxLatencyMs: 20 }).map((c) => c.id)).toEqual(['sentiment-small']);
    expect(s.rank('sentiment', { maxLatencyMs: 120 }).map((c) => c.id)).toEqual([
      'sentiment-small',
      'sentiment-large',
    ]);
    expect(failure(() => s.rank('sentiment', { minAccuracy: 0.971 })).code).toBe('no_suitable_model');
  });

  it('counts tokens in the cost: 200 tokens at 0.5 per 1k cost 0.1 a call', () => {
    const { selector: s } = selector();
    const remote = s.rank('sentiment', {}).find((c) => c.id === 'sentiment-remote')!;
    expect(remote.expectedCost).toBeCloseTo(0.1, 10);
  });

  it('filters by maxLatency using the latency observed from live traffic (EWMA)', () => {
    const { selector: s } = selector();
    expect(s.rank('sentiment', { maxLatencyMs: 150, minAccuracy: 0.95 })[0].id).toBe('sentiment-large');
    for (let i = 0; i < 20; i++) s.observe('sentiment-large', 400, true);
    const ranked = s.rank('sentiment', { minAccuracy: 0.95 });
    expect(ranked.find((c) => c.id === 'sentiment-large')!.latencyMs).toBeGreaterThan(390);
    const failure422 = failure(() => s.rank('sentiment', { maxLatencyMs: 150, minAccuracy: 0.95 }));
    expect(failure422.status).toBe(422);
  });

  it('does not let fast failures make a model look fast', () => {
    const { selector: s } = selector();
    for (let i = 0; i < 20; i++) s.observe('sentiment-large', 1, false);
    expect(s.rank('sentiment', {}).find((c) => c.id === 'sentiment-large')!.latencyMs).toBe(120);
  });

  it('answers 422 no_suitable_model naming the constraints when none qualifies', () => {
    const { selector: s } = selector();
    const error = failure(() => s.rank('sentiment', { maxLatencyMs: 10, minAccuracy: 0.99 }));
    expect(error.code).toBe('no_suitable_model');
    expect(error.message).toContain('maxLatency 10 ms');
    expect(error.message).toContain('minAccuracy 0.99');
    expect(failure(() => s.rank('translation', {})).code).toBe('no_suitable_model');
  });

  it('spreads a fixed hourly price over the observed throughput, so busy self-hosted models get cheaper', () => {
    const { clock, selector: s } = selector({
      catalogue: [
        { id: 'hosted', type: 't', upstream: 'u', costPerHour: 36, throughput: 1 },
        { id: 'provider', type: 't', upstream: 'p', costPerCall: 0.002 },
      ],
      throughputWindowMs: 1_000,
    });
    // Idle: 36/h at 1 call/s is 0.01 a call, dearer than the provider's 0.002.
    expect(s.rank('t', {})[0].id).toBe('provider');
    for (let i = 0; i < 50; i++) s.observe('hosted', 10, true);
    clock.advance(1_000);
    const hosted = s.rank('t', {}).find((c) => c.id === 'hosted')!;
    expect(hosted.throughput).toBe(50);
    expect(hosted.expectedCost).toBeCloseTo(0.0002, 10);
    expect(s.rank('t', {})[0].id).toBe('hosted');
  });

  it('takes accuracy from an injected source (the registry) over the config figure', () => {
    const clock = new ManualClock(0);
    const config = readSection(ModelsConfig, { catalogue }, '/gateway/models');
    const s = new ModelSelector({
      config,
      clock,
      accuracy: { accuracyOf: (id) => (id === 'sentiment-small' ? 0.99 : undefined) },
    });
    expect(s.rank('sentiment', { minAccuracy: 0.98 }).map((c) => c.id)).toEqual(['sentiment-small']);
  });
});

describe('ModelSelector ranking', () => {
  it('returns exactly the models meeting the constraints, cheapest first, then faster, then by id', () => {
    const model = fc.record({
      id: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
      costPerCall: fc.constantFrom(0, 0.001, 0.002, 0.01),
      accuracy: fc.constantFrom(0.5, 0.9, 0.95, 0.99),
      latencyMs: fc.constantFrom(5, 20, 100),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(model, { minLength: 1, maxLength: 6, selector: (m) => m.id }),
        fc.option(fc.constantFrom(10, 20, 50, 100, 500), { nil: undefined }),
        // Values the models also take, so the boundaries are hit.
        fc.option(fc.constantFrom(0.8, 0.9, 0.92, 0.95, 0.97), { nil: undefined }),
        (models, maxLatencyMs, minAccuracy) => {
          const config = readSection(
            ModelsConfig,
            { catalogue: models.map((m) => ({ ...m, type: 't', upstream: 'u' })) },
            '/gateway/models',
          );
          const ranker = new ModelSelector({ config, clock: new ManualClock(0) });
          const expected = models
            .filter(
              (m) =>
                (maxLatencyMs === undefined || m.latencyMs <= maxLatencyMs) &&
                (minAccuracy === undefined || m.accuracy >= minAccuracy),
            )
            .sort(
              (x, y) =>
                x.costPerCall - y.costPerCall || x.latencyMs - y.latencyMs || x.id.localeCompare(y.id),
            )
            .map((m) => m.id);
          let ranked: string[];
          try {
            ranked = ranker.rank('t', { maxLatencyMs, minAccuracy }).map((c) => c.id);
          } catch (error) {
            if (!isAimeshError(error) || error.code !== 'no_suitable_model') throw error;
            ranked = [];
          }
          expect(ranked).toEqual(expected);
        },
      ),
    );
  });
});
