import type { Registration } from '../discovery/index.js';
import { readSection } from '../kernel/config.js';
import { createHttpServer } from '../kernel/http.js';
import { newId } from '../kernel/ids.js';
import type { ModuleContext, ModuleDefinition, ModuleInstance } from '../kernel/module.js';
import { PipelineConfig, trainingPortFor } from './config.js';
import { ExecutionFlow } from './execution-flow.js';
import { experimentRoutes } from './experiments/experiment-routes.js';
import { ExperimentRunner } from './experiments/experiment-runner.js';
import { ExperimentService } from './experiments/experiment-service.js';
import { PipelineService } from './pipeline-service.js';
import type { ClaimedTask, ExecutionRecord, WorkerCapacity, WorkerRecord } from './records.js';
import { pipelineRoutes } from './routes.js';
import { Scheduler } from './scheduler.js';

export { PipelineConfig } from './config.js';
export { type PipelineDefinition, parseDefinitionText, readDefinition, type Stage } from './definition.js';
export type { ExperimentRecord, TrialRecord } from './experiments/experiment-records.js';
export type { ExperimentService } from './experiments/experiment-service.js';
export { parseDimensionFlag } from './experiments/search-space.js';
export type { TeamBudget } from './placement.js';
export type { ClaimedTask, ExecutionRecord, StageRecord, WorkerCapacity, WorkerRecord } from './records.js';

/** The discovery service name the gateway routes `/api/v1/training/**` to. */
export const TRAINING_SERVICE = 'model-training';

/** What workers (and tests) use of the scheduler module: the task queue and the executions. */
export interface SchedulerApi {
  registerWorker(
    id: string,
    name: string,
    capacity: WorkerCapacity,
    labels: Record<string, string>,
  ): Promise<void>;
  /** A heartbeat; `free` (what the worker has left) lets gangs choose it as a member. */
  heartbeatWorker(id: string, running: number, free?: WorkerCapacity): Promise<void>;
  removeWorker(id: string): Promise<void>;
  workers(): Promise<WorkerRecord[]>;
  /**
   * Claims the best queued task that fits `free` and whose node selector `labels` satisfies
   * (default: the worker's registered labels); null when none does.
   */
  claim(workerId: string, free: WorkerCapacity, labels?: Record<string, string>): Promise<ClaimedTask | null>;
  /** Renews a lease (and stores metrics so far); false when the worker must stop the task. */
  extendLease(
    taskId: string,
    workerId: string,
    attempt: number,
    metrics?: Record<string, unknown>,
  ): Promise<boolean>;
  complete(
    taskId: string,
    workerId: string,
    attempt: number,
    output: Record<string, unknown>,
    metrics: Record<string, unknown>,
  ): Promise<boolean>;
  fail(
    taskId: string,
    workerId: string,
    attempt: number,
    error: string,
  ): Promise<'retrying' | 'failed' | 'lost'>;
  appendLogs(executionId: string, stage: string, lines: string[]): Promise<void>;
  cancel(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  /** Reaps expired leases and explains waiting tasks now (the monitor does it every interval). */
  monitor(): Promise<void>;
}

/** The pipeline module's API: the scheduler's, and where the training API listens. */
export interface PipelineApi extends SchedulerApi {
  /** Base URL of the training API listener. */
  readonly url: string;
  /** Runs a definition (already parsed or raw) now. */
  run(definition: unknown, actor: string): Promise<ExecutionRecord>;
  getExecution(id: string): Promise<ExecutionRecord>;
  /** Experiments and their trials. */
  readonly experiments: ExperimentService;
  /** Drives every running experiment once now (the controller does it every experiments.tickMs). */
  tickExperiments(): Promise<void>;
}

declare module '../kernel/module.js' {
  interface ModuleApis {
    scheduler: SchedulerApi;
    pipeline: PipelineApi;
  }
}

/**
 * The scheduler module: the task queue on the database (executions, tasks, leases, workers) and
 * its monitor. Workers need only this, so `--target worker` does not serve the training API.
 */
export const schedulerModule: ModuleDefinition = {
  name: 'scheduler',
  deps: ['eventlog'],
  requires: ['database'],
  migrations: new URL('./migrations', import.meta.url).pathname,
  init: startScheduler,
};

/** The pipeline module: the training API on its own listener, registered as model-training. */
export const pipelineModule: ModuleDefinition = {
  name: 'pipeline',
  deps: ['scheduler', 'registry', 'discovery', 'eventlog'],
  requires: ['database'],
  init: startPipeline,
};

function queueOf(ctx: ModuleContext) {
  const config = readSection(PipelineConfig, ctx.config.pipeline, '/pipeline');
  const flow = new ExecutionFlow(ctx.db, ctx.use('eventlog'), ctx.clock);
  return { config, flow, scheduler: new Scheduler(ctx.db, flow, ctx.clock, config) };
}

async function startScheduler(ctx: ModuleContext): Promise<ModuleInstance> {
  const { config, flow, scheduler } = queueOf(ctx);
  const monitor = async () => {
    await scheduler.reapExpiredLeases();
    await scheduler.explainWaits();
  };
  let monitoring: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    monitoring = monitor().catch((error) => ctx.logger.warn({ err: error }, 'pipeline monitor failed'));
  }, config.monitorIntervalMs);
  timer.unref();
  const api: SchedulerApi = {
    registerWorker: (...a) => scheduler.registerWorker(...a),
    heartbeatWorker: (...a) => scheduler.heartbeatWorker(...a),
    removeWorker: (id) => scheduler.removeWorker(id),
    workers: () => scheduler.workers(),
    claim: (...a) => scheduler.claim(...a),
    extendLease: (...a) => scheduler.extendLease(...a),
    complete: (...a) => flow.complete(...a),
    fail: (...a) => flow.fail(...a),
    appendLogs: (...a) => scheduler.appendLogs(...a),
    cancel: (id) => flow.cancel(id),
    resume: (id) => flow.resume(id),
    monitor,
  };
  return {
    api,
    ready: () => ({ status: 'ready' }),
    async stop() {
      clearInterval(timer);
      await monitoring;
    },
  };
}

async function startPipeline(ctx: ModuleContext): Promise<ModuleInstance> {
  const { config, flow, scheduler } = queueOf(ctx);
  config.server.port ??= trainingPortFor(ctx.config.server.port);
  const service = new PipelineService(ctx.db, flow, scheduler, ctx.use('registry'), ctx.clock);
  const experiments = new ExperimentService(ctx.db, flow, ctx.use('registry'), ctx.clock, (name) =>
    service.getPipeline(name),
  );
  const runner = new ExperimentRunner(experiments, flow, ctx.use('registry'), ctx.clock, ctx.logger, {
    owner: newId(ctx.clock.now()),
    leaseMs: config.experiments.leaseMs,
  });

  const server = await createHttpServer({
    logger: ctx.logger,
    bodyLimitBytes: 4 * 1024 * 1024,
    access: ctx.http.access,
    listener: 'training',
  });
  await server.register(pipelineRoutes(service), { prefix: '/api/v1/training' });
  await server.register(experimentRoutes(experiments), { prefix: '/api/v1/training' });
  await server.listen({ host: config.server.host, port: config.server.port });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  const url = `http://${host}:${port}`;
  const registration: Registration = await ctx.use('discovery').register({
    service: TRAINING_SERVICE,
    url,
    metadata: {},
    ttlMs: config.discoveryTtlMs,
  });
  ctx.logger.info({ url }, 'training API listening');
  // One tick at a time: a slow tick delays the next instead of overlapping it.
  let ticking: Promise<void> = Promise.resolve();
  let stopped = false;
  const controller = setInterval(() => {
    ticking = ticking.then(() =>
      stopped
        ? undefined
        : runner
            .tick()
            .catch((error) => ctx.logger.warn({ err: error }, 'experiment controller tick failed')),
    );
  }, config.experiments.tickMs);
  controller.unref();
  const api: PipelineApi = {
    ...ctx.use('scheduler'),
    url,
    run: (definition, actor) => service.run({ definition }, actor),
    getExecution: (id) => service.getExecution(id),
    experiments,
    tickExperiments: () => runner.tick(),
  };
  return {
    api,
    ready: () => ({ status: 'ready' }),
    async stop() {
      stopped = true;
      clearInterval(controller);
      await ticking;
      await runner
        .release()
        .catch((error) => ctx.logger.warn({ err: error }, 'releasing experiments failed'));
      await registration
        .deregister()
        .catch((error) => ctx.logger.warn({ err: error }, 'discovery deregistration failed'));
      await server.close();
    },
  };
}
