import { badRequest } from '../../kernel/errors.js';
import { gridSearch } from './grid-search.js';
import { randomSearch } from './random-search.js';
import { paramsKey, type SearchSpace, type TrialParams } from './search-space.js';
import { type KnownTrial, keepGoing, type Strategy, WAIT } from './strategy.js';

/** ASHA's settings: the resource (epochs), its rungs, and how hard each rung cuts. */
export interface AshaOptions {
  /** The parameter the rungs count in (default `epochs`). */
  resource: string;
  /** Epochs of the first rung. */
  minResource: number;
  /** Epochs of the last rung: a configuration never trains more. */
  maxResource: number;
  /** Each rung promotes the best 1/reductionFactor of the trials that finished it (3 in the paper). */
  reductionFactor: number;
  /** `maximize` for accuracy, `minimize` for a loss. */
  direction: 'maximize' | 'minimize';
  /** Configurations: the grid over the other parameters, or this many random draws. */
  budget?: number;
  seed: number;
}

/** The resource of each rung: min · η^k while below max, then max itself (the last rung). */
export function rungEpochs(min: number, max: number, eta: number): number[] {
  const rungs: number[] = [];
  for (let r = min; r < max && rungs.length < 32; r *= eta) rungs.push(Math.round(r));
  rungs.push(max);
  return rungs;
}

/** A finished trial's entry at a rung: its configuration (without the resource) and value. */
export interface RungResult {
  config: string;
  value: number;
  /** The trial's number: on equal values the earlier trial ranks first. */
  number: number;
}

/**
 * The configuration a rung promotes next, or null: the best of its top ⌊n/η⌋ of the n results
 * so far that is not promoted yet (Li et al., "A System for Massively Parallel Hyperparameter
 * Tuning", MLSys 2020, algorithm 2). Equal values rank by trial number, so a tie never lets
 * more than ⌊n/η⌋ through and every controller picks the same one.
 */
export function promotable(
  results: readonly RungResult[],
  eta: number,
  direction: 'maximize' | 'minimize',
  promoted: ReadonlySet<string>,
): string | null {
  const keep = Math.floor(results.length / eta);
  const sign = direction === 'maximize' ? -1 : 1;
  const ranked = [...results].sort((a, b) => sign * (a.value - b.value) || a.number - b.number);
  return ranked.slice(0, keep).find((r) => !promoted.has(r.config))?.config ?? null;
}

/**
 * Asynchronous successive halving over `space` (the promotion form of the paper). A trial is
 * one configuration of the other parameters trained to one rung's resource. Whenever a trial
 * can start, the highest rung with a configuration in its top 1/η not yet promoted promotes it:
 * the next trial trains it to the next rung's resource, continuing from its trained weights.
 * Otherwise a new configuration starts at the first rung. No trial ever waits for a rung to
 * fill, and none trains past its rung, so the epochs a configuration costs are those of the
 * highest rung it reached.
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
  const configurationCount = configurations ? (configurations.total ?? 0) : 1;
  const rungs = rungEpochs(minResource, maxResource, eta);
  const configOf = (params: TrialParams): TrialParams =>
    Object.fromEntries(Object.entries(params).filter(([name]) => name !== resource));
  const rungOf = (params: TrialParams): number | null => {
    const k = rungs.indexOf(Number(params[resource]));
    return k >= 0 ? k : null;
  };

  /** The first configuration not started yet, or null when all have. */
  const fresh = (started: ReadonlySet<string>): TrialParams | null => {
    if (started.size >= configurationCount) return null;
    if (!configurations) return {};
    // Bounded: a grid's candidates end at its size, random search's at its draw limit.
    for (let i = 0; ; i++) {
      const c = configurations.candidate(i, []);
      if (c === null || c === WAIT) return null;
      if (!started.has(paramsKey(c))) return c;
    }
  };

  return {
    name: 'asha',
    total: null,
    candidate(_n, trials: readonly KnownTrial[]) {
      const byRung = rungs.map(() => ({ present: new Set<string>(), results: [] as RungResult[] }));
      const configs = new Map<string, TrialParams>();
      for (const t of trials) {
        const k = rungOf(t.params);
        if (k === null) continue;
        const params = configOf(t.params);
        const config = paramsKey(params);
        configs.set(config, params);
        byRung[k].present.add(config);
        if (t.finished && t.rungValue !== null)
          byRung[k].results.push({ config, value: t.rungValue, number: t.number });
      }
      for (let k = rungs.length - 2; k >= 0; k--) {
        const next = promotable(byRung[k].results, eta, direction, byRung[k + 1].present);
        if (next !== null) return { ...configs.get(next), [resource]: rungs[k + 1] };
      }
      const config = fresh(byRung[0].present);
      if (config !== null) return { ...config, [resource]: rungs[0] };
      return trials.some((t) => !t.finished) ? WAIT : null;
    },
    review: () => keepGoing,
    rungOf,
    continuesFrom(params) {
      const k = rungOf(params);
      return k === null || k === 0 ? null : { ...configOf(params), [resource]: rungs[k - 1] };
    },
  };
}
