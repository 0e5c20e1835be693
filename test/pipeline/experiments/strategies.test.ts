import { describe, expect, it } from 'vitest';
import { asha, continuesAtRung, rungEpochs } from '../../../src/pipeline/experiments/asha.js';
import { strategyOf } from '../../../src/pipeline/experiments/experiment-spec.js';
import { gridSearch } from '../../../src/pipeline/experiments/grid-search.js';
import { randomSearch } from '../../../src/pipeline/experiments/random-search.js';
import {
  gridPoint,
  paramsKey,
  parseDimensionFlag,
  readSearchSpace,
} from '../../../src/pipeline/experiments/search-space.js';

const SEED_GRID = {
  learningRate: [0.001, 0.01, 0.1],
  batchSize: [32, 64, 128],
  epochs: [10, 20, 50],
  dropout: [0.1, 0.2, 0.5],
};

const all = (strategy: ReturnType<typeof gridSearch>, limit = 100_000) => {
  const points = [];
  for (let n = 0; n < limit; n++) {
    const p = strategy.candidate(n, []);
    if (p === null) break;
    points.push(p);
  }
  return points;
};

describe('search spaces', () => {
  it('reads lists, choices, uniform, int and log-uniform ranges', () => {
    expect(
      readSearchSpace({
        a: [1, 2],
        b: { choices: ['x', 'y'] },
        c: { uniform: [0, 1] },
        d: { int: [1, 4] },
        e: { logUniform: [0.001, 0.1] },
      }),
    ).toEqual({
      a: { kind: 'list', values: [1, 2] },
      b: { kind: 'list', values: ['x', 'y'] },
      c: { kind: 'uniform', min: 0, max: 1 },
      d: { kind: 'int', min: 1, max: 4 },
      e: { kind: 'logUniform', min: 0.001, max: 0.1 },
    });
  });

  it.each([
    [{}, 'needs 1 to'],
    [{ a: [] }, 'choices must be'],
    [{ a: { uniform: [2, 1] } }, 'min <= max'],
    [{ a: { logUniform: [0, 1] } }, 'min > 0'],
    [{ a: { int: [0.5, 2] } }, 'integer bounds'],
    [{ a: { gauss: [0, 1] } }, 'unknown kind'],
    [{ 'a-b': [1] }, 'not a parameter name'],
  ])('refuses %j with 400 invalid_search_space (%s)', (space, message) => {
    expect(() => readSearchSpace(space)).toThrow(
      expect.objectContaining({ code: 'invalid_search_space', status: 400 }),
    );
    expect(() => readSearchSpace(space)).toThrow(message);
  });

  it('reads CLI flags: lists and ranges', () => {
    expect(parseDimensionFlag('learningRate=0.001,0.01')).toEqual(['learningRate', [0.001, 0.01]]);
    expect(parseDimensionFlag('opt=adam,sgd')).toEqual(['opt', ['adam', 'sgd']]);
    expect(parseDimensionFlag('lr=log:0.0001:0.1')).toEqual(['lr', { logUniform: [0.0001, 0.1] }]);
    expect(parseDimensionFlag('units=int:8:32')).toEqual(['units', { int: [8, 32] }]);
    expect(parseDimensionFlag('dropout=uniform:0.1:0.5')).toEqual(['dropout', { uniform: [0.1, 0.5] }]);
  });

  it('keys parameters independently of their order', () => {
    expect(paramsKey({ b: 1, a: 2 })).toBe(paramsKey({ a: 2, b: 1 }));
    expect(paramsKey({ a: 1 })).not.toBe(paramsKey({ a: 2 }));
  });
});

describe('grid search', () => {
  it("walks the seed's 81 points, each once", () => {
    const points = all(gridSearch(readSearchSpace(SEED_GRID)));
    expect(points).toHaveLength(81);
    expect(new Set(points.map(paramsKey)).size).toBe(81);
    expect(points[0]).toEqual({ batchSize: 32, dropout: 0.1, epochs: 10, learningRate: 0.001 });
    expect(points[80]).toEqual({ batchSize: 128, dropout: 0.5, epochs: 50, learningRate: 0.1 });
    expect(gridPoint(readSearchSpace(SEED_GRID), 81)).toBeNull();
  });

  it('refuses a continuous range', () => {
    expect(() => gridSearch(readSearchSpace({ a: { uniform: [0, 1] } }))).toThrow('random search');
  });
});

describe('random search', () => {
  it('draws the same points for the same seed, different ones for another', () => {
    const space = readSearchSpace({ lr: { logUniform: [0.0001, 0.1] }, units: { int: [4, 64] } });
    const a = all(randomSearch(space, 10, 7), 10);
    expect(all(randomSearch(space, 10, 7), 10)).toEqual(a);
    expect(all(randomSearch(space, 10, 8), 10)).not.toEqual(a);
    for (const p of a) {
      expect(p.lr).toBeGreaterThanOrEqual(0.0001);
      expect(p.lr).toBeLessThanOrEqual(0.1);
      expect(Number.isInteger(p.units)).toBe(true);
    }
  });

  it('caps the budget at the distinct points of a finite space and bounds the draws', () => {
    const strategy = randomSearch(readSearchSpace({ a: [1, 2, 3] }), 50, 1);
    expect(strategy.total).toBe(3);
    expect(strategy.candidate(100, [])).toBeNull();
  });
});

describe('ASHA', () => {
  it('puts rungs at min·η^k below max', () => {
    expect(rungEpochs(10, 50, 3)).toEqual([10, 30]);
    expect(rungEpochs(1, 27, 3)).toEqual([1, 3, 9]);
    expect(rungEpochs(10, 90, 3)).toEqual([10, 30]);
  });

  it('keeps the best max(1, ⌊n/η⌋) of the n values at a rung', () => {
    expect(continuesAtRung(0.5, [], 3, 'maximize')).toBe(true); // n=1, keep 1
    expect(continuesAtRung(0.4, [0.5], 3, 'maximize')).toBe(false); // n=2, keep 1, rank 2
    expect(continuesAtRung(0.6, [0.5, 0.4], 3, 'maximize')).toBe(true); // n=3, rank 1
    expect(continuesAtRung(0.5, [0.6, 0.4, 0.3, 0.2, 0.1], 3, 'maximize')).toBe(true); // n=6, keep 2, rank 2
    expect(continuesAtRung(0.5, [0.6, 0.55, 0.3, 0.2, 0.1], 3, 'maximize')).toBe(false); // rank 3
    expect(continuesAtRung(0.5, [0.5], 2, 'maximize')).toBe(true); // a tie shares the better rank
    expect(continuesAtRung(0.2, [0.5, 0.9], 3, 'minimize')).toBe(true);
  });

  it('trains every configuration with the resource at its maximum', () => {
    const strategy = strategyOf({
      space: SEED_GRID,
      strategy: 'asha',
      metric: 'accuracy',
      direction: 'maximize',
      parallel: 1,
      maxFailedTrials: 0,
      seed: 1,
      asha: { resource: 'epochs', reductionFactor: 3 },
      promote: { alias: 'production', enabled: true },
    });
    const points = all(strategy);
    expect(points).toHaveLength(27);
    expect(new Set(points.map((p) => p.epochs))).toEqual(new Set([50]));
    expect(new Set(points.map(paramsKey)).size).toBe(27);
  });

  it('stops and promotes trials step by step as their epochs arrive, matching a hand-computed rung table', () => {
    // η = 3, rungs at 1, 3, 9 epochs, 27 at most. Metrics arrive in the order below (the
    // controller's clock); each row: trial, its metric after each epoch so far, and what the
    // rung table then says.
    const strategy = asha(readSearchSpace({ lr: [1, 2, 3, 4, 5, 6], epochs: [1, 27] }), {
      resource: 'epochs',
      minResource: 1,
      maxResource: 27,
      reductionFactor: 3,
      direction: 'maximize',
      seed: 0,
    });
    const table = new Map<number, number[]>();
    const reached = new Map<string, number>();
    const step = (trial: string, values: number[]) => {
      const review = strategy.review(values, reached.get(trial) ?? 0, (k) => table.get(k) ?? []);
      for (const r of review.record) table.set(r.rung, [...(table.get(r.rung) ?? []), r.value]);
      reached.set(trial, (reached.get(trial) ?? 0) + review.record.length);
      return review;
    };
    // t1 reaches rung 0 first (n=1, keep 1): continues.
    expect(step('t1', [0.5])).toEqual({ record: [{ rung: 0, value: 0.5 }], stop: false });
    // t2 at rung 0: 0.4 vs {0.5}: n=2, keep 1, rank 2 → stopped.
    expect(step('t2', [0.4])).toEqual({ record: [{ rung: 0, value: 0.4 }], stop: true });
    // t3 at rung 0: 0.7 vs {0.5, 0.4}: n=3, keep 1, rank 1 → continues.
    expect(step('t3', [0.7])).toEqual({ record: [{ rung: 0, value: 0.7 }], stop: false });
    // t1 epochs 2-3: reaches rung 1 with 0.6 (n=1) → continues; nothing to record before epoch 3.
    expect(step('t1', [0.5, 0.55])).toEqual({ record: [], stop: false });
    expect(step('t1', [0.5, 0.55, 0.6])).toEqual({ record: [{ rung: 1, value: 0.6 }], stop: false });
    // t4 at rung 0: 0.45 vs {0.5, 0.4, 0.7}: n=4, keep 1, rank 3 → stopped.
    expect(step('t4', [0.45])).toEqual({ record: [{ rung: 0, value: 0.45 }], stop: true });
    // t5 at rung 0: 0.9: rank 1 → continues; t6 at rung 0: 0.8 vs 5 values: n=6, keep 2, rank 2 → continues.
    expect(step('t5', [0.9]).stop).toBe(false);
    expect(step('t6', [0.8]).stop).toBe(false);
    // t3 reports epochs 1-3 at once (a late heartbeat): rung 1 with 0.65 vs {0.6}: n=2, keep 1, rank 1 → continues.
    expect(step('t3', [0.7, 0.6, 0.65])).toEqual({ record: [{ rung: 1, value: 0.65 }], stop: false });
    // t6 jumps from epoch 1 to 9: rung 1 with 0.62 vs {0.6, 0.65}: n=3, keep 1, rank 2 → stopped at rung 1,
    // never judged at rung 2.
    expect(step('t6', [0.8, 0.7, 0.62, 0.6, 0.6, 0.6, 0.6, 0.6, 0.99])).toEqual({
      record: [{ rung: 1, value: 0.62 }],
      stop: true,
    });
    expect(Object.fromEntries(table)).toEqual({
      0: [0.5, 0.4, 0.7, 0.45, 0.9, 0.8],
      1: [0.6, 0.65, 0.62],
    });
  });
});
