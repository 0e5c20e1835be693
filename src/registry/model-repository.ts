import { conflict, notFound } from '../kernel/errors.js';
import type { Sql } from '../ports/database.js';
import type { Page } from './page.js';
import type { ModelRecord, NewModelVersion, StoredModelVersion } from './records.js';

interface ModelRow {
  name: string;
  type: string;
  description: string;
  tags: Record<string, string>;
  last_version: number;
  created_by: string;
  created_at: Date;
  aliases: Record<string, number> | null;
}
interface VersionRow {
  model: string;
  version: number;
  type: string;
  format: string;
  artifact_uri: string;
  artifacts: { format: string; uri: string }[];
  metrics: Record<string, number>;
  params: Record<string, unknown>;
  run_id: string | null;
  experiment_id: string | null;
  dataset: string | null;
  dataset_version: string | null;
  status: string;
  created_by: string;
  created_at: Date;
  aliases: string[] | null;
}

const MODEL_SELECT = `SELECT m.*, (SELECT jsonb_object_agg(a.alias, a.version) FROM registry_model_aliases a
  WHERE a.model = m.name) AS aliases FROM registry_models m`;
const VERSION_SELECT = `SELECT v.*, m.type, ARRAY(SELECT a.alias FROM registry_model_aliases a
  WHERE a.model = v.model AND a.version = v.version ORDER BY a.alias) AS aliases
  FROM registry_model_versions v JOIN registry_models m ON m.name = v.model`;

const toModel = (r: ModelRow): ModelRecord => ({
  name: r.name,
  type: r.type,
  description: r.description,
  tags: r.tags,
  latestVersion: r.last_version,
  aliases: r.aliases ?? {},
  createdBy: r.created_by,
  createdAt: r.created_at.toISOString(),
});

const toVersion = (r: VersionRow): StoredModelVersion => ({
  model: r.model,
  version: r.version,
  type: r.type,
  format: r.format,
  artifactUri: r.artifact_uri,
  artifacts: r.artifacts,
  metrics: r.metrics,
  params: r.params,
  status: r.status,
  aliases: r.aliases ?? [],
  createdAt: r.created_at.toISOString(),
  runId: r.run_id,
  experimentId: r.experiment_id,
  dataset: r.dataset,
  datasetVersion: r.dataset_version,
  createdBy: r.created_by,
});

/** Registered models, their versions and aliases in SQL; runs on either database adapter. */
export class ModelRepository {
  constructor(private readonly sql: Sql) {}

  /** Registers a model; 409 when the name is taken. */
  async createModel(m: {
    name: string;
    type: string;
    description?: string;
    tags?: Record<string, string>;
    createdBy: string;
    createdAt: Date;
  }): Promise<ModelRecord> {
    const { rowCount } = await this.sql.query(
      `INSERT INTO registry_models (name, type, description, tags, created_by, created_at)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING`,
      [m.name, m.type, m.description ?? '', JSON.stringify(m.tags ?? {}), m.createdBy, m.createdAt],
    );
    if (rowCount === 0) throw conflict('model_exists', `a model named ${m.name} is already registered`);
    return this.getModel(m.name);
  }

  /** A registered model; throws 404. */
  async getModel(name: string): Promise<ModelRecord> {
    const { rows } = await this.sql.query<ModelRow>(`${MODEL_SELECT} WHERE m.name = $1`, [name]);
    if (rows.length === 0) throw notFound('model_not_found', `no registered model named ${name}`);
    return toModel(rows[0]);
  }

  /** Registered models by name, optionally of one type. */
  async listModels(page: Page, type?: string): Promise<ModelRecord[]> {
    const { rows } = await this.sql.query<ModelRow>(
      `${MODEL_SELECT} WHERE ($3::text IS NULL OR m.type = $3) ORDER BY m.name LIMIT $1 OFFSET $2`,
      [page.limit, page.offset, type ?? null],
    );
    return rows.map(toModel);
  }

  /**
   * Adds a version numbered one past the last. The counter is bumped with UPDATE ... RETURNING,
   * whose row lock makes concurrent creations wait their turn: numbers are distinct and
   * consecutive. Run it in a transaction so a failed insert gives the number back.
   */
  async createVersion(v: NewModelVersion): Promise<StoredModelVersion> {
    const bumped = await this.sql.query<{ last_version: number }>(
      'UPDATE registry_models SET last_version = last_version + 1 WHERE name = $1 RETURNING last_version',
      [v.model],
    );
    if (bumped.rows.length === 0) throw notFound('model_not_found', `no registered model named ${v.model}`);
    const version = bumped.rows[0].last_version;
    await this.sql.query(
      `INSERT INTO registry_model_versions (model, version, format, artifact_uri, artifacts, metrics, params,
         run_id, experiment_id, dataset, dataset_version, status, created_by, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
      [
        v.model,
        version,
        v.format,
        v.artifactUri,
        JSON.stringify(v.artifacts ?? []),
        JSON.stringify(v.metrics ?? {}),
        JSON.stringify(v.params ?? {}),
        v.runId ?? null,
        v.experimentId ?? null,
        v.dataset ?? null,
        v.datasetVersion ?? null,
        v.status ?? 'ready',
        v.createdBy,
        v.createdAt,
      ],
    );
    return this.getVersion(v.model, version);
  }

  /** A version by number, alias or `latest`; throws 404. */
  async getVersion(model: string, ref: number | string): Promise<StoredModelVersion> {
    const numeric = typeof ref === 'number' ? ref : /^\d+$/.test(ref) ? Number(ref) : undefined;
    let version = numeric;
    if (version === undefined) {
      const { rows } =
        ref === 'latest'
          ? await this.sql.query<{ version: number }>(
              'SELECT max(version) AS version FROM registry_model_versions WHERE model = $1',
              [model],
            )
          : await this.sql.query<{ version: number }>(
              'SELECT version FROM registry_model_aliases WHERE model = $1 AND alias = $2',
              [model, ref],
            );
      version = rows[0]?.version ?? undefined;
      if (version === undefined || version === null) {
        await this.getModel(model);
        throw notFound(
          'model_version_not_found',
          `model ${model} has no ${ref === 'latest' ? 'versions' : `alias ${ref}`}`,
        );
      }
    }
    const { rows } = await this.sql.query<VersionRow>(
      `${VERSION_SELECT} WHERE v.model = $1 AND v.version = $2`,
      [model, version],
    );
    if (rows.length === 0) {
      await this.getModel(model);
      throw notFound('model_version_not_found', `model ${model} has no version ${ref}`);
    }
    return toVersion(rows[0]);
  }

  /** Merges metrics into a version's; throws 404 when the version does not exist. */
  async mergeMetrics(
    model: string,
    version: number,
    metrics: Record<string, number>,
  ): Promise<StoredModelVersion> {
    const { rows } = await this.sql.query(
      `UPDATE registry_model_versions SET metrics = metrics || $3::jsonb WHERE model = $1 AND version = $2
       RETURNING version`,
      [model, version, JSON.stringify(metrics)],
    );
    if (rows.length === 0) {
      await this.getModel(model);
      throw notFound('model_version_not_found', `model ${model} has no version ${version}`);
    }
    return this.getVersion(model, version);
  }

  /** Versions of a model, newest first; or of every model when `query.experimentId` is given. */
  async listVersions(
    query: { model?: string; experimentId?: string },
    page: Page,
  ): Promise<StoredModelVersion[]> {
    if (query.model) await this.getModel(query.model);
    const { rows } = await this.sql.query<VersionRow>(
      `${VERSION_SELECT} WHERE ($3::text IS NULL OR v.model = $3) AND ($4::text IS NULL OR v.experiment_id = $4)
       ORDER BY v.created_at DESC, v.model, v.version DESC LIMIT $1 OFFSET $2`,
      [page.limit, page.offset, query.model ?? null, query.experimentId ?? null],
    );
    return rows.map(toVersion);
  }

  /** The newest version among all models of a type; throws 404 when there is none. */
  async latestOfType(type: string): Promise<StoredModelVersion> {
    const { rows } = await this.sql.query<VersionRow>(
      `${VERSION_SELECT} WHERE m.type = $1 ORDER BY v.created_at DESC, v.version DESC LIMIT 1`,
      [type],
    );
    if (rows.length === 0) throw notFound('model_version_not_found', `no model version of type ${type}`);
    return toVersion(rows[0]);
  }

  /** Points an alias at a version; returns the version it pointed at before, if any. */
  async setAlias(
    model: string,
    alias: string,
    version: number,
    actor: string,
    at: Date,
  ): Promise<number | null> {
    const previous = await this.sql.query<{ version: number }>(
      'SELECT version FROM registry_model_aliases WHERE model = $1 AND alias = $2 FOR UPDATE',
      [model, alias],
    );
    await this.sql.query(
      `INSERT INTO registry_model_aliases (model, alias, version, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (model, alias) DO UPDATE SET version = excluded.version, updated_by = excluded.updated_by,
         updated_at = excluded.updated_at`,
      [model, alias, version, actor, at],
    );
    return previous.rows[0]?.version ?? null;
  }
}
