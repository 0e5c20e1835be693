import type { PipelineDefinition } from '../definition.js';
import type { ExperimentSpec } from './experiment-spec.js';
import type { TrialParams } from './search-space.js';

/** Experiment statuses. */
export type ExperimentStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
/** Trial statuses: STOPPED is an early stop by the strategy, not a failure. */
export type TrialStatus = 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'STOPPED' | 'FAILED' | 'CANCELLED';

export interface ExperimentRow {
  id: string;
  name: string;
  description: string;
  status: ExperimentStatus;
  spec: ExperimentSpec;
  definition: PipelineDefinition;
  dataset_version: string;
  tracking_experiment_id: string | null;
  next_candidate: number;
  exhausted: boolean;
  best_trial_id: string | null;
  result: Record<string, unknown> | null;
  error: string | null;
  created_by: string;
  created_at: Date;
  finished_at: Date | null;
}

export interface TrialRow {
  id: string;
  experiment_id: string;
  number: number;
  params: TrialParams;
  params_key: string;
  status: TrialStatus;
  execution_id: string | null;
  metric: number | null;
  epochs: number;
  logged_epochs: number;
  rungs: number;
  reruns: number;
  error: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

/** A trial as the API shows it. */
export interface TrialRecord {
  id: string;
  experimentId: string;
  number: number;
  params: TrialParams;
  status: TrialStatus;
  executionId: string | null;
  /** The experiment's metric: the evaluation's for a finished trial, the last rung's for a stopped one. */
  metric: number | null;
  epochs: number;
  rungs: number;
  reruns: number;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** Trials by status. */
export type TrialCounts = Record<TrialStatus, number>;

/** An experiment as the API shows it. */
export interface ExperimentRecord {
  id: string;
  name: string;
  description: string;
  status: ExperimentStatus;
  strategy: string;
  metric: string;
  direction: 'maximize' | 'minimize';
  parallel: number;
  maxFailedTrials: number;
  space: Record<string, unknown>;
  pipeline: string;
  datasetVersion: string;
  trackingExperimentId: string | null;
  /** At most this many trials (null: open-ended). */
  totalTrials: number | null;
  trials: TrialCounts;
  /** Epochs trained so far by every trial. */
  epochs: number;
  best: TrialRecord | null;
  result: Record<string, unknown> | null;
  error: string | null;
  createdBy: string;
  createdAt: string;
  finishedAt: string | null;
}

export const toTrial = (r: TrialRow): TrialRecord => ({
  id: r.id,
  experimentId: r.experiment_id,
  number: r.number,
  params: r.params,
  status: r.status,
  executionId: r.execution_id,
  metric: r.metric,
  epochs: r.epochs,
  rungs: r.rungs,
  reruns: r.reruns,
  error: r.error,
  createdAt: r.created_at.toISOString(),
  startedAt: r.started_at?.toISOString() ?? null,
  finishedAt: r.finished_at?.toISOString() ?? null,
});
