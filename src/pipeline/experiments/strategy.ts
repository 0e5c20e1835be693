import type { TrialParams } from './search-space.js';

/** A trial's standing at one rung of successive halving. */
export interface RungEntry {
  rung: number;
  value: number;
}

/** What a strategy decides about a running trial from its per-epoch metric so far. */
export interface Review {
  /** Rungs the trial reached with this review, with its value at each (to be recorded). */
  record: RungEntry[];
  /** True when the trial should stop now (its resources go to other trials). */
  stop: boolean;
}

/** `candidate`'s answer when nothing can start now but running trials may still open a candidate. */
export const WAIT = 'wait';

/**
 * How an experiment searches: which trials to start, and (optionally) which to stop early.
 * Candidates are numbered; a strategy that only counts (grid, random) proposes the same
 * sequence on every controller, and one that reads the trials so far (ASHA's promotions)
 * proposes from the same database state — the database refuses a point proposed twice, so
 * controllers never race into duplicates. A Bayesian sampler would implement the same calls.
 */
export interface Strategy {
  readonly name: string;
  /** At most this many trials (for progress), or null when open-ended. */
  readonly total: number | null;
  /**
   * Candidate `n` (0-based) given the experiment's trials so far: its parameters, null when
   * there are no more, or WAIT when only a running trial's result can open the next one.
   */
  candidate(n: number, trials: readonly KnownTrial[]): TrialParams | null | typeof WAIT;
  /**
   * Reviews a running trial given its metric after each epoch so far (`values[i]` after epoch
   * i+1), how many rungs it has already recorded, and the values recorded at each rung by the
   * experiment's trials so far. Strategies without early stopping never stop a trial.
   */
  review(
    values: readonly number[],
    recordedRungs: number,
    rungValues: (rung: number) => readonly number[],
  ): Review;
  /**
   * For strategies that compare finished trials (ASHA): the rung a trial with these parameters
   * is recorded at when it finishes, with its last epoch's value; null for none.
   */
  rungOf?(params: TrialParams): number | null;
  /**
   * For strategies that train a point further (ASHA's promotions): the trial whose trained
   * weights a trial with these parameters continues from, or null when it starts fresh.
   */
  continuesFrom?(params: TrialParams): TrialParams | null;
}

/** A trial of the experiment as a strategy sees it. */
export interface KnownTrial {
  number: number;
  params: TrialParams;
  /** PENDING and RUNNING trials are not finished; every other status is. */
  finished: boolean;
  metric: number | null;
  /** The value recorded at its rung when it finished (strategies with `rungOf`). */
  rungValue: number | null;
}

/** A review that records nothing and never stops. */
export const keepGoing: Review = { record: [], stop: false };
