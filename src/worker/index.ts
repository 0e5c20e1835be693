import { readSection } from '../kernel/config.js';
import { newId } from '../kernel/ids.js';
import type { ModuleContext, ModuleDefinition, ModuleInstance } from '../kernel/module.js';
import { defaultWorkerName, WorkerConfig, workerCapacity } from './config.js';
import { ProcessPool } from './process-pool.js';
import { WorkerLoop } from './worker-loop.js';

export { WorkerConfig } from './config.js';
export { classificationMetrics } from './stages/evaluate.js';
export { runStage } from './stages/run-stage.js';
export type { StageContext, StageInput, StageResult } from './stages/stage-io.js';
export type { RunMessage, TaskProcessMessage } from './task-protocol.js';
export {
  gangEnv,
  jobSpecOf,
  type KubernetesSettings,
  WorkerLoop,
  type WorkerLoopDeps,
} from './worker-loop.js';

/** The worker module: claims tasks from the pipeline's queue and runs them on this host. */
export const workerModule: ModuleDefinition = {
  name: 'worker',
  deps: ['scheduler', 'registry', 'eventlog'],
  requires: ['database'],
  init: startWorker,
};

async function startWorker(ctx: ModuleContext): Promise<ModuleInstance> {
  const config = readSection(WorkerConfig, ctx.config.worker, '/worker');
  const pool = new ProcessPool(ctx.adapters.taskProcessEntry, ctx.config.artifacts.dir);
  const loop = new WorkerLoop({
    id: newId(ctx.clock.now()),
    name: config.name ?? defaultWorkerName(),
    capacity: workerCapacity(config),
    labels: config.labels,
    concurrency: config.concurrency,
    pollMs: config.pollMs,
    heartbeatMs: config.heartbeatMs,
    pipeline: ctx.use('scheduler'),
    registry: ctx.use('registry'),
    events: ctx.use('eventlog'),
    pool,
    ...(config.executor === 'kubernetes'
      ? {
          jobs: {
            runner: ctx.adapters.kubernetesJobs({
              server: config.kubernetes.server,
              token: config.kubernetes.token,
              kubeconfig: config.kubernetes.kubeconfig,
              skipTlsVerify: config.kubernetes.skipTlsVerify,
              pollMs: config.kubernetes.pollMs,
            }),
            settings: config.kubernetes,
          },
        }
      : {}),
    clock: ctx.clock,
    logger: ctx.logger,
  });
  await loop.start();
  return {
    ready: () => ({ status: 'ready' }),
    async stop() {
      await loop.stop();
      pool.killAll();
    },
  };
}
