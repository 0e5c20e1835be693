import { describe, expect, it } from 'vitest';
import { asha, promotable, rungEpochs } from '../../../src/pipeline/experiments/asha.js';
import { strategyOf } from '../../../src/pipeline/experiments/experiment-spec.js';
import { gridSearch } from '../../../src/pipeline/experiments/grid-search.js';
import { randomSearch } from '../../../src/pipeline/experiments/random-search.js';
import {
  gridPoint,
  paramsKey,
  parseDimensionFlag,
  readSearchSpace,
  type TrialParams,
} from '../../../src/pipeline/experiments/search-space.js';
import { type KnownTrial, WAIT } from '../../../src/pipeline/experiments/strategy.js';

const SEED_GRID = {
  learningRate: [0.001, 0.01, 0.1],
  batchSize: [32, 64, 128],
  epochs: [10, 20, 50],
  dropout: [0.1, 0.2, 0.5],
};

const all = (strategy: ReturnType<typeof gridSearch>, limit = 100_000) => {
  const points: TrialParams[] = [];
  for (let n = 0; n < limit; n++) {
    const p = strategy.candidate(n, []);
    if (p === null || p === WAIT) break;
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
  it('puts rungs at min·η^k below max, and max last', () => {
    expect(rungEpochs(10, 50, 3)).toEqual([10, 30, 50]);
    expect(rungEpochs(1, 27, 3)).toEqual([1, 3, 9, 27]);
    expect(rungEpochs(10, 90, 3)).toEqual([10, 30, 90]);
  });

  it('promotes from the top ⌊n/η⌋ of a rung what is not promoted yet, earlier trials first on a tie', () => {
    const r = (config: string, value: number, number: number) => ({ config, value, number });
    expect(promotable([r('a', 0.9, 0), r('b', 0.1, 1)], 3, 'maximize', new Set())).toBeNull(); // n=2: keep 0
    expect(promotable([r('a', 0.5, 0), r('b', 0.4, 1), r('c', 0.7, 2)], 3, 'maximize', new Set())).toBe('c');
    expect(
      promotable([r('a', 0.5, 0), r('b', 0.4, 1), r('c', 0.7, 2)], 3, 'maximize', new Set(['c'])),
    ).toBeNull();
    expect(promotable([r('a', 0.5, 0), r('b', 0.4, 1), r('c', 0.7, 2)], 3, 'minimize', new Set())).toBe('b');
    // A tie: of two equal values in a top of one, the earlier trial's configuration.
    expect(
      promotable([r('late', 0.7, 5), r('early', 0.7, 2), r('x', 0.1, 3)], 3, 'maximize', new Set()),
    ).toBe('early');
    expect(
      promotable([r('late', 0.7, 5), r('early', 0.7, 2), r('x', 0.1, 3)], 3, 'maximize', new Set(['early'])),
    ).toBeNull();
  });

  it('starts every configuration of the other parameters at the first rung, then waits, then ends', () => {
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
    const trials: KnownTrial[] = [];
    for (let n = 0; n < 27; n++) {
      const p = strategy.candidate(n, trials);
      expect(p).not.toBe(WAIT);
      trials.push({ number: n, params: p as TrialParams, finished: false, metric: null, rungValue: null });
    }
    expect(new Set(trials.map((t) => t.params.epochs))).toEqual(new Set([10]));
    expect(new Set(trials.map((t) => paramsKey(t.params))).size).toBe(27);
    expect(strategy.candidate(27, trials)).toBe(WAIT);
    // Finished without a value at their rung (failed, say): nothing to promote, nothing left.
    expect(
      strategy.candidate(
        27,
        trials.map((t) => ({ ...t, finished: true })),
      ),
    ).toBeNull();
    expect(strategy.rungOf?.({ learningRate: 0.1, epochs: 30 })).toBe(1);
    // Rungs judged by the validation loss promote the lowest, unless told otherwise.
    const byLoss = strategyOf({
      space: { learningRate: [1, 2, 3], epochs: [1, 3] },
      strategy: 'asha',
      metric: 'accuracy',
      direction: 'maximize',
      parallel: 1,
      maxFailedTrials: 0,
      seed: 1,
      asha: { resource: 'epochs', reductionFactor: 3, metric: 'valLoss' },
      promote: { alias: 'production', enabled: true },
    });
    const rung0 = [0.9, 0.2, 0.5].map((rungValue, number) => ({
      number,
      params: { learningRate: number + 1, epochs: 1 },
      finished: true,
      metric: null,
      rungValue,
    }));
    expect(byLoss.candidate(3, rung0)).toEqual({ learningRate: 2, epochs: 3 });
    expect(strategy.rungOf?.({ learningRate: 0.1, epochs: 20 })).toBeNull();
  });

  it('promotes step by step as trials finish, matching a hand-computed rung table', () => {
    // η = 3, rungs at 1, 3 and 9 epochs, 9 configurations, two trials at a time. Each step: a
    // trial finishes with its value at its rung, then the next candidate.
    const strategy = asha(readSearchSpace({ lr: [1, 2, 3, 4, 5, 6, 7, 8, 9], epochs: [1, 9] }), {
      resource: 'epochs',
      minResource: 1,
      maxResource: 9,
      reductionFactor: 3,
      direction: 'maximize',
      seed: 0,
    });
    const trials: KnownTrial[] = [];
    const next = () => {
      const p = strategy.candidate(trials.length, trials);
      if (p === null || p === WAIT) return p;
      trials.push({ number: trials.length, params: p, finished: false, metric: null, rungValue: null });
      return `t${trials.length - 1} lr${p.lr}@${p.epochs}`;
    };
    const finish = (n: number, value: number) => {
      trials[n] = { ...trials[n], finished: true, rungValue: value };
      return next();
    };
    expect(next()).toBe('t0 lr1@1');
    expect(next()).toBe('t1 lr2@1');
    expect(finish(0, 0.5)).toBe('t2 lr3@1'); // rung 0: n=1, top 0
    expect(finish(1, 0.4)).toBe('t3 lr4@1'); // n=2, top 0
    expect(finish(2, 0.7)).toBe('t4 lr3@3'); // n=3, top 1: lr3 (0.7) promoted
    expect(finish(3, 0.45)).toBe('t5 lr5@1'); // n=4, top 1: lr3, already promoted
    expect(finish(4, 0.75)).toBe('t6 lr6@1'); // rung 1: n=1, top 0
    expect(finish(5, 0.9)).toBe('t7 lr5@3'); // rung 0: n=5, top 1: lr5 (0.9)
    // n=6, top 2: lr5 0.9, then lr3 and lr6 tie at 0.7 and lr3's trial came first: both promoted.
    expect(finish(6, 0.7)).toBe('t8 lr7@1');
    expect(finish(7, 0.95)).toBe('t9 lr8@1'); // rung 1: n=2, top 0
    expect(finish(8, 0.2)).toBe('t10 lr9@1'); // rung 0: n=7, top 2, both promoted
    expect(finish(9, 0.3)).toBe(WAIT); // n=8, top 2; every configuration started; t10 runs
    expect(finish(10, 0.8)).toBe('t11 lr9@3'); // n=9, top 3: lr5, lr9 (0.8), lr3
    expect(next()).toBe(WAIT); // the second slot: nothing to promote until t11 ends
    expect(finish(11, 0.85)).toBe('t12 lr5@9'); // rung 1: n=3, top 1: lr5 (0.95) to the last rung
    expect(next()).toBe(WAIT);
    expect(finish(12, 0.97)).toBeNull(); // the last rung promotes nowhere: the search is over
    // Promoted trials continue from the trial they extend.
    expect(strategy.continuesFrom?.({ lr: 5, epochs: 9 })).toEqual({ lr: 5, epochs: 3 });
    expect(strategy.continuesFrom?.({ lr: 9, epochs: 3 })).toEqual({ lr: 9, epochs: 1 });
    expect(strategy.continuesFrom?.({ lr: 1, epochs: 1 })).toBeNull();
    // Epochs: 9 configurations × 1, 3 promoted by 2 more, 1 by 6 more = 21; a grid of the
    // same 9 at 9 epochs trains 81.
    const epochs = trials.reduce((sum, t) => {
      const from = strategy.continuesFrom?.(t.params);
      return sum + Number(t.params.epochs) - Number(from?.epochs ?? 0);
    }, 0);
    expect(epochs).toBe(21);
  });
});
