import type { ExpectedColumn, SchemaValidation } from './dataset-profile.js';
import type { DatasetVersionRecord } from './dataset-repository.js';
import type { RunBatch } from './experiment-repository.js';
import type { RunEvent } from './openlineage.js';
import type { ModelRecord, ModelVersionRecord, NewModelVersion, StoredModelVersion } from './records.js';

/**
 * The registry module's API as other modules use it. The registry's issue may add to it;
 * these signatures stay.
 */
export interface RegistryApi {
  /** A registered model (its type, aliases); throws 404. */
  getModel(name: string): Promise<ModelRecord>;
  /** A version by number or by alias (`production`); `latest` means the highest number. Throws 404. */
  getModelVersion(model: string, ref: number | string): Promise<ModelVersionRecord>;
  /** Registers a model name with its type/task; 409 when taken. */
  createModel(model: NewModel): Promise<ModelRecord>;
  /** Adds a version numbered by the registry; appends `ai.model.version.created`. */
  createModelVersion(version: Omit<NewModelVersion, 'createdAt'>): Promise<StoredModelVersion>;
  /**
   * Points an alias at a version if the promotion rules pass (422 naming the failed rule if not);
   * appends `ai.model.promoted` caused by `causationId` (e.g. the evaluation event) when given.
   */
  promote(request: PromotionRequest): Promise<PromotionResult>;
  /**
   * Merges measured metrics into a version's (a key given replaces the stored value, others stay),
   * so promotion rules judge the version by them; idempotent. Throws 404, 400 for a non-finite value.
   */
  recordVersionMetrics(
    model: string,
    version: number,
    metrics: Record<string, number>,
  ): Promise<StoredModelVersion>;
  /** The newest version of any model of a type. */
  latestModelOfType(type: string): Promise<StoredModelVersion>;
  /** Stores a CSV as a content-addressed dataset version (the same bytes again: the same version). */
  pushDataset(push: DatasetPush): Promise<{ version: DatasetVersionRecord; created: boolean }>;
  /** A dataset version by sha256 (or a unique prefix) or `latest`. */
  getDatasetVersion(dataset: string, ref: string): Promise<DatasetVersionRecord>;
  /** Checks a dataset version against the columns a consumer expects. */
  validateDataset(dataset: string, ref: string, expected: ExpectedColumn[]): Promise<SchemaValidation>;
  /** Records an OpenLineage RunEvent. */
  recordLineage(event: RunEvent): Promise<void>;
  /** The tracking experiment named `name`, created when missing; its id. */
  ensureExperiment(name: string, description: string, actor: string): Promise<string>;
  /** Starts run `id` in an experiment with its params, unless it exists (then nothing changes). */
  ensureRun(run: NewTrackedRun): Promise<void>;
  /** Logs metrics (appended), params (written once) and tags to a run. */
  logRun(runId: string, batch: RunBatch): Promise<void>;
  /** Ends a run: FINISHED, FAILED or KILLED, with where its artifacts are when known. */
  endRun(runId: string, status: 'FINISHED' | 'FAILED' | 'KILLED', artifactUri?: string): Promise<void>;
}

/** A run another module tracks (a trial of an experiment, say). */
export interface NewTrackedRun {
  id: string;
  experimentId: string;
  name: string;
  actor: string;
  params: Record<string, string | number | boolean>;
  tags?: Record<string, string>;
  datasetVersions?: { dataset: string; version: string }[];
}

/** What registering a model takes. */
export interface NewModel {
  name: string;
  type: string;
  description?: string;
  tags?: Record<string, string>;
  createdBy: string;
}

/** A promotion: put `alias` on `version` of `model`, on behalf of `actor`. */
export interface PromotionRequest {
  model: string;
  version: number;
  alias: string;
  actor: string;
  /** The id of the event (usually `ai.evaluation.completed`) that triggered this promotion. */
  causationId?: string;
}

/** What a promotion did. */
export interface PromotionResult {
  model: string;
  version: number;
  alias: string;
  previousVersion: number | null;
  /** False when the alias already pointed at this version (no event is appended). */
  changed: boolean;
  eventId?: string;
}

/** A CSV pushed as a dataset version. */
export interface DatasetPush {
  name: string;
  data: Uint8Array;
  description?: string;
  actor: string;
}
