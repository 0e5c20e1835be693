import { badRequest } from '../../kernel/errors.js';
import { gridSearch } from './grid-search.js';
import { randomSearch } from './random-search.js';
import type { SearchSpace, TrialParams } from './search-space.js';
import type { Review, RungEntry, Strategy } from './strategy.js';

/** ASHA's settings: the resource (epochs), its rungs, and how hard each rung cuts. */
export interface AshaOptions {
  /** The parameter the rungs count in (default `epochs`). */
  resource: string;
  /** Epochs of the first rung. */
  minResource: number;
  /** Epochs a trial that is never stopped trains. */
  maxResource: number;
  /** Each rung keeps the best 1/reductionFactor of the trials that reached it (3 in the paper). */
  reductionFactor: number;
  /** `maximize` for accuracy, `minimize` for a loss. */
  direction: 'maximize' | 'minimize';
  /** Configurations: the grid over the other parameters, or this many random draws. */
  budget?: number;
  seed: number;
}

/** The epochs at which the rungs are: min · η^k below max (max itself is where a trial ends). */
export function rungEpochs(min: number, max: number, eta: number): number[] {
  const rungs: number[] = [];
  for (let r = min; r < max && rungs.length < 32; r *= eta) rungs.push(Math.round(r));
  return rungs;
}

/**
 * Whether a value reaching a rung continues: it must rank within the best max(1, ⌊n/η⌋) of the
 * n values recorded at that rung so far, its own included (ties share the better rank). The
 * stopping form of asynchronous successive halving (Li et al., "A System for Massively Parallel
 * Hyperparameter Tuning", 2020): a trial is judged when it reaches the rung, against whoever
 * reached it before, so no trial ever waits for a rung to fill.
 */
export function continuesAtRung(
  value: number,
  others: readonly number[],
  eta: number,
  direction: 'maximize' | 'minimize',
): boolean {
  const better = others.filter((o) => (direction === 'maximize' ? o > value : o < value)).length;
  const keep = Math.max(1, Math.floor((others.length + 1) / eta));
  return better + 1 <= keep;
}

/**
 * Asynchronous successive halving over `space`: every configuration of the other parameters
 * starts with the resource set to its maximum, and is stopped at the first rung where it falls
 * outside the best 1/η of the trials that reached that rung before it. Promotions are decided
 * from the per-epoch metric as it arrives from training.
 */
export function asha(space: SearchSpace, options: AshaOptions): Strategy {
  const { resource, minResource, maxResource, reductionFactor: eta, direction } = options;
  if (!(minResource >= 1 && maxResource > minResource && eta >= 2))
    throw badRequest(
      'invalid_experiment',
      'asha needs 1 <= minEpochs < maxEpochs and a reductionFactor of at least 2',
    );
  const rest: SearchSpace = Object.fromEntries(Object.entries(space).filter(([name]) => name !== resource));
  const configurations =
    Object.keys(rest).length === 0
      ? null
      : options.budget === undefined
        ? gridSearch(rest)
        : randomSearch(rest, options.budget, options.seed);
  const rungs = rungEpochs(minResource, maxResource, eta);
  return {
    name: 'asha',
    total: configurations ? configurations.total : 1,
    candidate(n, finished) {
      const base: TrialParams | null = configurations
        ? configurations.candidate(n, finished)
        : n === 0
          ? {}
          : null;
      return base === null ? null : { ...base, [resource]: maxResource };
    },
    review(values, recordedRungs, rungValues): Review {
      const record: RungEntry[] = [];
      for (let k = recordedRungs; k < rungs.length && values.length >= rungs[k]; k++) {
        const value = values[rungs[k] - 1];
        record.push({ rung: k, value });
        if (!continuesAtRung(value, rungValues(k), eta, direction)) return { record, stop: true };
      }
      return { record, stop: false };
    },
  };
}
