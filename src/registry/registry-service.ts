import { createHash } from 'node:crypto';
import { Counter, type Registry } from 'prom-client';
import type { Clock } from '../kernel/clock.js';
import { badRequest, unprocessable } from '../kernel/errors.js';
import { newId } from '../kernel/ids.js';
import type { Logger } from '../kernel/logger.js';
import type { ArtifactStore } from '../ports/artifact-store.js';
import type { Database, Sql } from '../ports/database.js';
import type { EventLog, NewEvent } from '../ports/event-log.js';
import type {
  DatasetPush,
  NewModel,
  NewTrackedRun,
  PromotionRequest,
  PromotionResult,
  RegistryApi,
} from './api.js';
import type { RegistryConfig } from './config.js';
import { readCsv } from './csv-reader.js';
import { type ExpectedColumn, profileTable, validateColumns } from './dataset-profile.js';
import { DatasetRepository } from './dataset-repository.js';
import { ExperimentRepository, type RunBatch } from './experiment-repository.js';
import { LineageRepository } from './lineage-repository.js';
import { ModelRepository } from './model-repository.js';
import { nodeOf, type RunEvent } from './openlineage.js';
import { checkPromotion } from './promotion.js';
import type { NewModelVersion } from './records.js';

/** The `source` of every event the registry appends. */
export const REGISTRY_SOURCE = '/aimesh/registry';

// Names end up in URLs, artifact keys and lineage node ids: keep them plain.
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Throws 400 unless `name` is a usable registry name. */
export function checkName(kind: string, name: string): void {
  if (!NAME.test(name)) {
    throw badRequest(
      'invalid_name',
      `${kind} name "${name}" must be 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  }
}

/** What the registry service is built from: the process ports and its config section. */
export interface RegistryServiceOptions {
  db: Database;
  events: EventLog;
  artifacts: ArtifactStore;
  clock: Clock;
  logger: Logger;
  config: RegistryConfig;
  metrics: Registry;
}

/** The registry's behaviour over its repositories: what the routes and other modules call. */
export class RegistryService implements RegistryApi {
  readonly datasets: DatasetRepository;
  readonly experiments: ExperimentRepository;
  readonly models: ModelRepository;
  readonly lineage: LineageRepository;
  readonly artifacts: ArtifactStore;
  readonly db: Database;
  readonly clock: Clock;
  private readonly promotions: Counter<'outcome'>;
  private readonly datasetPushes: Counter<'outcome'>;
  private readonly appendFailures: Counter;
  /** Transactions an event was appended in (their handles go with them). */
  private readonly emittedIn = new WeakSet<Sql>();

  constructor(private readonly options: RegistryServiceOptions) {
    const registers = [options.metrics];
    this.promotions = new Counter({
      name: 'aimesh_registry_promotions_total',
      help: 'Alias promotions by outcome (accepted, refused, unchanged).',
      labelNames: ['outcome'],
      registers,
    });
    this.datasetPushes = new Counter({
      name: 'aimesh_registry_dataset_pushes_total',
      help: 'Dataset pushes by outcome (created, existing).',
      labelNames: ['outcome'],
      registers,
    });
    this.appendFailures = new Counter({
      name: 'aimesh_registry_event_append_failures_total',
      help: 'Registry events that failed to append (their write was rolled back with them).',
      registers,
    });
    this.artifacts = options.artifacts;
    this.db = options.db;
    this.clock = options.clock;
    this.datasets = new DatasetRepository(options.db);
    this.experiments = new ExperimentRepository(options.db);
    this.models = new ModelRepository(options.db);
    this.lineage = new LineageRepository(options.db);
  }

  private now(): Date {
    return new Date(this.options.clock.now());
  }

  /**
   * Appends a registry event inside the write's transaction `tx` (the outbox pattern): the write
   * and its event commit together or not at all, so a crash between them can lose neither. Call it
   * last in the transaction, and `committed()` once the transaction has committed.
   */
  async emit(tx: Sql, event: Omit<NewEvent, 'source'>): Promise<string> {
    try {
      const [result] = await this.options.events.append({ source: REGISTRY_SOURCE, ...event }, tx);
      this.emittedIn.add(tx);
      return result.id;
    } catch (error) {
      this.appendFailures.inc();
      this.options.logger.error(
        { err: error, type: event.type },
        'registry event append failed; the write was rolled back',
      );
      throw error;
    }
  }

  /** Runs `fn` in one transaction; once it has committed, wakes the event relay if it emitted. */
  async inTransaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    let emitted = false;
    const result = await this.options.db.transaction(async (tx) => {
      const value = await fn(tx);
      emitted = this.emittedIn.has(tx);
      return value;
    });
    if (emitted) this.options.events.committed();
    return result;
  }

  /** The experiment store bound to a transaction. */
  experimentsIn(tx: Sql): ExperimentRepository {
    return new ExperimentRepository(tx);
  }

  getModel(name: string) {
    return this.models.getModel(name);
  }

  getModelVersion(model: string, ref: number | string) {
    return this.models.getVersion(model, ref);
  }

  recordVersionMetrics(model: string, version: number, metrics: Record<string, number>) {
    for (const [key, value] of Object.entries(metrics)) {
      if (!Number.isFinite(value))
        throw badRequest('invalid_metric', `metric ${key} must be a finite number`);
    }
    return this.models.mergeMetrics(model, version, metrics);
  }

  createModel(model: NewModel) {
    checkName('model', model.name);
    return this.models.createModel({ ...model, createdAt: this.now() });
  }

  async createModelVersion(input: Omit<NewModelVersion, 'createdAt'>) {
    const createdAt = this.now();
    return this.inTransaction(async (tx) => {
      const created = await new ModelRepository(tx).createVersion({ ...input, createdAt });
      // Registering a trained model closes the lineage loop: dataset → run → model version.
      if (input.runId) {
        const run = `run:${input.runId}`;
        const edges: [string, string][] = [[run, `model:${created.model}@${created.version}`]];
        if (input.dataset && input.datasetVersion)
          edges.push([`dataset:${input.dataset}@${input.datasetVersion}`, run]);
        await new LineageRepository(tx).addEdges(edges, input.runId, createdAt);
      }
      await this.emit(tx, {
        type: 'ai.model.version.created',
        subject: `${created.model}@${created.version}`,
        data: {
          model: created.model,
          version: created.version,
          format: created.format,
          artifactUri: created.artifactUri,
          actor: input.createdBy,
        },
      });
      return created;
    });
  }

  async promote(request: PromotionRequest): Promise<PromotionResult> {
    checkName('alias', request.alias);
    if (request.alias === 'latest' || /^\d+$/.test(request.alias)) {
      throw badRequest(
        'invalid_alias',
        `"${request.alias}" cannot be an alias: it reads as a version reference`,
      );
    }
    const at = this.now();
    const result = await this.inTransaction(async (tx): Promise<PromotionResult> => {
      const models = new ModelRepository(tx);
      // Serialises promotions of one model, so "improves on the holder" compares with the real holder.
      await tx.query('SELECT 1 FROM registry_models WHERE name = $1 FOR UPDATE', [request.model]);
      const candidate = await models.getVersion(request.model, request.version);
      const holderVersion = (await models.getModel(request.model)).aliases[request.alias];
      if (holderVersion === candidate.version) {
        return {
          model: request.model,
          version: candidate.version,
          alias: request.alias,
          previousVersion: holderVersion,
          changed: false,
        };
      }
      const holder =
        holderVersion === undefined ? undefined : await models.getVersion(request.model, holderVersion);
      const failures = checkPromotion(this.options.config.promotion.rules, request.alias, candidate, holder);
      if (failures.length > 0) {
        this.promotions.inc({ outcome: 'refused' });
        throw unprocessable(
          'promotion_refused',
          `promotion of ${request.model}@${candidate.version} to ${request.alias} refused: ${failures
            .map((f) => `rule "${f.rule}" failed (${f.reason})`)
            .join('; ')}`,
          failures,
        );
      }
      const previousVersion = await models.setAlias(
        request.model,
        request.alias,
        candidate.version,
        request.actor,
        at,
      );
      const eventId = await this.emit(tx, {
        type: 'ai.model.promoted',
        subject: `${request.model}@${candidate.version}`,
        causationid: request.causationId,
        data: {
          model: request.model,
          version: candidate.version,
          alias: request.alias,
          previousVersion,
          actor: request.actor,
        },
      });
      return {
        model: request.model,
        version: candidate.version,
        alias: request.alias,
        previousVersion,
        changed: true,
        eventId,
      };
    });
    this.promotions.inc({ outcome: result.changed ? 'accepted' : 'unchanged' });
    return result;
  }

  latestModelOfType(type: string) {
    return this.models.latestOfType(type);
  }

  async pushDataset(push: DatasetPush) {
    checkName('dataset', push.name);
    // `GET /api/v1/datasets/samples` lists the built-in samples, so no dataset may take the name.
    if (push.name === 'samples') throw badRequest('invalid_name', 'dataset name "samples" is reserved');
    const table = readCsv(push.data, this.options.config.datasets);
    const version = createHash('sha256').update(push.data).digest('hex');
    const columns = profileTable(table);
    // Content-addressed: the same bytes always land on the same key, so a re-push rewrites nothing new.
    const key = `datasets/${version}.csv`;
    const uri = (await this.options.artifacts.exists(key))
      ? this.options.artifacts.uri(key)
      : await this.options.artifacts.put(key, push.data);
    const stored = await this.inTransaction(async (tx) => {
      const added = await new DatasetRepository(tx).addVersion({
        dataset: push.name,
        version,
        uri,
        sizeBytes: push.data.byteLength,
        rowCount: table.rows.length,
        columns,
        description: push.description,
        createdBy: push.actor,
        createdAt: this.now(),
      });
      if (added.created) {
        await this.emit(tx, {
          type: 'ai.dataset.version.created',
          subject: `${push.name}@${version}`,
          data: { dataset: push.name, version, rowCount: table.rows.length, uri, actor: push.actor },
        });
      }
      return added;
    });
    this.datasetPushes.inc({ outcome: stored.created ? 'created' : 'existing' });
    return stored;
  }

  getDatasetVersion(dataset: string, ref: string) {
    return this.datasets.getVersion(dataset, ref);
  }

  async validateDataset(dataset: string, ref: string, expected: ExpectedColumn[]) {
    const version = await this.datasets.getVersion(dataset, ref);
    return validateColumns(version.columns, expected);
  }

  async recordLineage(event: RunEvent) {
    const time = new Date(event.eventTime);
    if (Number.isNaN(time.getTime()))
      throw badRequest('invalid_lineage_event', `eventTime ${event.eventTime} is not a valid time`);
    await this.options.db.transaction((tx) =>
      new LineageRepository(tx).recordRun({
        runId: event.run.runId,
        jobNamespace: event.job.namespace,
        jobName: event.job.name,
        state: event.eventType,
        eventTime: time.toISOString(),
        facets: event.run.facets ?? {},
        inputs: (event.inputs ?? []).map(nodeOf),
        outputs: (event.outputs ?? []).map(nodeOf),
      }),
    );
  }

  async ensureExperiment(name: string, description: string, actor: string): Promise<string> {
    checkName('experiment', name);
    const found = await this.options.db.query<{ id: string }>(
      'SELECT id FROM registry_experiments WHERE name = $1',
      [name],
    );
    if (found.rows[0]) return found.rows[0].id;
    await this.options.db.query(
      `INSERT INTO registry_experiments (id, name, description, created_by, created_at, tags)
       VALUES ($1, $2, $3, $4, $5, '{}') ON CONFLICT (name) DO NOTHING`,
      [newId(this.options.clock.now()), name, description, actor, this.now()],
    );
    return (await this.experiments.getExperiment(name)).id;
  }

  async ensureRun(run: NewTrackedRun): Promise<void> {
    await this.inTransaction(async (tx) => {
      const exists = await tx.query('SELECT 1 FROM registry_runs WHERE id = $1', [run.id]);
      if (exists.rows.length > 0) return;
      await new ExperimentRepository(tx).createRun({
        id: run.id,
        experimentId: run.experimentId,
        name: run.name,
        createdBy: run.actor,
        startTime: this.now(),
        tags: run.tags,
        params: run.params,
        datasetVersions: run.datasetVersions,
      });
    });
  }

  async logRun(runId: string, batch: RunBatch): Promise<void> {
    await this.inTransaction((tx) => new ExperimentRepository(tx).logBatch(runId, batch, this.now()));
  }

  async endRun(runId: string, status: 'FINISHED' | 'FAILED' | 'KILLED', artifactUri?: string): Promise<void> {
    await this.experiments.updateRun(runId, { status, endTime: this.now(), artifactUri });
  }

  /** Two versions of a model side by side: each metric and param, and what changed. */
  async compare(model: string, a: number | string, b: number | string) {
    const [left, right] = await Promise.all([
      this.models.getVersion(model, a),
      this.models.getVersion(model, b),
    ]);
    const metricKeys = [...new Set([...Object.keys(left.metrics), ...Object.keys(right.metrics)])].sort();
    const paramKeys = [...new Set([...Object.keys(left.params), ...Object.keys(right.params)])].sort();
    return {
      model,
      a: left.version,
      b: right.version,
      metrics: metricKeys.map((key) => {
        const x = left.metrics[key] ?? null;
        const y = right.metrics[key] ?? null;
        return { key, a: x, b: y, delta: x !== null && y !== null ? y - x : null };
      }),
      params: paramKeys.map((key) => {
        const x = left.params[key] ?? null;
        const y = right.params[key] ?? null;
        return { key, a: x, b: y, changed: JSON.stringify(x) !== JSON.stringify(y) };
      }),
    };
  }
}
