import { notFound } from '../kernel/errors.js';
import type { Sql } from '../ports/database.js';
import type { ColumnProfile } from './dataset-profile.js';
import type { Page } from './page.js';

/** A named dataset with its version count and newest version. */
export interface DatasetRecord {
  name: string;
  description: string;
  createdBy: string;
  createdAt: string;
  versions: number;
  latestVersion: string | null;
}

/** One content-addressed version of a dataset: the sha256 of its CSV is its id. */
export interface DatasetVersionRecord {
  dataset: string;
  version: string;
  uri: string;
  sizeBytes: number;
  rowCount: number;
  columns: ColumnProfile[];
  createdBy: string;
  createdAt: string;
}

interface VersionRow {
  dataset: string;
  version: string;
  uri: string;
  size_bytes: number;
  row_count: number;
  columns: ColumnProfile[];
  created_by: string;
  created_at: Date;
}

const toVersion = (r: VersionRow): DatasetVersionRecord => ({
  dataset: r.dataset,
  version: r.version,
  uri: r.uri,
  sizeBytes: Number(r.size_bytes),
  rowCount: Number(r.row_count),
  columns: r.columns,
  createdBy: r.created_by,
  createdAt: r.created_at.toISOString(),
});

/** Datasets and their versions in SQL; runs on either database adapter. */
export class DatasetRepository {
  constructor(private readonly sql: Sql) {}

  /**
   * Records a version (creating the dataset on first push). The same content pushed again is
   * the same version: returns it with `created: false`.
   */
  async addVersion(
    v: Omit<DatasetVersionRecord, 'createdAt'> & { createdAt: Date; description?: string },
  ): Promise<{ version: DatasetVersionRecord; created: boolean }> {
    await this.sql.query(
      `INSERT INTO registry_datasets (name, description, created_by, created_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (name) DO NOTHING`,
      [v.dataset, v.description ?? '', v.createdBy, v.createdAt],
    );
    const inserted = await this.sql.query<VersionRow>(
      `INSERT INTO registry_dataset_versions
         (dataset, version, uri, size_bytes, row_count, columns, created_by, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dataset, version) DO NOTHING RETURNING *`,
      [
        v.dataset,
        v.version,
        v.uri,
        v.sizeBytes,
        v.rowCount,
        JSON.stringify(v.columns),
        v.createdBy,
        v.createdAt,
      ],
    );
    if (inserted.rows.length > 0) return { version: toVersion(inserted.rows[0]), created: true };
    return { version: await this.getVersion(v.dataset, v.version), created: false };
  }

  /** A version by sha256 (or a unique prefix of at least 8 characters), or `latest`; throws 404. */
  async getVersion(dataset: string, ref: string): Promise<DatasetVersionRecord> {
    const { rows } =
      ref === 'latest'
        ? await this.sql.query<VersionRow>(
            'SELECT * FROM registry_dataset_versions WHERE dataset = $1 ORDER BY created_at DESC, version LIMIT 1',
            [dataset],
          )
        : /^[0-9a-f]{8,63}$/.test(ref)
          ? await this.sql.query<VersionRow>(
              `SELECT * FROM registry_dataset_versions WHERE dataset = $1 AND version LIKE $2
               ORDER BY version LIMIT 2`,
              [dataset, `${ref}%`],
            )
          : await this.sql.query<VersionRow>(
              'SELECT * FROM registry_dataset_versions WHERE dataset = $1 AND version = $2',
              [dataset, ref],
            );
    if (rows.length === 1) return toVersion(rows[0]);
    if (rows.length > 1)
      throw notFound('dataset_version_ambiguous', `version prefix ${ref} of ${dataset} is ambiguous`);
    throw notFound('dataset_version_not_found', `dataset ${dataset} has no version ${ref}`);
  }

  /** Datasets by name. */
  list(page: Page): Promise<DatasetRecord[]> {
    return this.select(page);
  }

  /** One dataset; throws 404. */
  async get(name: string): Promise<DatasetRecord> {
    const [found] = await this.select({ limit: 1, offset: 0 }, name);
    if (!found) throw notFound('dataset_not_found', `no dataset named ${name}`);
    return found;
  }

  private async select(page: Page, name?: string): Promise<DatasetRecord[]> {
    const { rows } = await this.sql.query<{
      name: string;
      description: string;
      created_by: string;
      created_at: Date;
      versions: number;
      latest: string | null;
    }>(
      `SELECT d.*, (SELECT count(*)::int FROM registry_dataset_versions v WHERE v.dataset = d.name) AS versions,
         (SELECT v.version FROM registry_dataset_versions v WHERE v.dataset = d.name
          ORDER BY v.created_at DESC, v.version LIMIT 1) AS latest
       FROM registry_datasets d WHERE ($3::text IS NULL OR d.name = $3) ORDER BY d.name LIMIT $1 OFFSET $2`,
      [page.limit, page.offset, name ?? null],
    );
    return rows.map((r) => ({
      name: r.name,
      description: r.description,
      createdBy: r.created_by,
      createdAt: r.created_at.toISOString(),
      versions: Number(r.versions),
      latestVersion: r.latest,
    }));
  }

  /** A dataset's versions, newest first; throws 404 for an unknown dataset. */
  async listVersions(dataset: string, page: Page): Promise<DatasetVersionRecord[]> {
    const exists = await this.sql.query('SELECT 1 FROM registry_datasets WHERE name = $1', [dataset]);
    if (exists.rows.length === 0) throw notFound('dataset_not_found', `no dataset named ${dataset}`);
    const { rows } = await this.sql.query<VersionRow>(
      `SELECT * FROM registry_dataset_versions WHERE dataset = $1 ORDER BY created_at DESC, version
       LIMIT $2 OFFSET $3`,
      [dataset, page.limit, page.offset],
    );
    return rows.map(toVersion);
  }
}
