import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../kernel/logger.js';
import type { ClaimedTask, SchedulerApi, WorkerCapacity } from '../pipeline/index.js';
import type { EventLog } from '../ports/event-log.js';
import type { JobRunner, JobSpec } from '../ports/job-runner.js';
import type { EpochMetrics } from '../ports/trainer.js';
import type { RegistryApi } from '../registry/index.js';
import type { WorkerConfig } from './config.js';
import { deployStage } from './deploy.js';
import type { ProcessPool } from './process-pool.js';
import type { StageResult } from './stages/stage-io.js';

/** What a worker loop needs. */
export interface WorkerLoopDeps {
  id: string;
  name: string;
  capacity: WorkerCapacity;
  labels: Record<string, string>;
  concurrency: number;
  pollMs: number;
  heartbeatMs: number;
  pipeline: SchedulerApi;
  registry: RegistryApi;
  events: EventLog;
  pool: ProcessPool;
  /** The Kubernetes executor, when command stages run as Jobs. */
  jobs?: { runner: JobRunner; settings: KubernetesSettings };
  clock: Clock;
  logger: Logger;
}

interface Running {
  task: ClaimedTask;
  abort: AbortController;
  logs: string[];
  metrics: Record<string, unknown>;
  history: EpochMetrics[];
  /** The first loss anomaly seen (reported once per attempt). */
  anomaly?: string;
  done: Promise<void>;
  /** A progress report is in flight; `stale` says newer metrics arrived meanwhile. */
  reporting: boolean;
  stale: boolean;
}

// A running task's log lines wait here until the next heartbeat; beyond this many the oldest go.
const MAX_PENDING_LOG_LINES = 1_000;

/**
 * A worker: registers its capacity, claims tasks that fit what is free, runs each (data stages
 * in task processes, deploy in process, commands as child processes), renews the leases of
 * running tasks with each heartbeat, and stops a task whose lease it lost (cancelled or reclaimed).
 */
export class WorkerLoop {
  private readonly running = new Map<string, Running>();
  private stopping = false;
  private loop: Promise<void> = Promise.resolve();
  private heartbeat?: NodeJS.Timeout;
  private wake?: () => void;

  constructor(private readonly deps: WorkerLoopDeps) {}

  async start(): Promise<void> {
    const d = this.deps;
    await d.pipeline.registerWorker(d.id, d.name, d.capacity, d.labels);
    this.heartbeat = setInterval(() => void this.beat(), d.heartbeatMs);
    this.heartbeat.unref();
    this.loop = this.claimLoop();
  }

  /** Stops claiming, stops running tasks (their leases lapse and they run again elsewhere), deregisters. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    clearInterval(this.heartbeat);
    await this.loop;
    for (const r of this.running.values()) r.abort.abort(new Error('worker stopping'));
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
    await this.deps.pipeline.removeWorker(this.deps.id).catch(() => {});
  }

  private free(): WorkerCapacity {
    const free = { ...this.deps.capacity };
    for (const { task } of this.running.values()) {
      free.cpu -= task.stage.resources.cpu;
      free.memoryMb -= task.stage.resources.memoryMb;
      free.gpu -= task.stage.resources.gpu;
      free.storageMb -= task.stage.resources.storageMb;
    }
    return free;
  }

  private async claimLoop(): Promise<void> {
    const d = this.deps;
    while (!this.stopping) {
      let claimed: ClaimedTask | null = null;
      if (this.running.size < d.concurrency) {
        try {
          claimed = await d.pipeline.claim(d.id, this.free(), d.labels);
        } catch (error) {
          d.logger.warn({ err: error }, 'claiming a task failed');
        }
      }
      if (claimed) {
        this.begin(claimed);
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, d.pollMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  private begin(task: ClaimedTask): void {
    const abort = new AbortController();
    const entry: Running = {
      task,
      abort,
      logs: [],
      metrics: {},
      history: [],
      done: Promise.resolve(),
      reporting: false,
      stale: false,
    };
    this.running.set(task.id, entry);
    entry.done = this.execute(entry).finally(() => {
      this.running.delete(task.id);
      this.wake?.();
    });
  }

  private async execute(entry: Running): Promise<void> {
    const d = this.deps;
    const { task } = entry;
    const log = (line: string) => {
      entry.logs.push(`[${task.stage.name}#${task.attempt}] ${line}`);
      if (entry.logs.length > MAX_PENDING_LOG_LINES) entry.logs.shift();
    };
    const timer = setTimeout(
      () => entry.abort.abort(new Error(`timed out after ${task.stage.timeoutMs} ms`)),
      task.stage.timeoutMs,
    );
    log(`started on worker ${d.name}`);
    try {
      const result = await this.runTask(entry, log);
      await this.flushLogs(entry);
      if (!(await d.pipeline.complete(task.id, d.id, task.attempt, result.output, result.metrics)))
        d.logger.warn({ task: task.id }, 'finished a task whose lease was lost; its result is dropped');
    } catch (error) {
      const message = (error as Error).message ?? String(error);
      log(`failed: ${message}`);
      await this.flushLogs(entry).catch(() => {});
      const outcome = await d.pipeline
        .fail(task.id, d.id, task.attempt, message)
        .catch((e) => d.logger.error({ err: e, task: task.id }, 'recording a task failure failed'));
      d.logger.info({ task: task.id, outcome, error: message }, 'task failed');
    } finally {
      clearTimeout(timer);
    }
  }

  private runTask(entry: Running, log: (line: string) => void): Promise<StageResult> {
    const d = this.deps;
    const { task } = entry;
    switch (task.stage.type) {
      case 'deploy':
        return deployStage(task, d.registry, d.events, log);
      case 'command':
        return d.jobs
          ? runJob(task, d.jobs.runner, d.jobs.settings, log, entry.abort.signal)
          : runCommand(task, log, entry.abort.signal);
      default:
        return this.runInProcess(entry, log);
    }
  }

  private async runInProcess(entry: Running, log: (line: string) => void): Promise<StageResult> {
    const d = this.deps;
    const { task } = entry;
    const dataset = await d.registry.getDatasetVersion(task.definition.dataset.name, task.datasetVersion);
    return d.pool.run(
      {
        type: task.stage.type as 'prepare' | 'train' | 'evaluate',
        executionId: task.executionId,
        stage: task.stage.name,
        params: task.stage.params,
        seed: task.definition.seed,
        dataset: { name: dataset.dataset, version: dataset.version, uri: dataset.uri },
        outputs: task.outputs,
      },
      {
        log,
        progress: (metrics) => {
          entry.history.push(metrics);
          entry.metrics = { history: entry.history, ...metrics };
          void this.report(entry);
          log(
            `epoch ${metrics.epoch} loss ${metrics.loss.toFixed(4)} accuracy ${metrics.accuracy.toFixed(4)}`,
          );
          d.events.enqueue({
            type: 'ai.training.progress',
            source: 'aimesh/worker',
            subject: task.executionId,
            correlationid: task.executionId,
            data: { executionId: task.executionId, stage: task.stage.name, ...metrics },
          });
          const anomaly = entry.anomaly ? null : lossAnomaly(entry.history);
          if (anomaly) {
            entry.anomaly = anomaly;
            log(`anomaly: ${anomaly}`);
            d.events.enqueue({
              type: 'ai.training.anomaly',
              source: 'aimesh/worker',
              subject: task.executionId,
              correlationid: task.executionId,
              data: { executionId: task.executionId, stage: task.stage.name, epoch: metrics.epoch, anomaly },
            });
          }
        },
      },
      entry.abort.signal,
    );
  }

  /**
   * Sends a task's metrics as each epoch ends, not only with the heartbeat, so whoever watches
   * the trial (an experiment's early stopping) judges it as it trains; one report at a time, the
   * newest metrics winning. A lost lease stops the task at once.
   */
  private async report(entry: Running): Promise<void> {
    if (entry.reporting) {
      entry.stale = true;
      return;
    }
    entry.reporting = true;
    const d = this.deps;
    try {
      do {
        entry.stale = false;
        const held = await d.pipeline.extendLease(entry.task.id, d.id, entry.task.attempt, entry.metrics);
        if (!held)
          entry.abort.abort(new Error('the lease was lost (cancelled, or reclaimed after expiring)'));
      } while (entry.stale && !entry.abort.signal.aborted);
    } catch (error) {
      d.logger.warn({ err: error, task: entry.task.id }, 'reporting task progress failed');
    } finally {
      entry.reporting = false;
    }
  }

  private async flushLogs(entry: Running): Promise<void> {
    const lines = entry.logs.splice(0);
    await this.deps.pipeline.appendLogs(entry.task.executionId, entry.task.stage.name, lines);
  }

  /** Heartbeat: the worker is alive; each running task's lease is renewed or, when lost, the task is stopped. */
  private async beat(): Promise<void> {
    const d = this.deps;
    try {
      await d.pipeline.heartbeatWorker(d.id, this.running.size, this.free());
      for (const entry of this.running.values()) {
        const held = await d.pipeline.extendLease(entry.task.id, d.id, entry.task.attempt, entry.metrics);
        if (!held)
          entry.abort.abort(new Error('the lease was lost (cancelled, or reclaimed after expiring)'));
        else await this.flushLogs(entry);
      }
    } catch (error) {
      d.logger.warn({ err: error }, 'worker heartbeat failed');
    }
  }
}

/** The Kubernetes executor's settings (`worker.kubernetes`). */
export type KubernetesSettings = WorkerConfig['kubernetes'];

/**
 * The Job of a command stage: `training-job-<execution id>-<8 hex of stage and attempt>` (unique
 * per attempt, at most 63 characters), the stage's resources, node selector and env plus where
 * the pod finds the dataset and saves the model.
 */
export function jobSpecOf(task: ClaimedTask, settings: KubernetesSettings): JobSpec {
  const suffix = createHash('sha256').update(`${task.stage.name}#${task.attempt}`).digest('hex').slice(0, 8);
  const root = settings.dataRoot.replace(/\/+$/, '');
  const params = task.stage.params as { command: unknown[]; image?: unknown };
  return {
    name: `training-job-${task.executionId}-${suffix}`.toLowerCase(),
    namespace: settings.namespace,
    // Kubernetes accepts a container without an image (controllers may default one); no command
    // stage of aimesh goes without one: an empty image falls back to the configured one (never empty).
    image: typeof params.image === 'string' && params.image.trim() !== '' ? params.image : settings.image,
    command: params.command.map(String),
    env: {
      ...task.stage.env,
      TRAINING_DATA_PATH: `${root}/datasets/${task.datasetVersion}.csv`,
      MODEL_SAVE_PATH: `${root}/executions/${task.executionId}/${task.stage.name}/model`,
      EXPERIMENT_ID: task.executionId,
      LOG_LEVEL: settings.logLevel,
      AIMESH_STAGE: task.stage.name,
      ...gangEnv(task),
    },
    resources: task.stage.resources,
    labels: {
      'aimesh.dev/execution': task.executionId,
      'aimesh.dev/stage': task.stage.name,
      'aimesh.dev/attempt': String(task.attempt),
    },
    nodeSelector: task.stage.nodeSelector ?? {},
    timeoutMs: task.stage.timeoutMs,
  };
}

/** A `command` stage on Kubernetes: its Job, followed to completion; a failed Job fails the attempt. */
async function runJob(
  task: ClaimedTask,
  runner: JobRunner,
  settings: KubernetesSettings,
  log: (line: string) => void,
  signal: AbortSignal,
): Promise<StageResult> {
  const spec = jobSpecOf(task, settings);
  await runner.run(spec, (phase, detail) => log(`job ${spec.name} ${phase}: ${detail}`), signal);
  return { output: { job: spec.name, namespace: spec.namespace }, metrics: {} };
}

/** A `command` stage: runs the executable with the stage's env; exit code 0 is success. */
function runCommand(
  task: ClaimedTask,
  log: (line: string) => void,
  signal: AbortSignal,
): Promise<StageResult> {
  const [command, ...args] = task.stage.params.command as string[];
  return new Promise((resolve, reject) => {
    const child = spawn(String(command), args.map(String), {
      env: {
        ...process.env,
        ...task.stage.env,
        EXPERIMENT_ID: task.executionId,
        AIMESH_EXECUTION_ID: task.executionId,
        AIMESH_STAGE: task.stage.name,
        ...gangEnv(task),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      signal,
    });
    const tail: string[] = [];
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        log(line);
        tail.push(line);
        if (tail.length > 5) tail.shift();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (error) => reject(signal.aborted ? signal.reason : error));
    child.on('close', (code, sig) => {
      if (code === 0) resolve({ output: { exitCode: 0 }, metrics: {} });
      else
        reject(
          new Error(
            `${command} exited with ${sig ? `signal ${sig}` : `code ${code}`}${tail.length ? `: ${tail.at(-1)}` : ''}`,
          ),
        );
    });
  });
}

/** What a gang member's command learns of its gang: its size, this member's rank, every worker by rank. */
export function gangEnv(task: ClaimedTask): Record<string, string> {
  if (!task.gang) return {};
  return {
    AIMESH_GANG_SIZE: String(task.gang.size),
    AIMESH_GANG_RANK: String(task.gang.rank),
    AIMESH_GANG_WORKERS: task.gang.workers.join(','),
  };
}

// A loss this many times its lowest so far, after this many epochs, counts as diverging.
const DIVERGENCE_FACTOR = 4;
const DIVERGENCE_MIN_EPOCHS = 3;

/** What is wrong with a training run's loss so far: not a number, or diverging; null when nothing. */
export function lossAnomaly(history: EpochMetrics[]): string | null {
  const last = history.at(-1);
  if (!last) return null;
  if (!Number.isFinite(last.loss)) return `loss is ${last.loss} at epoch ${last.epoch}`;
  if (history.length < DIVERGENCE_MIN_EPOCHS) return null;
  const lowest = Math.min(...history.map((h) => h.loss));
  return lowest > 0 && last.loss > lowest * DIVERGENCE_FACTOR
    ? `loss is diverging: ${last.loss.toFixed(4)} at epoch ${last.epoch}, ${DIVERGENCE_FACTOR}× above its lowest ${lowest.toFixed(4)}`
    : null;
}
