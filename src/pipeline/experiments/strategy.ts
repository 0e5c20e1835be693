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

/**
 * How an experiment searches: which trials to start, and (optionally) which to stop early.
 * Candidates are numbered and deterministic, so every controller proposes the same sequence
 * and a resumed experiment continues where it stopped. A Bayesian sampler would implement the
 * same two calls, reading the finished trials through `candidate`'s `finished` argument.
 */
export interface Strategy {
  readonly name: string;
  /** At most this many trials (for progress), or null when open-ended. */
  readonly total: number | null;
  /** Candidate `n` (0-based), or null when there are no more. */
  candidate(n: number, finished: readonly FinishedTrial[]): TrialParams | null;
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
}

/** A finished trial as a strategy sees it. */
export interface FinishedTrial {
  params: TrialParams;
  metric: number | null;
}

/** A review that records nothing and never stops. */
export const keepGoing: Review = { record: [], stop: false };
