import type { Clock } from '../kernel/clock.js';
import { notFound } from '../kernel/errors.js';
import type { Database } from '../ports/database.js';
import type { RegistryApi } from '../registry/index.js';
import { type PipelineDefinition, readDefinition } from './definition.js';
import type { ExecutionFlow } from './execution-flow.js';
import { type ExecutionRecord, type ExecutionRow, type TaskRow, toExecution } from './records.js';
import type { Scheduler } from './scheduler.js';

/** Stored pipelines and executions, and what the API and the CLI read of them. */
export class PipelineService {
  constructor(
    readonly db: Database,
    readonly flow: ExecutionFlow,
    readonly scheduler: Scheduler,
    private readonly registry: RegistryApi,
    private readonly clock: Clock,
  ) {}

  /** Saves (or replaces) a named pipeline definition. */
  async savePipeline(input: unknown, actor: string): Promise<PipelineDefinition> {
    const definition = readDefinition(input);
    const now = new Date(this.clock.now());
    await this.db.query(
      `INSERT INTO pipeline_definitions (name, definition, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
       ON CONFLICT (name) DO UPDATE SET definition = $2, updated_at = $4`,
      [definition.name, JSON.stringify(definition), actor, now],
    );
    return definition;
  }

  async getPipeline(name: string): Promise<PipelineDefinition> {
    const found = await this.db.query<{ definition: PipelineDefinition }>(
      'SELECT definition FROM pipeline_definitions WHERE name = $1',
      [name],
    );
    if (!found.rows[0]) throw notFound('pipeline_not_found', `no pipeline ${name}`);
    return found.rows[0].definition;
  }

  async listPipelines(
    limit: number,
    offset: number,
  ): Promise<{ name: string; description: string; stages: string[] }[]> {
    const rows = await this.db.query<{ definition: PipelineDefinition }>(
      'SELECT definition FROM pipeline_definitions ORDER BY name LIMIT $1 OFFSET $2',
      [limit, offset],
    );
    return rows.rows.map(({ definition: d }) => ({
      name: d.name,
      description: d.description,
      stages: d.stages.map((s) => `${s.name}:${s.type}`),
    }));
  }

  /** Starts an execution of a definition (given, or a saved pipeline's); the dataset version is pinned now. */
  async run(input: { definition?: unknown; pipeline?: string }, actor: string): Promise<ExecutionRecord> {
    const definition =
      input.definition !== undefined
        ? readDefinition(input.definition)
        : await this.getPipeline(input.pipeline ?? '');
    const dataset = await this.registry.getDatasetVersion(
      definition.dataset.name,
      definition.dataset.version,
    );
    const id = await this.flow.create(definition, dataset.version, actor);
    return this.getExecution(id);
  }

  async getExecution(id: string): Promise<ExecutionRecord> {
    const found = await this.db.query<ExecutionRow>('SELECT * FROM pipeline_executions WHERE id = $1', [id]);
    if (!found.rows[0]) throw notFound('execution_not_found', `no execution ${id}`);
    const tasks = await this.db.query<TaskRow>('SELECT * FROM pipeline_tasks WHERE execution_id = $1', [id]);
    return toExecution(found.rows[0], tasks.rows);
  }

  async listExecutions(q: {
    status?: string;
    pipeline?: string;
    limit: number;
    offset: number;
  }): Promise<ExecutionRecord[]> {
    const rows = await this.db.query<ExecutionRow>(
      `SELECT * FROM pipeline_executions WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR pipeline = $2)
       ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4`,
      [q.status ?? null, q.pipeline ?? null, q.limit, q.offset],
    );
    const ids = rows.rows.map((r) => r.id);
    const tasks = await this.db.query<TaskRow>('SELECT * FROM pipeline_tasks WHERE execution_id = ANY ($1)', [
      ids,
    ]);
    return rows.rows.map((r) =>
      toExecution(
        r,
        tasks.rows.filter((t) => t.execution_id === r.id),
      ),
    );
  }

  /** Log lines of an execution after line id `after`, oldest first. */
  async logs(
    id: string,
    after: number,
    limit: number,
  ): Promise<{ id: number; stage: string; at: string; line: string }[]> {
    await this.getExecution(id);
    const rows = await this.db.query<{ id: number; stage: string; at: Date; line: string }>(
      `SELECT id, stage, at, line FROM pipeline_task_logs WHERE execution_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
      [id, after, limit],
    );
    return rows.rows.map((r) => ({ id: Number(r.id), stage: r.stage, at: r.at.toISOString(), line: r.line }));
  }
}
